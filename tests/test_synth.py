"""The synthetic shards: deterministic, laid out as webdataset, and separable only by traces."""

from __future__ import annotations

import io
import json
import tarfile

import numpy as np
import pytest
from PIL import Image

from pipeline import synth


def _members(path):
    with tarfile.open(path) as tar:
        return [(m.name, tar.extractfile(m).read()) for m in tar]


def test_shards_are_deterministic_and_split_by_samples_per_shard(tmp_path):
    sources = synth.DEMO_SOURCES[:2]
    a = synth.write_shards(tmp_path / "a", sources, split="test", n_per_class=5, size=32, samples_per_shard=4)
    b = synth.write_shards(tmp_path / "b", sources, split="test", n_per_class=5, size=32, samples_per_shard=4)
    assert [p.name for p in a] == ["test-00000.tar", "test-00001.tar", "test-00002.tar"] * 2
    for x, y in zip(a, b):
        assert x.read_bytes() == y.read_bytes()
    c = synth.write_shards(tmp_path / "c", sources, split="test", n_per_class=5, size=32, samples_per_shard=100)
    joined = [m for p in a[:3] for m in _members(p)]
    assert joined == _members(c[0])  # same samples whatever the shard size
    other = synth.write_shards(tmp_path / "d", sources, split="test", n_per_class=5, size=32, seed=9)
    assert other[0].read_bytes() != c[0].read_bytes()


def test_layout_labels_and_image_sizes(tmp_path):
    paths = synth.write_shards(tmp_path, synth.DEMO_SOURCES, split="train", n_per_class=3, size=40)
    spellings = set()
    for source, path in zip(synth.DEMO_SOURCES, paths):
        assert path == tmp_path / source.name / "train-00000.tar"
        members = _members(path)
        keys = {}
        for name, data in members:
            key, ext = name.split(".", 1)
            keys.setdefault(key, {})[ext] = data
        assert len(keys) == 6
        labels = []
        for parts in keys.values():
            assert set(parts) == {source.image_ext, "json"}
            image = Image.open(io.BytesIO(parts[source.image_ext]))
            assert image.size == (40, 40) and image.format == ("PNG" if source.image_ext == "png" else "JPEG")
            label = json.loads(parts["json"])["label"]
            spellings.add(label)
            labels.append(label.lower())
        assert sorted(labels) == ["fake"] * 3 + ["real"] * 3
    assert {s.image_ext for s in synth.DEMO_SOURCES} >= {"jpg", "jpeg", "png"}
    assert "testing" in {s.name for s in synth.DEMO_SOURCES}
    assert len(spellings) > 2  # REAL, Real, real...: the case differs between sources


def test_size_range_gives_varied_sizes(tmp_path):
    path = synth.write_shards(tmp_path, synth.DEMO_SOURCES[:1], split="test", n_per_class=4, size_range=(256, 300))[0]
    sizes = {Image.open(io.BytesIO(d)).size for n, d in _members(path) if not n.endswith(".json")}
    assert len(sizes) > 1 and all(256 <= w <= 300 and w == h for w, h in sizes)


def test_add_bad_samples(tmp_path):
    path = synth.write_shards(tmp_path, synth.DEMO_SOURCES[:1], split="test", n_per_class=2, size=32)[0]
    expected = synth.add_bad_samples(path)
    assert sorted(expected.values()) == ["corrupt_image", "missing_image", "missing_label", "unknown_label"]
    members = dict(_members(path))
    with pytest.raises(OSError):
        Image.open(io.BytesIO(members["bad_truncated.jpg"])).load()
    assert "bad_nolabel.json" not in members and "bad_noimage.jpg" not in members
    with pytest.raises(ValueError):
        synth.add_bad_samples(path)


def test_fakes_differ_from_reals_only_by_traces():
    source = synth.DEMO_SOURCES[0]
    reals = np.stack([synth.make_image(np.random.default_rng([1, i]), 64, False, source) for i in range(40)])
    fakes = np.stack([synth.make_image(np.random.default_rng([1, i]), 64, True, source) for i in range(40)])
    # same brightness and colour on average...
    assert abs(reals.mean() - fakes.mean()) < 3
    # ...but fakes carry energy at the upsampler's 4-pixel period that reals lack
    def period4_energy(images):
        spectrum = np.abs(np.fft.fft2(images.astype(float) - images.mean(axis=(1, 2), keepdims=True), axes=(1, 2)))
        return spectrum[:, 16, 16].mean() + spectrum[:, 0, 16].mean() + spectrum[:, 16, 0].mean()
    assert period4_energy(fakes) > 2 * period4_energy(reals)
