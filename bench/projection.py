"""Benchmark: fakescope's t-SNE (pipeline.projection) against scikit-learn's, in the same run.

    python bench/projection.py [--n 20000] [--dim 768] [--skip-sklearn] [--trust-sample 4000]

- ours: `pipeline.projection.tsne_layout` (openTSNE: PCA to 50 dims, PCA init, exact
  neighbours, FFT gradients, learning rate N/12), 750 iterations;
- baseline: `sklearn.manifold.TSNE(random_state=42)` on the same matrix (its defaults);
- quality: `sklearn.manifold.trustworthiness` (10 neighbours) of both layouts on the same
  random subset of points.

Data: a mixture of 24 anisotropic Gaussian clusters in `dim` dimensions (embeddings of
detector checkpoints look like that: a few tight groups per source and label).
Also prints the seconds until the first layout (the PCA one) was reported and the peak
resident memory. Prints a table, then one JSON line last. Never passes or fails on time.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.projection import tsne_layout  # noqa: E402


def make_data(n: int, dim: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    k = 24
    centres = rng.normal(0, 1.0, size=(k, dim)).astype(np.float32)
    scales = rng.uniform(0.2, 0.6, size=(k, dim)).astype(np.float32)
    labels = rng.integers(0, k, size=n)
    X = centres[labels] + rng.normal(0, 1, size=(n, dim)).astype(np.float32) * scales[labels]
    return X.astype(np.float32), labels


def knn_preservation(Y, labels, idx, k: int = 10) -> float:
    """Share of each point's k nearest 2-D neighbours that carry its label (cluster)."""
    from sklearn.neighbors import NearestNeighbors

    neighbours = NearestNeighbors(n_neighbors=k + 1).fit(Y[idx]).kneighbors(return_distance=False)[:, 1:]
    return float((labels[idx][neighbours] == labels[idx][:, None]).mean())


def trust(X, Y, idx) -> float:
    from sklearn.manifold import trustworthiness

    return float(trustworthiness(X[idx], Y[idx], n_neighbors=10))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--skip-sklearn", action="store_true")
    parser.add_argument("--trust-sample", type=int, default=4000)
    args = parser.parse_args()

    X, labels = make_data(args.n, args.dim)
    idx = np.random.default_rng(1).choice(args.n, size=min(args.trust_sample, args.n), replace=False)
    result = {"n": args.n, "dim": args.dim}

    first = {}
    started = time.perf_counter()

    def progress(fraction, message, layout):
        if layout is not None and "first_layout_s" not in first:
            first["first_layout_s"] = time.perf_counter() - started

    # as the dashboard calls it: strata (there dataset x label; here the clusters) for the fitted subset
    Y = tsne_layout(X, random_state=0, progress=progress, strata=labels)
    result["ours_s"] = time.perf_counter() - started
    result["ours_first_layout_s"] = first.get("first_layout_s")
    result["trustworthiness_ours"] = trust(X, Y, idx)
    result["knn_label_preservation_ours"] = knn_preservation(Y, labels, idx)
    result["peak_rss_gib_after_ours"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"ours     {result['ours_s']:8.1f} s  trust {result['trustworthiness_ours']:.4f}  kNN labels {result['knn_label_preservation_ours']:.3f}  "
          f"first layout after {result['ours_first_layout_s']:.2f} s  peak RSS {result['peak_rss_gib_after_ours']:.2f} GiB",
          flush=True)

    from pipeline.projection import project

    started = time.perf_counter()
    Y_pca = project(X, "pca")
    result["pca_s"] = time.perf_counter() - started
    result["trustworthiness_pca"] = trust(X, Y_pca, idx)
    print(f"pca      {result['pca_s']:8.1f} s  trust {result['trustworthiness_pca']:.4f}", flush=True)

    if not args.skip_sklearn:
        from sklearn.manifold import TSNE

        started = time.perf_counter()
        Y_sk = TSNE(random_state=42).fit_transform(X)
        result["sklearn_s"] = time.perf_counter() - started
        result["trustworthiness_sklearn"] = trust(X, Y_sk, idx)
        result["knn_label_preservation_sklearn"] = knn_preservation(Y_sk, labels, idx)
        result["speedup"] = result["sklearn_s"] / result["ours_s"]
        result["trust_diff"] = result["trustworthiness_ours"] - result["trustworthiness_sklearn"]
        print(f"sklearn  {result['sklearn_s']:8.1f} s  trust {result['trustworthiness_sklearn']:.4f}  "
              f"kNN labels {result['knn_label_preservation_sklearn']:.3f}")
        print(f"speed-up {result['speedup']:.1f}x   trustworthiness difference {result['trust_diff']:+.4f}")
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in result.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
