"""The synthetic shards: deterministic, laid out as webdataset, and separable only by traces."""

from __future__ import annotations

import io
import json
import tarfile
from collections import Counter

import numpy as np
import pytest
from PIL import Image

from pipeline import synth


def _members(path):
    """[(name, bytes)] of a tar, in order."""
    with tarfile.open(path) as tar:
        return [(m.name, tar.extractfile(m).read()) for m in tar]


def _samples(path):
    """{key: {extension: bytes}} of a tar, and the keys in order of first appearance."""
    samples, order = {}, []
    for name, data in _members(path):
        key, ext = name.split(".", 1)
        if key not in samples:
            order.append(key)
        samples.setdefault(key, {})[ext] = data
    return samples, order


def _decode(data):
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


# ---- shards ----

def test_same_arguments_give_byte_identical_shards_and_another_seed_does_not(tmp_path):
    args = dict(split="test", n_per_class=6, size=32, samples_per_shard=5)
    a = synth.write_shards(tmp_path / "a", synth.DEMO_SOURCES, **args)
    b = synth.write_shards(tmp_path / "b", synth.DEMO_SOURCES, **args)
    c = synth.write_shards(tmp_path / "c", synth.DEMO_SOURCES, seed=1, **args)
    assert [p.relative_to(tmp_path / "a") for p in a] == [p.relative_to(tmp_path / "b") for p in b]
    for x, y, z in zip(a, b, c):
        assert x.read_bytes() == y.read_bytes()
        assert x.read_bytes() != z.read_bytes()


def test_shards_split_by_samples_per_shard_without_changing_the_samples(tmp_path):
    source = synth.DEMO_SOURCES[1]
    args = dict(split="train", n_per_class=5, size=24)
    split = synth.write_shards(tmp_path / "split", [source], samples_per_shard=4, **args)
    whole = synth.write_shards(tmp_path / "whole", [source], samples_per_shard=100, **args)
    assert [p.name for p in split] == ["train-00000.tar", "train-00001.tar", "train-00002.tar"]
    assert [p.name for p in whole] == ["train-00000.tar"]
    assert [len(_samples(p)[0]) for p in split] == [4, 4, 2]
    # The same images whatever the shard size: each image has its own random stream.
    assert [m for p in split for m in _members(p)] == _members(whole[0])


def test_every_image_is_new_across_keys_sources_and_splits(tmp_path):
    def images(split):
        paths = synth.write_shards(tmp_path / split, synth.DEMO_SOURCES, split=split, n_per_class=10, size=16)
        return [data for path in paths for name, data in _members(path) if not name.endswith(".json")]

    train, test = images("train"), images("test")
    assert len(set(train)) == len(train) == 80 and len(set(test)) == 80
    assert not set(train) & set(test)  # no test image leaks into training


def test_layout_keys_labels_and_tar_metadata(tmp_path):
    paths = synth.write_shards(tmp_path, synth.DEMO_SOURCES, split="train", n_per_class=8, size=40)
    assert paths == [tmp_path / s.name / "train-00000.tar" for s in synth.DEMO_SOURCES]
    spellings = {}
    for source, path in zip(synth.DEMO_SOURCES, paths):
        members = _members(path)
        samples, order = _samples(path)
        assert order == [f"{source.name}_train_{i:06d}" for i in range(16)]
        # webdataset groups consecutive members: a sample's two members must be adjacent
        assert [name.split(".")[0] for name, _ in members] == [key for key in order for _ in range(2)]
        labels = []
        for key in order:
            assert set(samples[key]) == {source.image_ext, "json"}
            labels.append(json.loads(samples[key]["json"])["label"])
        spellings[source.name] = set(labels)
        assert Counter(label.lower() for label in labels) == {"real": 8, "fake": 8}
        assert labels[:8] != sorted(labels[:8]) or labels[8:] != sorted(labels[8:])  # shuffled, not blocks
        with tarfile.open(path) as tar:
            for info in tar:
                assert (info.mtime, info.uid, info.gid, info.uname, info.gname, info.mode) == (0, 0, 0, "", "", 0o644)
    # Real data spells labels differently per source: REAL, Real, real...
    assert len({frozenset(s) for s in spellings.values()}) >= 3
    assert {s.image_ext for s in synth.DEMO_SOURCES} >= {"jpg", "jpeg", "png"}
    assert next(s for s in synth.DEMO_SOURCES if s.name == "testing").image_ext == "jpeg"


def test_images_decode_with_the_requested_size_and_format(tmp_path):
    paths = synth.write_shards(tmp_path, synth.DEMO_SOURCES, split="test", n_per_class=3, size=48)
    for source, path in zip(synth.DEMO_SOURCES, paths):
        for parts in _samples(path)[0].values():
            image = _decode(parts[source.image_ext])
            assert (image.size, image.mode) == ((48, 48), "RGB")
            assert image.format == ("PNG" if source.image_ext == "png" else "JPEG")


def test_size_range_gives_varied_square_sizes_within_the_range(tmp_path):
    path = synth.write_shards(tmp_path, synth.DEMO_SOURCES[:1], split="test", n_per_class=5, size_range=(40, 90))[0]
    sizes = [_decode(parts["jpg"]).size for parts in _samples(path)[0].values()]
    assert len(sizes) == 10 and len(set(sizes)) > 3
    assert all(40 <= w <= 90 and w == h for w, h in sizes)


def test_a_failed_write_leaves_no_file_behind(tmp_path, monkeypatch):
    real_member = synth._member
    calls = []

    def failing_member(name, data):
        calls.append(name)
        if len(calls) == 5:
            raise OSError("disk full")
        return real_member(name, data)

    monkeypatch.setattr(synth, "_member", failing_member)
    with pytest.raises(OSError, match="disk full"):
        synth.write_shards(tmp_path, synth.DEMO_SOURCES[:1], split="test", n_per_class=4, size=16)
    assert len(calls) == 5
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


@pytest.mark.parametrize("bad, word", [
    (dict(split="te.st"), "split"),
    (dict(n_per_class=0), "n_per_class"),
    (dict(samples_per_shard=0), "samples_per_shard"),
    (dict(size=4), "size"),
    (dict(size_range=(90, 40)), "size_range"),
    (dict(jpeg_quality=0), "jpeg_quality"),
    (dict(sources=[synth.Source("x", "gif", 0.5, 0.5, 0.5)]), "image_ext"),
    (dict(sources=[synth.Source("x", "png", 0.5, 0.5, 0.5, checkerboard_period=3)]), "checkerboard_period"),
    (dict(sources=[synth.Source("x", "png", 0.5, 1.5, 0.5)]), "spectral"),
])
def test_bad_arguments_are_refused_with_the_parameter_named(tmp_path, bad, word):
    args = dict(sources=synth.DEMO_SOURCES[:1], split="test", n_per_class=1, size=16) | bad
    with pytest.raises(ValueError, match=word):
        synth.write_shards(tmp_path, **args)
    assert not any(tmp_path.iterdir())


def test_add_bad_samples_appends_one_of_each_problem(tmp_path):
    path = synth.write_shards(tmp_path, synth.DEMO_SOURCES[1:2], split="test", n_per_class=2, size=32)[0]
    before = _members(path)
    expected = synth.add_bad_samples(path)
    assert sorted(expected.values()) == ["corrupt_image", "missing_image", "missing_label", "unknown_label"]
    after = _members(path)
    assert after[:len(before)] == before  # the good samples are untouched
    samples, _ = _samples(path)
    keys_before = {name.split(".")[0] for name, _ in before}
    assert set(expected) <= set(samples) and not set(expected) & keys_before
    by_reason = {reason: samples[key] for key, reason in expected.items()}
    assert set(by_reason["corrupt_image"]) == {"jpeg", "json"}  # the shard's own JPEG spelling
    with pytest.raises(OSError):
        _decode(by_reason["corrupt_image"]["jpeg"])
    assert set(by_reason["missing_label"]) == {"jpeg"} and _decode(by_reason["missing_label"]["jpeg"]).size
    assert json.loads(by_reason["unknown_label"]["json"]) == {"label": "maybe"}
    assert set(by_reason["missing_image"]) == {"json"}
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left
    with pytest.raises(ValueError, match="already"):
        synth.add_bad_samples(path)


# ---- images ----

def _period_excess(fakes, reals, period):
    """How much more spectral magnitude fakes have than reals at the frequencies that belong
    to a `period`-pixel pattern (odd multiples of 1 / period), as a ratio."""
    size = fakes.shape[1]
    own = [k * size // period for k in range(1, period, 2)]
    grid = [k * size // period for k in range(period)]
    bins = [(a, b) for a in grid for b in grid if a in own or b in own]
    rows, cols = zip(*bins)

    def magnitude(images):
        return np.abs(np.fft.fft2(images.astype(float).mean(axis=3), axes=(1, 2)))[:, rows, cols].mean()

    return magnitude(fakes) / magnitude(reals)


def _noise_level_spread(images):
    """Per image, how unevenly fine noise is spread over its 8 x 8 blocks (std of the log of
    each block's high-pass energy), averaged over images. A pasted region raises it."""
    grey = images.astype(float).mean(axis=3)
    neighbours = grey[:, :-2, 1:-1] + grey[:, 2:, 1:-1] + grey[:, 1:-1, :-2] + grey[:, 1:-1, 2:]
    high_pass = grey[:, 1:-1, 1:-1] - neighbours / 4
    blocks = high_pass.shape[1] // 8
    energy = (high_pass[:, :blocks * 8, :blocks * 8] ** 2).reshape(len(images), blocks, 8, blocks, 8).mean(axis=(2, 4))
    return np.log(energy).std(axis=(1, 2)).mean()


def _jpeg_round_trip(image):
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=92)
    return np.asarray(Image.open(buffer))


@pytest.mark.parametrize("source", synth.DEMO_SOURCES, ids=lambda s: s.name)
def test_fakes_keep_the_colours_of_reals_and_add_their_sources_checkerboard(source):
    reals = np.stack([synth.make_image(np.random.default_rng([7, i]), 64, False, source) for i in range(40)])
    fakes = np.stack([synth.make_image(np.random.default_rng([7, i]), 64, True, source) for i in range(40)])
    assert reals.shape == (40, 64, 64, 3) and reals.dtype == np.uint8
    # Same scenes, same colour statistics: only the traces differ.
    assert np.abs(fakes.mean(axis=(0, 1, 2)) - reals.mean(axis=(0, 1, 2))).max() < 0.5
    assert np.abs(fakes.std(axis=(1, 2)).mean(axis=0) - reals.std(axis=(1, 2)).mean(axis=0)).max() < 1.0
    assert 0 < np.abs(fakes.astype(int) - reals).mean() < 10
    if source.image_ext in ("jpg", "jpeg"):  # the traces must survive the source's own encoding
        reals = np.stack([_jpeg_round_trip(image) for image in reals])
        fakes = np.stack([_jpeg_round_trip(image) for image in fakes])
    excess = {period: _period_excess(fakes, reals, period) for period in synth.CHECKERBOARD_PERIODS}
    # The source's own period stands out, the others' do not: a detector has to have seen it.
    assert excess[source.checkerboard_period] > 1.3
    assert max(v for p, v in excess.items() if p != source.checkerboard_period) < 1.2
    if source.seam >= 0.5:
        assert _noise_level_spread(fakes) > _noise_level_spread(reals) + 0.05


def test_make_image_is_deterministic_and_any_size_works():
    source = synth.DEMO_SOURCES[0]
    first = synth.make_image(np.random.default_rng(3), 37, True, source)
    again = synth.make_image(np.random.default_rng(3), 37, True, source)
    other = synth.make_image(np.random.default_rng(4), 37, True, source)
    assert first.shape == (37, 37, 3) and np.array_equal(first, again) and not np.array_equal(first, other)
    # Natural-looking, not flat and not saturated.
    assert 20 < first.std() < 80 and ((first == 0) | (first == 255)).mean() < 0.05
