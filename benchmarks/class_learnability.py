"""How easily each class of a data set is learned, measured without any generative model: the
per-class test accuracy of a linear classifier (multinomial logistic regression) trained on a random
draw of the training split. Claim B5 splits the classes by how much a GAN copies them; the paper
finds the easily learned classes the most copied, so this ranking is the expectation B5's split is
read against (docs/claims.md).

    python benchmarks/class_learnability.py [--kind fashion_mnist] [--size 8] [--n-train 10000] [--data-root data]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from pipeline.data import registry

FASHION_NAMES = ["T-shirt/top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag",
                 "ankle boot"]


def per_class_accuracy(images: np.ndarray, labels: np.ndarray, split: np.ndarray, n_train: int,
                       seed: int = 0) -> np.ndarray:
    """Test accuracy per class (index: label) of a logistic regression on ``n_train`` random
    training images (pixels scaled to [0, 1])."""
    from sklearn.linear_model import LogisticRegression

    x = images.reshape(len(images), -1) / 255.0
    train = np.random.default_rng(seed).choice(np.flatnonzero(split == "train"), n_train, replace=False)
    test = split == "test"
    predicted = LogisticRegression(max_iter=2000).fit(x[train], labels[train]).predict(x[test])
    return np.array([(predicted[labels[test] == c] == c).mean() for c in range(labels.max() + 1)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kind", default="fashion_mnist")
    parser.add_argument("--size", type=int, default=8)
    parser.add_argument("--n-train", type=int, default=10000)
    parser.add_argument("--data-root", default="data")
    a = parser.parse_args()
    built = registry.build("learnability", {"kind": a.kind, "size": a.size}, Path(a.data_root))
    labels, split = built.table["label"].to_numpy(), built.table["split"].to_numpy()
    accuracy = per_class_accuracy(built.images, labels, split, a.n_train)
    names = FASHION_NAMES if a.kind == "fashion_mnist" else [str(c) for c in range(len(accuracy))]
    print(f"{a.kind} at {a.size}x{a.size}, logistic regression on {a.n_train} training images; "
          f"test accuracy {np.mean(accuracy):.3f} (mean over classes)")
    print("| label | class | test accuracy |\n| --- | --- | ---: |")
    for c in np.argsort(-accuracy):
        print(f"| {c} | {names[c]} | {accuracy[c]:.3f} |")
    easiest = sorted(np.argsort(-accuracy)[:len(accuracy) // 2].tolist())
    print(f"easiest half (expected lower half of B5): labels {easiest}")


if __name__ == "__main__":
    main()
