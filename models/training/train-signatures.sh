#!/bin/sh
# Remakes the shipped signature model (3.1.0): two networks trained on the 'contain' inputs, two on the 'fill' inputs,
# 16 writers per batch (models/README.md, "Signatures 3.0.0" and "3.1.0"), exported as one model that reads both fits
# as two channels.
#   sh models/training/train-signatures.sh [datasets folder, default ../shared/datasets]    # about 50 minutes on 2 cores
set -eu
DATA=${1:-../shared/datasets}
CACHE=models/training/.cache
# The recipe all four networks share; each call adds its cache, checkpoints and member.
train() { /usr/bin/python3 models/training/train_signatures.py --data "$DATA" --writers-per-batch 16 "$@"; }
npx tsx models/training/export-signatures.ts "$DATA" --cache "$CACHE" --fit contain
npx tsx models/training/export-signatures.ts "$DATA" --cache "$CACHE/fill" --fit fill
# Each call trains its members (two at once on 2 cores); neither exports.
train --cache "$CACHE" --checkpoints "$CACHE/signatures" --member 0 &
train --cache "$CACHE" --checkpoints "$CACHE/signatures" --member 1
wait $!
train --cache "$CACHE/fill" --checkpoints "$CACHE/signatures-fill" --member 0 &
train --cache "$CACHE/fill" --checkpoints "$CACHE/signatures-fill" --member 1
wait $!
/usr/bin/python3 models/training/train_signatures.py --data "$DATA" --export-only --checkpoints "$CACHE/signatures" \
  --pair-with "$CACHE/signatures-fill" --pair-cache "$CACHE/fill" --version 3.1.0 \
  --selection "3.0.0's recipe (two networks on fit contain, two on fit fill, the same 84 training writers, seeds and 800 steps, embeddings side by side with equal weight) with 16 writers per batch instead of 8 for all four networks. Hard negatives across writers were measured first on the 20 + 20 split (one fill network, 40 validation writers, a rule written before the runs): skilled + random EER summed over both sets 34.4 -> 28.7, every figure lower. The retrain was shipped by a rule written down before it started: only if the same sum on the 16 validation writers (10 Bengali + 6 Dutch, which none of its networks trained on) is below 3.0.0's 27.1; the held-out writers were measured by the same export and not used to decide. 3.0.0 was chosen as the fusion of both fits by the same kind of rule (27.1 against 2.0.0's 32.0; checked on 20 + 20 writers: contain + fill 27.6 against 31.7 fill and 35.5 contain). Other candidates: models/README.md."
