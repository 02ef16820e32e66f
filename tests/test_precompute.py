"""End-to-end tests of `python -m pipeline.precompute` on real shards and real checkpoints."""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import tarfile
import time
import zlib
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from PIL import Image
from torchvision import transforms

from cache import CacheReader, CachePaths
from cache.io import TMP_PREFIX
from cache.schema import ERRORS_SCHEMA, SAMPLES_SCHEMA
from helpers import (convnext_checkpoint, encode, label_json, noise_image, resnet_checkpoint, simple_shard,
                     vit_checkpoint, write_tar)
from pipeline.precompute import main

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args) -> int:
    return main([*map(str, args), "--no-progress", "--num-workers", "0"])


def notebook_pixels(image_bytes: bytes, checkpoint: Path) -> torch.Tensor:
    """The notebook's eval transform, written out independently of pipeline.preprocess."""
    config = json.loads((checkpoint / "preprocessor_config.json").read_text())
    size = config["size"]
    if "height" in size:
        resize = (size["height"], size["width"])
        crop = resize
    else:
        resize = size["shortest_edge"]
        crop = (resize, resize)
    transform = transforms.Compose([
        transforms.Resize(resize), transforms.CenterCrop(crop), transforms.ToTensor(),
        transforms.Normalize(mean=config["image_mean"], std=config["image_std"]),
    ])
    return transform(Image.open(io.BytesIO(image_bytes)).convert("RGB"))


def image_bytes_of(data_root: Path, shard: str, key_ext: str) -> bytes:
    with tarfile.open(data_root / shard) as tar:
        return tar.extractfile(key_ext).read()


# ---------------------------------------------------------------------------------------
def test_cache_follows_the_contract_and_counts_reconcile(small_cache):
    reader = CacheReader(small_cache)
    assert json.loads((small_cache / "cache.json").read_text())["schema_version"] == 1
    assert reader.checkpoints() == ["v4", "v5"]
    assert reader.datasets() == ["alpha", "beta", "testing"]
    for dataset in reader.datasets():
        for shard in ("test-00000", "test-00001"):
            assert pq.read_schema(small_cache / "samples" / dataset / f"{shard}.parquet").remove_metadata() \
                .equals(SAMPLES_SCHEMA)
            assert pq.read_schema(small_cache / "errors" / dataset / f"{shard}.parquet").remove_metadata() \
                .equals(ERRORS_SCHEMA)
            for checkpoint in ("v4", "v5"):
                schema = pq.read_schema(small_cache / "checkpoints" / checkpoint / "predictions" / dataset / f"{shard}.parquet")
                assert schema.names == ["sample_id", "pred", "prob_fake", "logits", "embedding"]
                assert schema.field("logits").type.list_size == 2
                assert schema.field("embedding").type.list_size == 32  # ViT hidden size
    samples = reader.samples()
    assert len(samples) == 180 and samples["sample_id"].is_unique
    assert set(samples["image_format"]) == {"png", "jpg", "jpeg"}
    assert (samples["sample_id"] == samples["dataset"] + "/" + samples["key"]).all()
    assert ((samples["width"] == 40) & (samples["height"] == 48)).all()
    for checkpoint in ("v4", "v5"):
        manifest = reader.manifest(checkpoint)
        assert manifest["fake_index"] == 1 and manifest["label_source"] == "id2label"
        assert manifest["embedding"] == {"kind": "head", "dim": 32, "dtype": "float32"}
        assert manifest["counts"]["samples"] == 180
        metrics = reader.metrics(checkpoint)
        assert set(metrics["by_dataset"]) == {"alpha", "beta", "testing", "overall"}
        assert metrics["by_dataset"]["overall"]["n"] == 180


def test_image_offsets_give_the_exact_member_bytes(small_cache):
    reader = CacheReader(small_cache)
    samples = reader.samples()
    for row in samples.sample(20, random_state=0).itertuples():
        expected = image_bytes_of(reader.data_root, row.shard, f"{row.key}.{row.image_format}")
        data, fmt = reader.read_image_bytes(row.sample_id)
        assert data == expected and fmt == row.image_format
    assert reader.read_image_bytes("alpha/nope") is None


def test_predictions_match_an_independent_forward_pass(small_cache):
    from transformers import ViTForImageClassification

    reader = CacheReader(small_cache)
    checkpoint_dir = Path(reader.manifest("v5")["source_path"])
    model = ViTForImageClassification.from_pretrained(checkpoint_dir).eval()
    frame = reader.predictions("v5").sort_values("sample_id").head(24)
    table = reader.predictions_table("v5", columns=["sample_id", "logits", "embedding"]).to_pandas().set_index("sample_id")
    samples = reader.samples().set_index("sample_id")
    pixels = torch.stack([
        notebook_pixels(image_bytes_of(reader.data_root, samples.at[s, "shard"], f"{samples.at[s, 'key']}.{samples.at[s, 'image_format']}"),
                        checkpoint_dir)
        for s in frame["sample_id"]
    ])
    with torch.no_grad():
        logits = model(pixel_values=pixels).logits
        cls = model.vit(pixel_values=pixels).last_hidden_state[:, 0]
    prob_fake = torch.softmax(logits, 1)[:, 1].numpy()
    np.testing.assert_allclose(frame["prob_fake"].to_numpy(), prob_fake, atol=1e-5)
    np.testing.assert_array_equal(frame["pred"].to_numpy(), logits.argmax(1).numpy())
    stored = np.stack(table.loc[frame["sample_id"], "embedding"].to_numpy())
    np.testing.assert_allclose(stored, cls.numpy(), atol=1e-5)
    # the stored embedding is what the head sees: the head applied to it gives the logits
    with torch.no_grad():
        np.testing.assert_allclose(model.classifier(torch.from_numpy(stored)).numpy(), logits.numpy(), atol=1e-4)


def test_last_hidden_state_and_mean_embeddings(tmp_path):
    from transformers import AutoModel

    data = tmp_path / "data"
    simple_shard(data / "d" / "test-00000.tar", 6, seed=3)
    checkpoint = vit_checkpoint(tmp_path / "ck", seed=1)
    for kind in ("last_hidden_state", "mean"):
        cache = tmp_path / f"cache-{kind}"
        assert run_cli("--data-root", data, "--checkpoint", f"v={checkpoint}", "--cache-dir", cache,
                       "--embedding", kind) == 0
        reader = CacheReader(cache)
        ids, embedding = reader.embeddings("v")
        samples = reader.samples().set_index("sample_id")
        pixels = torch.stack([
            notebook_pixels(image_bytes_of(reader.data_root, samples.at[s, "shard"], f"{samples.at[s, 'key']}.png"), checkpoint)
            for s in ids
        ])
        with torch.no_grad():
            hidden = AutoModel.from_pretrained(checkpoint).eval()(pixel_values=pixels).last_hidden_state
        expected = hidden.flatten(1) if kind == "last_hidden_state" else hidden.mean(1)
        assert embedding.shape == expected.shape
        np.testing.assert_allclose(embedding, expected.numpy(), atol=1e-5)
        assert reader.manifest("v")["embedding"]["kind"] == kind


@pytest.mark.parametrize("architecture", ["convnext", "resnet"])
def test_other_architectures_and_fake_at_index_zero(tmp_path, architecture):
    from transformers import AutoModelForImageClassification

    data = tmp_path / "data"
    simple_shard(data / "d" / "test-00000.tar", 8, seed=7)
    make = convnext_checkpoint if architecture == "convnext" else resnet_checkpoint
    checkpoint = make(tmp_path / "ck")
    assert run_cli("--data-root", data, "--checkpoint", f"c={checkpoint}", "--cache-dir", tmp_path / "cache") == 0
    reader = CacheReader(tmp_path / "cache")
    manifest = reader.manifest("c")
    # helpers: convnext names fake=0, real=1; resnet keeps generic LABEL_0/LABEL_1
    fake_index = 0 if architecture == "convnext" else 1
    assert manifest["fake_index"] == fake_index
    assert manifest["label_source"].startswith("id2label" if architecture == "convnext" else "generic")
    frame = reader.predictions("c").sort_values("sample_id")
    samples = reader.samples().set_index("sample_id")
    model = AutoModelForImageClassification.from_pretrained(checkpoint).eval()
    pixels = torch.stack([
        notebook_pixels(image_bytes_of(reader.data_root, samples.at[s, "shard"], f"{samples.at[s, 'key']}.png"), checkpoint)
        for s in frame["sample_id"]
    ])
    with torch.no_grad():
        logits = model(pixel_values=pixels).logits
        base = getattr(model, "convnext" if architecture == "convnext" else "resnet")(pixel_values=pixels)
    np.testing.assert_allclose(frame["prob_fake"], torch.softmax(logits, 1)[:, fake_index].numpy(), atol=1e-5)
    np.testing.assert_array_equal(frame["pred"], (logits.argmax(1) == fake_index).numpy().astype(np.int8))
    _, embedding = reader.embeddings("c")
    order = np.argsort(reader.embeddings("c")[0])
    np.testing.assert_allclose(embedding[order], base.pooler_output.flatten(1).numpy(), atol=1e-5)


# ---------------------------------------------------------------------------------------
def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height: decoding it would need that many pixels."""
    def chunk(kind, payload):
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


def odd_but_valid_images() -> dict[str, tuple[str, bytes]]:
    base = noise_image(11, (24, 20))
    sixteen = Image.fromarray(np.arange(24 * 20, dtype=np.uint16).reshape(20, 24) * 130)
    assert sixteen.mode.startswith("I;16")
    palette_transparent = base.convert("P")
    palette_transparent.info["transparency"] = 0
    return {
        "grey": ("png", encode(base.convert("L"), "png")),
        "palette": ("png", encode(base.convert("P"), "png")),
        "palette_alpha": ("png", encode(palette_transparent, "png", transparency=0)),
        "rgba": ("png", encode(base.convert("RGBA"), "png")),
        "la": ("png", encode(base.convert("LA"), "png")),
        "cmyk": ("jpg", encode(base.convert("CMYK"), "jpeg")),
        "sixteen_bit": ("png", encode(sixteen, "png")),
        "upper_ext": ("JPG", encode(base, "jpeg")),
        "webp": ("webp", encode(base, "webp")),
        "large": ("png", encode(Image.new("RGB", (6000, 4000), (30, 60, 90)), "png")),
    }


def test_bad_samples_are_recorded_and_odd_images_processed(tmp_path):
    good = encode(noise_image(1), "png")
    truncated = encode(noise_image(2, (64, 64)), "jpeg")[:300]
    samples = [
        ("ok0", {"png": good, "json": label_json("Real")}),
        ("truncated", {"jpg": truncated, "json": label_json("fake")}),
        ("garbage", {"png": b"not an image at all", "json": label_json("fake")}),
        ("nolabel", {"png": good}),
        ("unknown", {"png": good, "json": label_json("maybe")}),
        ("emptyjson", {"png": good, "json": b"{}"}),
        ("badjson", {"png": good, "json": b"{not json"}),
        ("noimage", {"json": label_json("real")}),
        ("bomb", {"png": _png_header_only(30000, 30000), "json": label_json("fake")}),
    ]
    odd = odd_but_valid_images()
    samples += [(name, {ext: data, "json": label_json("FAKE")}) for name, (ext, data) in odd.items()]
    data = tmp_path / "data"
    write_tar(data / "d" / "test-00000.tar", samples)
    checkpoint = vit_checkpoint(tmp_path / "ck")
    assert run_cli("--data-root", data, "--checkpoint", f"v={checkpoint}", "--cache-dir", tmp_path / "cache") == 0

    reader = CacheReader(tmp_path / "cache")
    errors = reader.errors().set_index("key")["reason"].to_dict()
    assert errors == {
        "truncated": "corrupt_image", "garbage": "corrupt_image", "nolabel": "missing_label",
        "unknown": "unknown_label", "emptyjson": "missing_label", "badjson": "bad_json",
        "noimage": "missing_image", "bomb": "decompression_bomb",
    }
    written = set(reader.samples()["key"])
    assert written == {"ok0", *odd}
    assert len(written) + len(errors) == len(samples)
    assert set(reader.predictions("v")["key"]) == written
    assert reader.samples().set_index("key").at["large", "width"] == 6000


def test_counts_are_printed_and_reconcile(tmp_path, capsys):
    data = tmp_path / "data"
    write_tar(data / "d" / "test-00000.tar", [
        ("a", {"png": encode(noise_image(1), "png"), "json": label_json("real")}),
        ("b", {"png": b"junk", "json": label_json("fake")}),
        ("c", {"png": encode(noise_image(2), "png")}),
    ])
    assert run_cli("--data-root", data, "--checkpoint", f"v={vit_checkpoint(tmp_path / 'ck')}",
                   "--cache-dir", tmp_path / "cache") == 0
    out = capsys.readouterr().out
    assert "3 samples seen = 1 written + 2 skipped (corrupt_image 1, missing_label 1)" in out
    assert "overall" in out and "auc" in out


# ---------------------------------------------------------------------------------------
@pytest.fixture
def one_shard(tmp_path):
    data = tmp_path / "data"
    simple_shard(data / "d" / "test-00000.tar", 4)
    return data


def _expect_error(capsys, args, fragment: str, cache: Path):
    code = run_cli(*args)
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith("error: ") and fragment in err, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert not cache.exists() or not any(cache.rglob("*.parquet"))


def test_user_errors_are_one_sentence_and_write_nothing(tmp_path, one_shard, capsys):
    from transformers import ViTConfig, ViTForImageClassification, ViTModel

    cache = tmp_path / "cache"
    good = vit_checkpoint(tmp_path / "good")
    plain = tmp_path / "plain"
    ViTModel(ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                       intermediate_size=64)).save_pretrained(plain)
    three = tmp_path / "three"
    ViTForImageClassification(ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=1,
                                        num_attention_heads=2, intermediate_size=64, num_labels=3)).save_pretrained(three)
    odd_names = vit_checkpoint(tmp_path / "odd", id2label={0: "cat", 1: "dog"})

    _expect_error(capsys, ["--data-root", tmp_path / "nowhere", "--checkpoint", f"v={good}", "--cache-dir", cache],
                  "does not exist", cache)
    _expect_error(capsys, ["--data-root", one_shard, "--split", "train", "--checkpoint", f"v={good}", "--cache-dir", cache],
                  "No `train` shards", cache)
    _expect_error(capsys, ["--data-root", one_shard, "--datasets", "zzz", "--checkpoint", f"v={good}", "--cache-dir", cache],
                  "zzz not found", cache)
    _expect_error(capsys, ["--data-root", one_shard, "--checkpoint", f"v={tmp_path / 'missing'}", "--cache-dir", cache],
                  "is not a folder", cache)
    _expect_error(capsys, ["--data-root", one_shard, "--checkpoint", f"v={plain}", "--cache-dir", cache],
                  "not an image classifier", cache)
    _expect_error(capsys, ["--data-root", one_shard, "--checkpoint", f"v={three}", "--cache-dir", cache],
                  "3 classes", cache)
    _expect_error(capsys, ["--data-root", one_shard, "--checkpoint", f"v={odd_names}", "--cache-dir", cache],
                  "neither REAL/FAKE", cache)
    other = tmp_path / "other-version"
    other.mkdir()
    (other / "cache.json").write_text('{"schema_version": 99}')
    _expect_error(capsys, ["--data-root", one_shard, "--checkpoint", f"v={good}", "--cache-dir", other],
                  "schema version 99", other)


def test_bad_flag_exits_without_traceback(tmp_path, one_shard):
    result = subprocess.run(
        [sys.executable, "-m", "pipeline.precompute", "--data-root", str(one_shard), "--checkpoint", "v=x",
         "--embedding", "cls"], cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2
    assert "invalid choice: 'cls'" in result.stderr and "Traceback" not in result.stderr
    result = subprocess.run(
        [sys.executable, "-m", "pipeline.precompute", "--data-root", str(tmp_path / "nope"), "--checkpoint",
         f"v={tmp_path}", "--cache-dir", str(tmp_path / "c")], cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


# ---------------------------------------------------------------------------------------
def test_rerun_skips_finished_shards_and_adds_only_new_work(tmp_path, capsys):
    data = tmp_path / "data"
    simple_shard(data / "d" / "test-00000.tar", 6, seed=1, prefix="a")
    v4 = vit_checkpoint(tmp_path / "v4", seed=4)
    cache = tmp_path / "cache"
    assert run_cli("--data-root", data, "--checkpoint", f"v4={v4}", "--cache-dir", cache) == 0
    first = CachePaths(cache).predictions("v4", "d", "test-00000.tar")
    stamp = first.stat().st_mtime_ns
    capsys.readouterr()

    simple_shard(data / "d" / "test-00001.tar", 6, seed=2, prefix="b")
    v5 = vit_checkpoint(tmp_path / "v5", seed=5)
    assert run_cli("--data-root", data, "--checkpoint", f"v4={v4}", "--checkpoint", f"v5={v5}", "--cache-dir", cache) == 0
    out = capsys.readouterr().out
    assert "[v4] ViTForImageClassification" in out and "1 of 2 shards to compute" in out
    assert "[v5] ViTForImageClassification" in out and "2 of 2 shards to compute" in out
    assert first.stat().st_mtime_ns == stamp
    assert len(CacheReader(cache).predictions("v4")) == 12

    assert run_cli("--data-root", data, "--checkpoint", f"v4={v4}", "--cache-dir", cache, "--embedding", "mean") == 0
    assert "2 of 2 shards to compute" in capsys.readouterr().out  # other settings: recomputed
    assert run_cli("--data-root", data, "--checkpoint", f"v4={v4}", "--cache-dir", cache, "--embedding", "mean",
                   "--force") == 0
    assert "2 of 2 shards to compute" in capsys.readouterr().out


def test_killed_run_leaves_no_partial_file_and_next_run_completes(tmp_path):
    data = tmp_path / "data"
    for s in range(6):
        simple_shard(data / "d" / f"test-{s:05d}.tar", 40, seed=s, prefix=f"s{s}_")
    checkpoint = vit_checkpoint(tmp_path / "ck")
    cache = tmp_path / "cache"
    args = [sys.executable, "-m", "pipeline.precompute", "--data-root", str(data), "--checkpoint", f"v={checkpoint}",
            "--cache-dir", str(cache), "--no-progress", "--num-workers", "0", "--batch-size", "8"]
    process = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    predictions = cache / "checkpoints" / "v" / "predictions" / "d"

    def finished():  # pathlib's glob also matches the writer's hidden ".tmp-*.parquet" files
        return sorted(p.name for p in predictions.glob("*.parquet") if not p.name.startswith(TMP_PREFIX))

    deadline = time.time() + 120
    while time.time() < deadline and not (predictions.exists() and finished()):
        time.sleep(0.02)
    process.terminate()
    _, err = process.communicate(timeout=60)
    assert "interrupted" in err
    done = finished()
    assert 1 <= len(done) < 6
    assert not list(cache.rglob(".tmp-*"))
    for path in cache.rglob("*.parquet"):
        pq.read_table(path)  # every file that exists is whole
    assert not (cache / "checkpoints" / "v" / "metrics.json").exists()

    result = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert f"{6 - len(done)} of 6 shards to compute" in result.stdout
    assert len(CacheReader(cache).predictions("v")) == 240


def test_torchrun_splits_shards_across_ranks(tmp_path):
    data = tmp_path / "data"
    for s in range(5):
        simple_shard(data / "d" / f"test-{s:05d}.tar", 6, seed=s, prefix=f"s{s}_")
    checkpoint = vit_checkpoint(tmp_path / "ck")
    cache = tmp_path / "cache"
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "pipeline.precompute",
         "--data-root", str(data), "--checkpoint", f"v={checkpoint}", "--cache-dir", str(cache), "--no-progress",
         "--num-workers", "0"], cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "30 samples seen = 30 written + 0 skipped" in result.stdout
    assert result.stdout.count("metrics at threshold") == 1  # only rank 0 summarises
    reader = CacheReader(cache)
    assert len(reader.predictions("v")) == 30 and reader.metrics("v")["by_dataset"]["overall"]["n"] == 30


def test_a_cache_keeps_its_data_root(tmp_path, capsys):
    first, second = tmp_path / "first", tmp_path / "second"
    simple_shard(first / "d" / "test-00000.tar", 4)
    simple_shard(second / "d" / "test-00000.tar", 4)
    checkpoint = vit_checkpoint(tmp_path / "ck")
    cache = tmp_path / "cache"
    assert run_cli("--data-root", first, "--checkpoint", f"v={checkpoint}", "--cache-dir", cache) == 0
    capsys.readouterr()
    assert run_cli("--data-root", second, "--checkpoint", f"v={checkpoint}", "--cache-dir", cache) == 2
    assert "was built from data root" in capsys.readouterr().err
    assert CacheReader(cache).data_root == first.resolve()
