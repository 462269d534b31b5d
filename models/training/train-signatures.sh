#!/bin/sh
# Remakes the shipped signature model (3.0.0): two networks trained on the 'contain' inputs, two on the 'fill' inputs
# (models/README.md, "Signatures 3.0.0"), exported as one model that reads both fits as two channels.
#   sh models/training/train-signatures.sh [datasets folder, default ../shared/datasets]    # about 50 minutes on 2 cores
set -eu
DATA=${1:-../shared/datasets}
CACHE=models/training/.cache
npx tsx models/training/export-signatures.ts "$DATA" --cache "$CACHE" --fit contain
npx tsx models/training/export-signatures.ts "$DATA" --cache "$CACHE/fill" --fit fill
# Each call trains its members (two at once on 2 cores); neither exports.
/usr/bin/python3 models/training/train_signatures.py --data "$DATA" --cache "$CACHE" --checkpoints "$CACHE/signatures" --member 0 &
/usr/bin/python3 models/training/train_signatures.py --data "$DATA" --cache "$CACHE" --checkpoints "$CACHE/signatures" --member 1
wait $!
/usr/bin/python3 models/training/train_signatures.py --data "$DATA" --cache "$CACHE/fill" --checkpoints "$CACHE/signatures-fill" --member 0 &
/usr/bin/python3 models/training/train_signatures.py --data "$DATA" --cache "$CACHE/fill" --checkpoints "$CACHE/signatures-fill" --member 1
wait $!
/usr/bin/python3 models/training/train_signatures.py --data "$DATA" --export-only --checkpoints "$CACHE/signatures" \
  --pair-with "$CACHE/signatures-fill" --pair-cache "$CACHE/fill" --version 3.0.0 \
  --selection "Two networks of 2.0.0's recipe (fit contain) and two trained alike on fit fill, on the same 84 training writers, their embeddings side by side with equal weight. Chosen by a rule written down before any fused figure was computed: ship only if skilled + random EER summed over both sets on the 16 validation writers (10 Bengali + 6 Dutch) is below 2.0.0's 32.0. With 2.0.0's own networks as the contain half it is 27.9 (2.0.0 alone 32.0, the fill pair alone 39.7). 2.0.0's networks could not be remade bit for bit on the CPU this was built on (an Intel Xeon; 2.0.0 was trained on an AMD EPYC), so the shipped contain half is 2.0.0's recipe and seeds retrained here, which this script remakes; with it the sum is 27.1. The idea came from the validation writers (fill better on Bengali skilled forgeries, contain on random ones) and from the held-out figures of both halves, which had been measured before; the fused model's held-out figures were measured once, after the decision. Checked after the decision on 20 + 20 validation writers (issue 13's size), with pairs trained on the 20 + 20 split: contain + fill 27.6 against 31.7 for the fill pair and 35.5 for the contain pair alone. Other candidates: models/README.md, Toward 3.0.0."
