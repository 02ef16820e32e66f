"""2-D projections of embeddings (PCA and t-SNE), stratified sampling and projection keys.

Plain arrays in and out, usable from a notebook: `project(X, "tsne", perplexity=30)`
returns an (n, 2) float32 layout. Parameters are validated at the door with a message
naming the parameter and its allowed range. Progress is reported through a callback
argument `progress(fraction, message, layout_or_None)`, never through Dash, so the
dashboard can show t-SNE's layout while it optimises. Torch-free.

t-SNE is openTSNE's: PCA pre-reduction (~50 dims), PCA initialisation, exact nearest
neighbours by brute force (BLAS; the fit never exceeds FIT_POINTS points, and at 20k x 50
this took 1.4 s against Annoy's 3.9 s), FFT-interpolated gradients from 5,000 points up
with two integers per grid cell (FFT_INTS_IN_INTERVAL), learning rate N/12 (Belkina et al.
2019), 250 early-exaggeration iterations.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Callable

import numpy as np

METHODS = ("tsne", "pca")
METHOD_LABELS = {"tsne": "t-SNE", "pca": "PCA"}

# name: (default, low, high, kind). Bounds are inclusive.
PARAMETERS: dict[str, tuple] = {
    "perplexity": (30.0, 2.0, 200.0, float),
    "n_iter": (750, 250, 5000, int),
    "pca_dims": (50, 2, 512, int),
    "standardize": (False, None, None, bool),
    "max_points": (20_000, 100, 500_000, int),
    "seed": (0, 0, 2**31 - 1, int),
}
# Which parameters change the result of each method (and so belong in its key).
METHOD_PARAMETERS = {
    "tsne": ("perplexity", "n_iter", "pca_dims", "standardize", "max_points", "seed"),
    "pca": ("standardize", "max_points", "seed"),
}
EARLY_EXAGGERATION = 12.0
# Above this many points t-SNE is fitted on a (stratified) subset and the rest are placed
# with `transform`: 100k points then take about as long as 25k (see BENCHMARKS.md).
FIT_POINTS = 25_000
EARLY_EXAGGERATION_ITER = 250
# PCA (the layout and t-SNE's pre-reduction) is fitted on at most this many random rows.
PCA_FIT_ROWS = 20_000
# openTSNE's FFT grid: cells two units wide instead of one. At 20k points, 750 iterations took
# 8.5 s instead of 10.5 s, KL divergence 2.700 vs 2.689, same trustworthiness (BENCHMARKS.md).
FFT_INTS_IN_INTERVAL = 2
# Bump when a change to this module changes layouts, so saved layouts are not reused.
LAYOUT_VERSION = "4"

Progress = Callable[[float, str, "np.ndarray | None"], object]


def _no_progress(fraction: float, message: str, layout: np.ndarray | None = None) -> None:
    return None


def preload() -> None:
    """Import scikit-learn's PCA and openTSNE now (a second or two), so that a projection
    started later, e.g. in a process forked from a web server, shows its first layout at once."""
    import openTSNE.affinity  # noqa: F401
    import sklearn.decomposition  # noqa: F401


def check_method(method: str) -> str:
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    return method


def check_params(method: str, **params) -> dict:
    """The method's parameters with defaults filled in, converted and range-checked.

    Raises ValueError naming the parameter and its allowed range; unknown names too.
    """
    check_method(method)
    unknown = sorted(set(params) - set(PARAMETERS))
    if unknown:
        raise ValueError(f"unknown projection parameter(s) {', '.join(unknown)}; known: {', '.join(PARAMETERS)}")
    checked = {}
    for name in METHOD_PARAMETERS[method]:
        default, low, high, kind = PARAMETERS[name]
        value = params.get(name)
        if value is None or value == "":
            value = default
        if kind is bool:
            if not isinstance(value, (bool, np.bool_)) and value not in (0, 1):
                raise ValueError(f"{name} must be true or false, got {value!r}")
            checked[name] = bool(value)
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be a number in [{low}, {high}], got {value!r}") from None
        if not math.isfinite(number) or not (low <= number <= high):
            raise ValueError(f"{name} must lie in [{low}, {high}], got {value!r}")
        if kind is int:
            if number != int(number):
                raise ValueError(f"{name} must be a whole number in [{low}, {high}], got {value!r}")
            checked[name] = int(number)
        else:
            checked[name] = float(number)
    return checked


def _check_matrix(X) -> np.ndarray:
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 2:
        raise ValueError(f"X must be a 2-D array (n_samples, n_features), got shape {X.shape}")
    if X.shape[0] < 3:
        raise ValueError(f"X must hold at least 3 samples to project, got {X.shape[0]}")
    if not np.isfinite(X).all():
        raise ValueError("X holds NaN or infinite values; drop those samples first")
    return X


def _standardize(X: np.ndarray) -> np.ndarray:
    std = X.std(axis=0)
    std[std == 0] = 1.0
    return (X - X.mean(axis=0)) / std


def _pca(X: np.ndarray, n_components: int, random_state: int, fit_rows: int | None = None) -> np.ndarray:
    """X projected on its first principal components, float32.

    Above `fit_rows` (default PCA_FIT_ROWS) rows the components are fitted on a random
    subset of that many rows and every row is projected: at 100k x 768 this takes 0.5 s
    instead of 5 s, and the components differ by sampling noise only."""
    from sklearn.decomposition import PCA

    fit_rows = PCA_FIT_ROWS if fit_rows is None else fit_rows
    n_components = max(1, min(n_components, X.shape[1], X.shape[0] - 1))
    sample = X
    if X.shape[0] > fit_rows:
        rows = np.sort(np.random.default_rng(random_state).choice(X.shape[0], size=fit_rows, replace=False))
        sample = X[rows]
    rows, dims = sample.shape
    if dims <= 1024 and rows >= 2 * dims:
        solver = "covariance_eigh"  # exact, from the d x d covariance: 0.25 s for 20k x 768
    elif min(rows, dims) > 4 * n_components and rows > 2000:
        solver = "randomized"
    else:
        solver = "full"
    pca = PCA(n_components=n_components, svd_solver=solver, random_state=random_state).fit(sample)
    result = pca.transform(X)
    if result.shape[1] == 1:  # one feature: lay the points on a line
        result = np.column_stack([result[:, 0], np.zeros(len(result))])
    return result.astype(np.float32)


def pca_layout(X, *, standardize: bool = False, random_state: int = 0, progress: Progress | None = None) -> np.ndarray:
    """The first two principal components of X (n, d) -> (n, 2) float32."""
    X = _check_matrix(X)
    progress = progress or _no_progress
    if standardize:
        X = _standardize(X)
    layout = _pca(X, 2, random_state)
    progress(1.0, "PCA done", layout)
    return layout


def tsne_layout(
    X,
    *,
    perplexity: float = 30.0,
    n_iter: int = 750,
    pca_dims: int = 50,
    standardize: bool = False,
    random_state: int = 0,
    n_jobs: int = -1,
    progress: Progress | None = None,
    progress_every: int = 25,
    fit_points: int = FIT_POINTS,
    strata=None,
    _return_embedding: bool = False,
) -> np.ndarray:
    """t-SNE of X (n, d) -> (n, 2) float32, reporting its layout every `progress_every` iterations.

    The first report (fraction ~0.05) is the PCA layout, so a caller can show points at once.
    Above `fit_points` rows, t-SNE is fitted on `fit_points` of them (`fit_subset`) and the rest
    are placed into that map with openTSNE's `transform` (their neighbours among the fitted
    points), which keeps 100k points within minutes on a laptop. With `strata` (one label
    per row, e.g. "dataset|label") that subset is stratified, so a small source is fitted
    in proportion (at least one point) rather than by chance.
    `n_iter` counts all iterations, the 250 of early exaggeration included (as scikit-learn's
    `max_iter`). `perplexity` must be below (n - 1) / 3.
    """
    X = _check_matrix(X)
    check_params("tsne", perplexity=perplexity, n_iter=n_iter, pca_dims=pca_dims, standardize=standardize,
                 seed=random_state)
    n = X.shape[0]
    if perplexity * 3 > n - 1:
        raise ValueError(
            f"perplexity must be at most (n_samples - 1) / 3 = {(n - 1) / 3:.1f} for {n} points, got {perplexity}; "
            "lower it or include more points"
        )
    progress = progress or _no_progress
    if standardize:
        X = _standardize(X)
    if X.shape[1] > pca_dims:
        reduced = _pca(X, pca_dims, random_state)
        initial = reduced[:, :2].copy()  # principal components come sorted: the first two are the PCA layout
    else:
        reduced = X
        initial = _pca(reduced, 2, random_state) if reduced.shape[1] > 2 else reduced.copy()
    progress(0.02, "PCA layout (t-SNE starting)", initial)
    # imported after the first report: the import alone takes a second or two
    from openTSNE import TSNEEmbedding
    from openTSNE.affinity import PerplexityBasedNN
    from openTSNE.initialization import rescale

    if n > fit_points:
        fitted = fit_subset(n, fit_points, random_state, strata)
        return _fit_then_transform(reduced, initial, fitted, perplexity, n_iter, random_state, n_jobs,
                                   progress, progress_every)

    affinities = PerplexityBasedNN(
        reduced, perplexity=perplexity, method="exact", knn_kwargs={"algorithm": "brute"},
        n_jobs=n_jobs, random_state=random_state, verbose=False,
    )
    progress(0.1, "nearest neighbours done", None)

    ee_iter = min(EARLY_EXAGGERATION_ITER, n_iter // 3)
    done = {"iter": 0}

    def report(iteration: int, error: float, embedding: np.ndarray) -> bool:
        step = done["iter"] + iteration
        progress(0.1 + 0.9 * step / n_iter, f"t-SNE iteration {step}/{n_iter}", np.asarray(embedding, np.float32))
        return False

    learning_rate = max(n / EARLY_EXAGGERATION, 50.0)
    embedding = TSNEEmbedding(
        rescale(initial.astype(np.float64)), affinities,
        negative_gradient_method="fft" if n >= 5000 else "bh", ints_in_interval=FFT_INTS_IN_INTERVAL,
        n_jobs=n_jobs, random_state=random_state,
    )
    common = dict(learning_rate=learning_rate, inplace=True, callbacks=report, callbacks_every_iters=progress_every)
    embedding.optimize(n_iter=ee_iter, exaggeration=EARLY_EXAGGERATION, momentum=0.5, **common)
    done["iter"] = ee_iter
    embedding.optimize(n_iter=n_iter - ee_iter, exaggeration=None, momentum=0.8, **common)
    layout = np.asarray(embedding, dtype=np.float32)
    progress(1.0, "t-SNE done", layout)
    return embedding if _return_embedding else layout


def fit_subset(n: int, fit_points: int, random_state: int, strata=None) -> np.ndarray:
    """Sorted indices of the rows t-SNE is fitted on when there are more than `fit_points`:
    stratified by `strata` when given (see `stratified_sample`), else uniformly at random."""
    if strata is not None:
        strata = np.asarray(strata)
        if strata.shape != (n,):
            raise ValueError(f"strata must hold one label per row ({n}), got shape {strata.shape}")
        return stratified_sample(strata, fit_points, random_state)
    rng = np.random.default_rng(random_state)
    return np.sort(rng.choice(n, size=min(fit_points, n), replace=False))


def _fit_then_transform(reduced, initial, fitted, perplexity, n_iter, random_state, n_jobs, progress,
                        progress_every) -> np.ndarray:
    """Fit on the rows `fitted`, then place the other points with openTSNE's transform."""
    n, fit_points = reduced.shape[0], len(fitted)
    rest = np.setdiff1d(np.arange(n), fitted)
    layout = initial.astype(np.float32).copy()
    scale = None

    def fit_progress(fraction, message, embedding):
        if embedding is not None:
            nonlocal scale
            layout[fitted] = embedding
            if scale is None or message.endswith("done"):
                # show the not-yet-placed points at their PCA spots, scaled to the t-SNE map
                scale = np.std(embedding, axis=0) / (np.std(initial[fitted], axis=0) + 1e-12)
            layout[rest] = initial[rest] * scale
            embedding = layout
        progress(0.85 * fraction, f"{message} (fitting {fit_points} of {n} points)", embedding)

    embedding = tsne_layout(reduced[fitted], perplexity=perplexity, n_iter=n_iter, pca_dims=reduced.shape[1],
                            random_state=random_state, n_jobs=n_jobs, progress=fit_progress,
                            progress_every=progress_every, fit_points=fit_points, _return_embedding=True)
    progress(0.87, f"placing the other {len(rest)} points", None)
    placed = embedding.transform(reduced[rest], n_iter=100)
    layout[fitted] = np.asarray(embedding, np.float32)
    layout[rest] = np.asarray(placed, np.float32)
    progress(1.0, "t-SNE done", layout)
    return layout


def project(X, method: str, *, progress: Progress | None = None, n_jobs: int = -1, strata=None,
            **params) -> np.ndarray:
    """Dispatch to pca_layout or tsne_layout with checked parameters (max_points is ignored here;
    `strata` stratifies t-SNE's fitted subset above FIT_POINTS rows)."""
    checked = check_params(method, **params)
    if method == "pca":
        return pca_layout(X, standardize=checked["standardize"], random_state=checked["seed"], progress=progress)
    return tsne_layout(
        X, perplexity=checked["perplexity"], n_iter=checked["n_iter"], pca_dims=checked["pca_dims"],
        standardize=checked["standardize"], random_state=checked["seed"], n_jobs=n_jobs, progress=progress,
        strata=strata,
    )


def stratified_sample(strata, max_points: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of at most `max_points` rows, each stratum kept in proportion.

    `strata` is a 1-D array of stratum labels (e.g. "dataset|label"). Quotas follow the
    largest-remainder method, so every stratum gets floor or ceil of its share, and a
    stratum with any rows keeps at least one while the budget allows. All rows when they fit.
    """
    strata = np.asarray(strata)
    if strata.ndim != 1:
        raise ValueError(f"strata must be 1-D, got shape {strata.shape}")
    if int(max_points) < 1:
        raise ValueError(f"max_points must be at least 1, got {max_points}")
    n = strata.size
    if n <= max_points:
        return np.arange(n)
    names, codes, sizes = np.unique(strata, return_inverse=True, return_counts=True)
    share = sizes * (max_points / n)
    quota = np.floor(share).astype(np.int64)
    # Keep small strata visible: at least one row each while the budget allows.
    if (sizes > 0).sum() <= max_points:
        quota = np.maximum(quota, 1)
    remainder = max_points - quota.sum()
    if remainder > 0:
        order = np.argsort(-(share - np.floor(share)), kind="stable")
        for i in order[:remainder]:
            quota[i] += 1
    while quota.sum() > max_points:  # minimum-one bumps overshot: take back from the largest
        quota[int(np.argmax(quota))] -= 1
    rng = np.random.default_rng(seed)
    chosen = []
    for code, take in enumerate(quota):
        members = np.flatnonzero(codes == code)
        chosen.append(rng.choice(members, size=min(int(take), members.size), replace=False))
    return np.sort(np.concatenate(chosen))


def projection_key(manifest_hash: str, datasets, method: str, params: dict) -> str:
    """A file-name-safe key for one layout: method plus a hash of everything that shapes it."""
    checked = check_params(method, **params)
    payload = {
        "version": LAYOUT_VERSION,
        "hash": str(manifest_hash),
        "datasets": sorted(datasets),
        "method": method,
        "params": checked,
    }
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]
    return f"{method}-{digest}"
