"""Compares writer-dependent scoring rules for the shipped signature model on the validation writers only (issue 13's
"writer-dependent scoring" and "score normalisation against the references" levers; issue 9's per-signer calibration).

    npx tsx models/training/signature-embeddings.ts ../shared/datasets      # embeddings through the production path
    /usr/bin/python3 models/training/compare_signature_scoring.py [--embeddings file]

Rules, each scoring a questioned embedding q against the writer's K = 5 reference embeddings R:
- normalised-mean (the card's rule): mean cos(q, R) minus the mean pairwise cos among R. Scoring each reference
  against its own leave-one-out similarity to the others gives exactly the same number, so it is not listed apart.
- cohort z-norm: mean cos(q, R) standardised by the distribution of mean cos(b, R) over a background set B.
- ratio: (mean cos(q, R) - mean cos(B, R)) / (mean pairwise cos among R - mean cos(B, R)): 1 = as close to the
  references as they are to each other, 0 = as close as other people's signatures are.
- writer-dependent classifier (Hafemann et al., 2017): a class-balanced L2 logistic regression per writer, the K
  references as positives and B as negatives, score = its decision function; C = inverse regularisation.
B = the genuine signatures of the training writers of both sets (the card's `split`), which could ship with a model.
The held-out test writers are not read: a rule that won here would be measured on them once, after being chosen.
Also prints a writer bootstrap of ratio minus normalised-mean, to show whether the validation writers can tell them apart.
"""

import argparse
import json
import os

import numpy as np

from train_signatures import REFERENCES_K, equal_error_rate, mean_pairwise_similarity, score

HERE = os.path.dirname(os.path.abspath(__file__))


def writer_dependent_classifier(references, background, c, iterations=500):
    """Full-batch gradient descent with the step 1/L (L bounds the gradient's Lipschitz constant): converges without tuning."""
    x = np.hstack([np.concatenate([references, background]), np.ones((len(references) + len(background), 1))])
    y = np.r_[np.ones(len(references)), np.zeros(len(background))]
    weight = np.where(y == 1, 0.5 / len(references), 0.5 / len(background))
    lipschitz = 0.25 * np.linalg.norm(x * np.sqrt(weight)[:, None], 2) ** 2 + 1 / c
    w = np.zeros(x.shape[1])
    for _ in range(iterations):
        p = 1 / (1 + np.exp(-(x @ w)))
        w -= (x.T @ ((p - y) * weight) + np.r_[w[:-1], 0] / c) / lipschitz
    return w


def rules(background):
    def cohort(references):
        return (references @ background.T).mean(axis=0)

    def z_norm(q, r):
        c = cohort(r)
        return ((q @ r.T).mean(axis=1) - c.mean()) / c.std()

    def ratio(q, r):
        c = cohort(r).mean()
        return ((q @ r.T).mean(axis=1) - c) / (mean_pairwise_similarity(r) - c)

    def classifier(c):
        def scored(q, r):
            w = writer_dependent_classifier(r, background, c)
            return q @ w[:-1] + w[-1]
        return scored

    table = {"normalised-mean": lambda q, r: score(q, r, "normalised-mean"), "cohort z-norm": z_norm, "ratio": ratio}
    table.update({f"classifier C={c}": classifier(c) for c in (1, 10, 100, 1000)})
    return table


def writer_scores(writers, data, scorer):
    """Per writer: (genuine scores, skilled scores, random-forgery scores), the product protocol."""
    out = {}
    for writer in writers:
        references = data[writer]["genuine"][:REFERENCES_K]
        others = np.concatenate([data[o]["genuine"] for o in writers if o != writer])
        out[writer] = (scorer(data[writer]["genuine"][REFERENCES_K:], references),
                       scorer(data[writer]["forged"], references), scorer(others, references))
    return out


def pooled_eer(per_writer, kind, writers):
    genuine = np.concatenate([per_writer[w][0] for w in writers])
    impostor = np.concatenate([per_writer[w][kind] for w in writers])
    return equal_error_rate(genuine, impostor)[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--embeddings", default=os.path.join(HERE, ".cache", "signature-embeddings.json"))
    parser.add_argument("--card", default=os.path.join(HERE, "..", "signatures.json"))
    args = parser.parse_args()
    with open(args.card) as f:
        split = json.load(f)["split"]
    with open(args.embeddings) as f:
        sets = {name: {w: {k: np.array(v, dtype=np.float64).reshape(len(v), -1) for k, v in kinds.items()}
                       for w, kinds in writers.items()}
                for name, writers in json.load(f)["sets"].items()}
    background = np.concatenate([sets[s][w]["genuine"] for s in sets for w in split[s]["train"]])
    print(f"background: {len(background)} genuine signatures of the training writers")
    per_rule = {}
    for name, scorer in rules(background).items():
        figures = []
        for s, data in sets.items():
            writers = [w for w in split[s]["validation"] if len(data[w]["genuine"]) > REFERENCES_K]
            per_writer = writer_scores(writers, data, scorer)
            per_rule.setdefault(name, {})[s] = (writers, per_writer)
            figures.append(f"{s} skilled {100 * pooled_eer(per_writer, 1, writers):5.2f}% random {100 * pooled_eer(per_writer, 2, writers):5.2f}%")
        print(f"{name:20s} " + "   ".join(figures), flush=True)
    generator = np.random.default_rng(20261202)
    for s in sets:
        writers, ratio = per_rule["ratio"][s]
        _, card_rule = per_rule["normalised-mean"][s]
        differences = []
        for _ in range(1000):
            sample = list(generator.choice(writers, len(writers)))
            differences.append(pooled_eer(ratio, 1, sample) - pooled_eer(card_rule, 1, sample))
        differences = 100 * np.array(differences)
        print(f"{s}: ratio minus normalised-mean, skilled EER over 1000 writer bootstraps: mean {differences.mean():+.2f} points, "
              f"90% interval [{np.percentile(differences, 5):+.2f}, {np.percentile(differences, 95):+.2f}], ratio lower in "
              f"{np.mean(differences < 0):.0%}")


if __name__ == "__main__":
    main()
