"""A lexical head (TF-IDF + logistic regression) and gradient boosting, blended into the kept heads::

    HF_HUB_OFFLINE=1 .venv/bin/python training/experiments/lexical_and_boosted_heads.py \
        [--boosting] [DATA_SET ...]

Two levers of ../shared/notes/routing-evidence.md not yet measured: the task or domain signal in
the prompt's words, which a sentence embedding may blur (a TF-IDF logistic regression per model),
and gradient boosting on the embeddings (scikit-learn's HistGradientBoostingClassifier per model).
Each extra head's P(pass) and expected score are mixed into the kept blend with weight ``a``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import scipy.sparse as sp
from harness import THRESHOLD, figures_with, fmt, inner_split, load_split
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from router_ml.routing.heads import PassProbabilityModel
from router_ml.routing.policy import Policy

WEIGHTS = (0.15, 0.3, 0.5)


def lexical(train_texts, test_texts, passes, scores, C: float) -> tuple[np.ndarray, np.ndarray]:
    """P(pass) and expected score per model from word 1-2-gram TF-IDF logistic regressions."""
    vectorizer = TfidfVectorizer(
        ngram_range=(1, 2), min_df=2, sublinear_tf=True, max_features=50000
    )
    A, B = vectorizer.fit_transform(train_texts), vectorizer.transform(test_texts)
    return _per_model(lambda: LogisticRegression(C=C, max_iter=2000), A, B, passes, scores)


def boosted(X_train, X_test, passes, scores) -> tuple[np.ndarray, np.ndarray]:
    """P(pass) and expected score per model from histogram gradient boosting on the embeddings."""

    def make():
        return HistGradientBoostingClassifier(
            max_iter=100,
            learning_rate=0.1,
            max_leaf_nodes=15,
            early_stopping=True,
            validation_fraction=0.15,
            random_state=0,
        )

    return _per_model(make, X_train, X_test, passes, scores)


def _per_model(make, A, B, passes, scores) -> tuple[np.ndarray, np.ndarray]:
    """Fit ``make()`` per model on rows ``A`` and predict rows ``B``; graded scores as soft labels."""
    proba = np.empty((B.shape[0], passes.shape[1]))
    expected = np.empty_like(proba)
    graded = not np.array_equal(scores, passes)
    for m in range(passes.shape[1]):
        y = passes[:, m]
        proba[:, m] = make().fit(A, y).predict_proba(B)[:, 1] if 0 < y.mean() < 1 else y.mean()
        if graded:
            rows = sp.vstack([A, A]).tocsr() if sp.issparse(A) else np.vstack([A, A])
            labels = np.r_[np.ones(len(y)), np.zeros(len(y))]
            weights = np.r_[scores[:, m], 1.0 - scores[:, m]]
            keep = weights > 0
            clf = make().fit(rows[keep], labels[keep], sample_weight=weights[keep])
            expected[:, m] = clf.predict_proba(B)[:, 1]
        else:
            expected[:, m] = proba[:, m]
    return proba, expected


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boosting", action="store_true", help="also fit gradient boosting (slow)")
    parser.add_argument("names", nargs="*", default=["llmrouter_dc", "mmlu_pro"])
    args = parser.parse_args()
    for name in args.names:
        evaluation = load_split(name)
        for side, split in (("val", inner_split(evaluation)), ("test", evaluation)):
            policy = Policy("utility", float(np.median(split.train.costs.max(axis=1))))
            passes = split.train.passes(THRESHOLD).astype(np.int64)
            scores = split.train.scores.astype(np.float64)
            kept = PassProbabilityModel().fit(split.X_train, passes, scores)
            proba, expected = kept.predict_proba_and_score(split.X_test)
            print(
                f"{name:13s} {side:4s} kept          {fmt(figures_with(proba, split.test, policy, expected))}",
                flush=True,
            )
            for C in (1.0, 4.0):
                t = time.perf_counter()
                extra = lexical(split.train.prompts, split.test.prompts, passes, scores, C)
                print(f"  fit tfidf C={C:g} {time.perf_counter() - t:.1f}s", flush=True)
                show(f"{name:13s} {side:4s} tfidf C={C:g}", proba, expected, extra, split, policy)
            if not args.boosting:
                continue
            t = time.perf_counter()
            extra = boosted(split.X_train, split.X_test, passes, scores)
            print(f"  fit hgb {time.perf_counter() - t:.1f}s", flush=True)
            show(f"{name:13s} {side:4s} hgb", proba, expected, extra, split, policy)


def show(label, proba, expected, extra, split, policy) -> None:
    """Figures of the extra head alone and mixed into the kept blend at each weight."""
    p2, e2 = extra
    print(f"{label} alone {fmt(figures_with(p2, split.test, policy, e2))}", flush=True)
    for a in WEIGHTS:
        mixed = figures_with(
            (1 - a) * proba + a * p2, split.test, policy, (1 - a) * expected + a * e2
        )
        print(f"{label} a={a:.2f} {fmt(mixed)}", flush=True)


if __name__ == "__main__":
    main()
