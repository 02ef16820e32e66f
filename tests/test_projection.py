"""pipeline.projection: parameter checks, PCA and t-SNE layouts, sampling, keys."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.manifold import trustworthiness

from pipeline import projection
from pipeline.projection import (check_params, pca_layout, project, projection_key, stratified_sample,
                                 tsne_layout)


def blobs(n=600, d=40, k=4, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 6, size=(k, d))
    labels = rng.integers(0, k, n)
    return (centres[labels] + rng.normal(size=(n, d))).astype(np.float32), labels


def test_check_params_fills_defaults_and_converts():
    params = check_params("tsne", perplexity="12", n_iter=300.0)
    assert params == {"perplexity": 12.0, "n_iter": 300, "pca_dims": 50, "standardize": False,
                      "max_points": 20_000, "seed": 0}
    assert check_params("pca") == {"standardize": False, "max_points": 20_000, "seed": 0}


@pytest.mark.parametrize("name, value, words", [
    ("perplexity", 1, ["perplexity", "[2.0, 200.0]"]),
    ("perplexity", "lots", ["perplexity", "number"]),
    ("n_iter", 100, ["n_iter", "[250, 5000]"]),
    ("n_iter", 300.5, ["n_iter", "whole"]),
    ("pca_dims", 1000, ["pca_dims", "[2, 512]"]),
    ("max_points", 5, ["max_points", "[100, 500000]"]),
    ("seed", -1, ["seed"]),
    ("perplexity", float("nan"), ["perplexity"]),
])
def test_check_params_names_parameter_and_range(name, value, words):
    with pytest.raises(ValueError) as info:
        check_params("tsne", **{name: value})
    for word in words:
        assert word in str(info.value)


def test_unknown_method_and_parameter_are_refused():
    with pytest.raises(ValueError, match="method must be one of"):
        check_params("umap")
    with pytest.raises(ValueError, match="unknown projection parameter"):
        check_params("pca", perplexityy=3)


def test_pca_layout_matches_sklearn_up_to_sign():
    X, _ = blobs()
    layout = pca_layout(X)
    expected = PCA(n_components=2).fit_transform(X)
    assert layout.shape == (600, 2) and layout.dtype == np.float32
    for j in range(2):
        sign = np.sign(np.dot(layout[:, j], expected[:, j]))
        np.testing.assert_allclose(layout[:, j] * sign, expected[:, j], rtol=1e-3, atol=1e-3)


def test_pca_standardize_is_pca_of_z_scores():
    X, _ = blobs()
    X[:, 0] = X[:, 0] * 1000 + np.random.default_rng(5).normal(0, 5000, len(X))
    plain, scaled = pca_layout(X), pca_layout(X, standardize=True)
    # without standardising, the huge noisy feature is the first component
    assert abs(np.corrcoef(plain[:, 0], X[:, 0])[0, 1]) > 0.99
    z = (X - X.mean(0)) / X.std(0)
    expected = PCA(n_components=2).fit_transform(z)
    for j in range(2):
        assert abs(np.corrcoef(scaled[:, j], expected[:, j])[0, 1]) > 0.999
    assert abs(np.corrcoef(scaled[:, 0], X[:, 0])[0, 1]) < 0.9


def test_tsne_separates_clusters_and_reports_layouts_while_optimising():
    X, labels = blobs(n=500, d=60)
    reports = []
    layout = tsne_layout(X, perplexity=20, n_iter=300, random_state=1,
                         progress=lambda f, m, l: reports.append((f, m, None if l is None else l.copy())))
    assert layout.shape == (500, 2) and np.isfinite(layout).all()
    fractions = [f for f, _, _ in reports]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    with_layout = [l for _, _, l in reports if l is not None]
    # the PCA layout first, then several iterations' layouts, each of all points
    assert len(with_layout) >= 1 + 300 // 25
    assert all(l.shape == (500, 2) for l in with_layout)
    assert not np.allclose(with_layout[1], with_layout[-1])
    np.testing.assert_allclose(with_layout[-1], layout)
    # clusters in, clusters out: nearest neighbour in the layout has the same blob label
    d = ((layout[:, None, :] - layout[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    assert (labels[d.argmin(1)] == labels).mean() > 0.98
    assert trustworthiness(X, layout, n_neighbors=10) > 0.9


def test_tsne_is_deterministic_for_a_seed():
    X, _ = blobs(n=300, d=20)
    a = project(X, "tsne", perplexity=15, n_iter=250, seed=3, n_jobs=1)
    b = project(X, "tsne", perplexity=15, n_iter=250, seed=3, n_jobs=1)
    np.testing.assert_allclose(a, b)


def test_tsne_refuses_perplexity_too_large_for_the_points():
    X, _ = blobs(n=60, d=10)
    with pytest.raises(ValueError, match=r"perplexity must be at most \(n_samples - 1\) / 3 = 19.7"):
        tsne_layout(X, perplexity=30, n_iter=250)


@pytest.mark.parametrize("bad, message", [
    (np.zeros((5,)), "2-D"), (np.zeros((2, 3)), "at least 3"), (np.array([[np.nan, 1], [1, 2], [3, 4]]), "NaN"),
])
def test_bad_matrices_are_refused(bad, message):
    with pytest.raises(ValueError, match=message):
        pca_layout(bad)


def test_stratified_sample_keeps_proportions_and_small_strata():
    strata = np.array(["a|0"] * 700 + ["a|1"] * 200 + ["b|0"] * 97 + ["b|1"] * 3)
    idx = stratified_sample(strata, 100, seed=0)
    assert len(idx) == 100 and len(np.unique(idx)) == 100 and (np.diff(idx) > 0).all()
    names, counts = np.unique(strata[idx], return_counts=True)
    got = dict(zip(names, counts))
    assert got["a|0"] in (69, 70) and got["a|1"] == 20 and got["b|0"] in (9, 10) and got["b|1"] == 1
    np.testing.assert_array_equal(idx, stratified_sample(strata, 100, seed=0))
    assert not np.array_equal(idx, stratified_sample(strata, 100, seed=1))
    np.testing.assert_array_equal(stratified_sample(strata, 5000), np.arange(1000))


def test_projection_key_changes_with_every_input_and_is_file_safe():
    base = dict(manifest_hash="abc", datasets=["b", "a"], method="tsne", params={"perplexity": 30})
    key = projection_key(**base)
    assert key.startswith("tsne-") and key.replace("-", "").isalnum()
    assert projection_key("abc", ["a", "b"], "tsne", {"perplexity": 30.0}) == key  # order, type of equal values
    assert projection_key("abd", ["a", "b"], "tsne", {"perplexity": 30}) != key
    assert projection_key("abc", ["a"], "tsne", {"perplexity": 30}) != key
    assert projection_key("abc", ["a", "b"], "tsne", {"perplexity": 31}) != key
    assert projection_key("abc", ["a", "b"], "pca", {}) != key
    # parameters a method ignores do not split its key
    assert projection_key("abc", ["a"], "pca", {}) == projection_key("abc", ["a"], "pca", {"perplexity": 5})


def test_projection_module_is_torch_free():
    import subprocess
    import sys

    code = ("import sys, pipeline.projection, dashboard.app, dashboard.callbacks; "
            "bad = [m for m in ('torch', 'transformers') if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], cwd=projection.__file__.rsplit("/pipeline/", 1)[0],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_large_inputs_are_fitted_on_a_subset_and_the_rest_placed():
    from sklearn.manifold import trustworthiness

    from pipeline.projection import tsne_layout

    rng = np.random.default_rng(0)
    centres = rng.normal(0, 4, size=(6, 20))
    labels = rng.integers(0, 6, size=1500)
    X = (centres[labels] + rng.normal(0, 1, size=(1500, 20))).astype(np.float32)
    shapes = []
    layout = tsne_layout(X, perplexity=20, n_iter=300, fit_points=600,
                         progress=lambda f, m, l: shapes.append(None if l is None else l.shape))
    assert layout.shape == (1500, 2) and np.isfinite(layout).all()
    assert all(s == (1500, 2) for s in shapes if s is not None)  # every interim layout shows every point
    assert trustworthiness(X, layout, n_neighbors=10) > 0.9
    # the placed points land beside their own cluster: nearest fitted neighbour shares the label
    from sklearn.neighbors import KNeighborsClassifier

    fitted = np.sort(np.random.default_rng(0).choice(1500, size=600, replace=False))
    rest = np.setdiff1d(np.arange(1500), fitted)
    knn = KNeighborsClassifier(5).fit(layout[fitted], labels[fitted])
    assert knn.score(layout[rest], labels[rest]) > 0.9


def test_fitted_subset_is_stratified_when_strata_are_given():
    from pipeline.projection import fit_subset

    strata = np.array(["big"] * 900 + ["mid"] * 96 + ["tiny"] * 4)
    chosen = fit_subset(1000, 100, 0, strata)
    assert len(chosen) == 100 and np.all(np.diff(chosen) > 0)
    counts = {name: int((strata[chosen] == name).sum()) for name in ("big", "mid", "tiny")}
    assert counts["tiny"] >= 1 and abs(counts["big"] - 90) <= 1 and abs(counts["mid"] - 10) <= 1
    # without strata: uniform at random, reproducible for a seed
    assert np.array_equal(fit_subset(1000, 100, 3), fit_subset(1000, 100, 3))
    assert not np.array_equal(fit_subset(1000, 100, 3), fit_subset(1000, 100, 4))
    with pytest.raises(ValueError, match="one label per row"):
        fit_subset(1000, 100, 0, strata[:10])


def test_tsne_with_strata_fits_a_stratified_subset_and_places_every_point():
    X, labels = blobs(n=900, d=20)
    strata = np.where(np.arange(900) < 6, "rare", labels.astype(str))
    layout = tsne_layout(X, perplexity=15, n_iter=250, fit_points=300, strata=strata)
    assert layout.shape == (900, 2) and np.isfinite(layout).all()
    same = project(X, "tsne", perplexity=15, n_iter=250, strata=strata)  # below FIT_POINTS strata change nothing
    assert np.array_equal(same, project(X, "tsne", perplexity=15, n_iter=250))
