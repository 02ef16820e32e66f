"""`python -m pipeline.precompute`: webdataset shards x checkpoints -> the Parquet cache.

Each checkpoint is loaded once and run once over the shards that still need it; one
forward pass per batch gives logits, pred, prob_fake and the embedding. Images are
decoded in DataLoader workers; a sample that cannot be used is recorded in errors/ and
the run goes on. Every file is written atomically; a re-run skips shards whose output
exists for the same checkpoint hash and settings.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa

from cache import CacheError, CachePaths, SCHEMA_VERSION, resolve_cache_dir
from cache.io import (read_file_metadata, read_json, remove_own_temporaries, remove_stale_temporaries, write_json,
                      write_table)
from cache.reader import CacheReader
from cache.schema import ERRORS_SCHEMA, SAMPLES_SCHEMA, predictions_schema
from pipeline import PIPELINE_VERSION
from pipeline.distributed import rank_from_env
from pipeline.errors import UserError, sigterm_as_interrupt
from pipeline.metrics import format_table, metrics_by_group, suggested_thresholds
from pipeline.preprocess import DEFAULT_MAX_PIXELS
from pipeline.shards import ShardIndex, discover_shards, drop_duplicate_keys, index_shard

SETTINGS_KEY = "fakescope.settings_key"
SHARD_KEY = "fakescope.shard"  # size and mtime of the shard a file was made from


# ---------------------------------------------------------------------------------------
# Options
# ---------------------------------------------------------------------------------------
@dataclass
class Options:
    data_root: Path
    checkpoints: list[tuple[str, Path]]
    cache_dir: Path
    split: str = "test"
    datasets: list[str] | None = None
    device: str = "auto"
    batch_size: int | None = None
    num_workers: int | None = None
    embedding: str = "head"
    embedding_dtype: str = "float32"
    max_pixels: int = DEFAULT_MAX_PIXELS
    force: bool = False
    progress: bool = True


def _checkpoint_arg(value: str) -> tuple[str, Path]:
    name, sep, path = value.partition("=")
    if not sep:
        path = name
        name = Path(name.rstrip("/")).name
    if not name or not path:
        raise argparse.ArgumentTypeError(f"{value!r} is not NAME=PATH")
    return name, Path(path)


def build_parser() -> argparse.ArgumentParser:
    from pipeline.checkpoint import EMBEDDING_KINDS

    parser = argparse.ArgumentParser(
        prog="python -m pipeline.precompute",
        description="Run Hugging Face image classifiers over webdataset test shards and write "
        "predictions, embeddings and metrics to the fakescope Parquet cache.",
    )
    parser.add_argument("--data-root", required=True, type=Path,
                        help="folder with one sub-folder of .tar shards per source dataset")
    parser.add_argument("--checkpoint", dest="checkpoints", action="append", required=True, type=_checkpoint_arg,
                        metavar="NAME=PATH", help="a local HF checkpoint folder; repeat for several (e.g. v4=... v5=...)")
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="cache folder (default: $FAKESCOPE_CACHE_DIR or data/cache)")
    parser.add_argument("--split", default="test",
                        help="split to read, matched in shard names as HF datasets does (default: test)")
    parser.add_argument("--datasets", default=None,
                        help="comma-separated source datasets to process (default: all under --data-root)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="auto picks cuda when available (default: auto)")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="images per forward pass (default: 256 on cuda, 64 on cpu)")
    parser.add_argument("--num-workers", type=int, default=None,
                        help="DataLoader processes decoding images (default: up to 8 on cuda, 1 on cpu)")
    parser.add_argument("--embedding", choices=EMBEDDING_KINDS, default="head",
                        help="head: the classifier head's input (default); mean: averaged last hidden state; "
                        "last_hidden_state: flattened, as the notebook's AutoModel (large)")
    parser.add_argument("--embedding-dtype", choices=("float32", "float16"), default="float32",
                        help="storage type of embeddings (default: float32)")
    parser.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS,
                        help="images with more pixels are skipped as decompression bombs")
    parser.add_argument("--force", action="store_true", help="recompute shards even when their output exists")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    return parser


def parse_options(argv: list[str] | None = None) -> Options:
    args = build_parser().parse_args(argv)
    if args.batch_size is not None and args.batch_size < 1:
        raise UserError(f"--batch-size must be at least 1, got {args.batch_size}.")
    if args.num_workers is not None and args.num_workers < 0:
        raise UserError(f"--num-workers must be 0 or more, got {args.num_workers}.")
    names = [n for n, _ in args.checkpoints]
    if len(set(names)) != len(names):
        raise UserError(f"Checkpoint names must be unique, got {', '.join(names)}.")
    datasets = [d.strip() for d in args.datasets.split(",") if d.strip()] if args.datasets else None
    return Options(
        data_root=args.data_root, checkpoints=args.checkpoints, cache_dir=resolve_cache_dir(args.cache_dir),
        split=args.split, datasets=datasets, device=args.device, batch_size=args.batch_size,
        num_workers=args.num_workers, embedding=args.embedding, embedding_dtype=args.embedding_dtype,
        max_pixels=args.max_pixels, force=args.force, progress=args.progress,
    )


# ---------------------------------------------------------------------------------------
# Decoding in DataLoader workers
# ---------------------------------------------------------------------------------------
class ImageItems:
    """Map-style dataset over (shard path, offset, size): decode + transform one image.

    Returns (index, tensor or None, width, height, reason, detail) so a bad image becomes a
    record instead of an exception that would stop the DataLoader.
    """

    def __init__(self, items: list[tuple[str, int, int]], transform, max_pixels: int):
        self.items = items
        self.transform = transform
        self.max_pixels = max_pixels

    def __len__(self):
        return len(self.items)

    def __getitem__(self, index):
        from pipeline.preprocess import ImageDecodeError, load_rgb

        path, offset, size = self.items[index]
        with open(path, "rb") as f:
            data = os.pread(f.fileno(), size, offset)
        try:
            image = load_rgb(data, self.max_pixels)
        except ImageDecodeError as exc:
            return index, None, 0, 0, exc.reason, exc.detail
        return index, self.transform(image), image.width, image.height, None, None


def collate_images(batch):
    import torch

    good = [b for b in batch if b[1] is not None]
    return {
        "index": [b[0] for b in batch],
        "pixels": torch.stack([b[1] for b in good]) if good else None,
        "good": [b[0] for b in good],
        "size": {b[0]: (b[2], b[3]) for b in good},
        "errors": {b[0]: (b[4], b[5]) for b in batch if b[1] is None},
    }


# ---------------------------------------------------------------------------------------
# Per-shard results
# ---------------------------------------------------------------------------------------
@dataclass
class ShardResult:
    shard: ShardIndex
    remaining: int
    sizes: dict[int, tuple[int, int]] = field(default_factory=dict)
    decode_errors: dict[int, tuple[str, str]] = field(default_factory=dict)
    logits: dict[int, np.ndarray] = field(default_factory=dict)
    embeddings: dict[int, np.ndarray] = field(default_factory=dict)


def samples_table(shard: ShardIndex, result: ShardResult) -> pa.Table:
    rows = [(i, s) for i, s in enumerate(shard.samples) if i in result.sizes]
    return pa.table(
        {
            "sample_id": [f"{shard.dataset}/{s.key}" for _, s in rows],
            "dataset": [shard.dataset] * len(rows),
            "key": [s.key for _, s in rows],
            "label": [s.label for _, s in rows],
            "shard": [shard.relative_path] * len(rows),
            "image_offset": [s.image_offset for _, s in rows],
            "image_size": [s.image_size for _, s in rows],
            "image_format": [s.image_format for _, s in rows],
            "width": [result.sizes[i][0] for i, _ in rows],
            "height": [result.sizes[i][1] for i, _ in rows],
        },
        schema=SAMPLES_SCHEMA,
    )


def errors_table(shard: ShardIndex, result: ShardResult) -> pa.Table:
    records = [(e.key, e.reason, e.detail) for e in shard.errors]
    records += [(shard.samples[i].key, r, d) for i, (r, d) in sorted(result.decode_errors.items())]
    return pa.table(
        {
            "dataset": [shard.dataset] * len(records),
            "shard": [shard.relative_path] * len(records),
            "key": [r[0] for r in records],
            "reason": [r[1] for r in records],
            "detail": [r[2] for r in records],
        },
        schema=ERRORS_SCHEMA,
    )


def predictions_table(shard: ShardIndex, result: ShardResult, fake_index: int, dim: int, dtype: str) -> pa.Table:
    """pred and prob_fake follow the checkpoint's own FAKE index; pred is 1 for FAKE."""
    order = sorted(result.logits)
    logits = np.stack([result.logits[i] for i in order]).astype(np.float32) if order else np.zeros((0, 2), np.float32)
    embeddings = np.stack([result.embeddings[i] for i in order]) if order else np.zeros((0, dim), np.float32)
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    prob_fake = (shifted[:, fake_index] / shifted.sum(axis=1)).astype(np.float32)
    pred = (logits.argmax(axis=1) == fake_index).astype(np.int8)
    value_type = pa.float16() if dtype == "float16" else pa.float32()
    embeddings = embeddings.astype(np.float16 if dtype == "float16" else np.float32)
    return pa.table(
        {
            "sample_id": pa.array([f"{shard.dataset}/{shard.samples[i].key}" for i in order], pa.string()),
            "pred": pa.array(pred, pa.int8()),
            "prob_fake": pa.array(prob_fake, pa.float32()),
            "logits": pa.FixedSizeListArray.from_arrays(pa.array(logits.reshape(-1), pa.float32()), 2),
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(embeddings.reshape(-1), value_type), dim),
        },
        schema=predictions_schema(2, dim, value_type),
    )


# ---------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------
def settings_key(checkpoint, options: Options, precision: str, shard: ShardIndex) -> str:
    """What a shard's predictions depend on: a re-run with the same key skips the shard."""
    payload = {
        "checkpoint_hash": checkpoint.hash,
        "preprocessing": checkpoint.settings.to_json(),
        "embedding": options.embedding,
        "embedding_dtype": options.embedding_dtype,
        "precision": precision,
        "max_pixels": options.max_pixels,
        "pipeline_version": PIPELINE_VERSION,
        "shard": shard.fingerprint,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def shard_is_done(paths: CachePaths, checkpoint_name: str, shard: ShardIndex, key: str) -> bool:
    files = [
        paths.samples(shard.dataset, shard.name),
        paths.errors(shard.dataset, shard.name),
        paths.predictions(checkpoint_name, shard.dataset, shard.name),
    ]
    if not all(f.exists() for f in files):
        return False
    try:
        return (
            read_file_metadata(files[2]).get(SETTINGS_KEY) == key
            and read_file_metadata(files[0]).get(SHARD_KEY) == shard.fingerprint
        )
    except Exception:  # an unreadable file is simply redone
        return False


def choose_device(name: str, local_rank: int = 0):
    import torch

    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda was asked for, but torch sees no CUDA GPU here; use --device cpu or auto.")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name, local_rank) if name == "cuda" else torch.device(name)


def prepare_cache(options: Options) -> CachePaths:
    """Create the cache folder (or check an existing one's schema version)."""
    paths = CachePaths(options.cache_dir)
    if paths.cache_json.exists():
        info = read_json(paths.cache_json)
        if info.get("schema_version") != SCHEMA_VERSION:
            raise CacheError(
                f"The cache at {paths.root} has schema version {info.get('schema_version')}, but this "
                f"pipeline writes version {SCHEMA_VERSION}; use another --cache-dir or delete that one."
            )
        recorded = info.get("data_root")
        if recorded and Path(recorded) != options.data_root.resolve():
            raise UserError(
                f"The cache at {paths.root} was built from data root {recorded}; pass that --data-root "
                "or use another --cache-dir (sample locations are relative to the data root)."
            )
    elif paths.root.exists() and any(paths.root.iterdir()):
        raise UserError(f"{paths.root} exists and is not a fakescope cache; choose an empty or new --cache-dir.")
    write_json(paths.cache_json, {"schema_version": SCHEMA_VERSION, "data_root": str(options.data_root.resolve())})
    remove_stale_temporaries(paths.root)
    return paths


def run_checkpoint(info, shards: list[ShardIndex], paths: CachePaths, options: Options, device,
                   written_samples: set[str], log) -> dict:
    """Run one checkpoint over the shards that need it; return a summary dict."""
    import torch
    from torch.utils.data import DataLoader
    from tqdm import tqdm

    from pipeline.checkpoint import EmbeddingCapture, forward_batch, load_checkpoint
    from pipeline.preprocess import eval_transform

    started = time.perf_counter()
    checkpoint = load_checkpoint(info, device)
    precision = "bf16-autocast" if device.type == "cuda" else "fp32"
    keys = {(s.dataset, s.name): settings_key(checkpoint, options, precision, s) for s in shards}
    pending = [
        s for s in shards
        if options.force or not shard_is_done(paths, info.name, s, keys[(s.dataset, s.name)])
    ]
    log(f"[{info.name}] {info.model_class} from {info.path}: {len(pending)} of {len(shards)} shards to compute "
        f"on {device.type} ({precision}), embedding={options.embedding}")

    items, owners = [], []
    results = {}
    for shard_number, shard in enumerate(pending):
        results[shard_number] = ShardResult(shard, remaining=len(shard.samples))
        for local, sample in enumerate(shard.samples):
            items.append((str(shard.path), sample.image_offset, sample.image_size))
            owners.append((shard_number, local))

    images_done = 0
    capture = EmbeddingCapture(checkpoint.model, options.embedding, 2)
    # One blank image tells the embedding's width before any shard is written.
    crop = checkpoint.settings.crop
    _, probe = forward_batch(checkpoint, capture, torch.zeros(1, 3, crop[0], crop[1]))
    dim = int(probe.shape[1])
    if options.embedding == "last_hidden_state":
        size_mb = dim * (2 if options.embedding_dtype == "float16" else 4) * len(items) / 1e6
        log(f"[{info.name}] warning: last_hidden_state embeddings have {dim} values per image "
            f"(about {size_mb:.0f} MB for {len(items)} images); `head` or `mean` are far smaller.")
    if pending:
        cuda = device.type == "cuda"
        batch_size = options.batch_size or (256 if cuda else 64)
        workers = options.num_workers if options.num_workers is not None else (
            min(8, os.cpu_count() or 1) if cuda else 1)
        loader = DataLoader(
            ImageItems(items, eval_transform(checkpoint.settings), options.max_pixels),
            batch_size=batch_size, num_workers=workers, collate_fn=collate_images,
            pin_memory=cuda, prefetch_factor=4 if workers else None, persistent_workers=False,
        )
        # Flush shards that have no samples at all (everything skipped) straight away.
        for number, result in results.items():
            if result.remaining == 0:
                _write_shard(result, paths, info, keys, options, written_samples, dim)
        with tqdm(total=len(items), unit="img", desc=info.name, disable=not options.progress,
                  dynamic_ncols=True, smoothing=0.1) as bar:
            for batch in loader:
                if batch["pixels"] is not None:
                    logits, embedding = forward_batch(checkpoint, capture, batch["pixels"])
                    logits = logits.cpu().numpy()
                    embedding = embedding.cpu().numpy()
                    for row, index in enumerate(batch["good"]):
                        number, local = owners[index]
                        results[number].logits[local] = logits[row]
                        results[number].embeddings[local] = embedding[row]
                        results[number].sizes[local] = batch["size"][index]
                for index, error in batch["errors"].items():
                    number, local = owners[index]
                    results[number].decode_errors[local] = error
                for index in batch["index"]:
                    number, _ = owners[index]
                    result = results[number]
                    result.remaining -= 1
                    if result.remaining == 0:
                        _write_shard(result, paths, info, keys, options, written_samples, dim)
                images_done += len(batch["index"])
                bar.update(len(batch["index"]))
    capture.remove()

    elapsed = time.perf_counter() - started
    return {
        "checkpoint": checkpoint,
        "precision": precision,
        "embedding_dim": dim,
        "shards_computed": len(pending),
        "images": images_done,
        "elapsed_s": elapsed,
    }


def _write_shard(result: ShardResult, paths: CachePaths, info, keys, options, written_samples, dim: int):
    shard = result.shard
    ident = f"{shard.dataset}/{shard.name}"
    samples_path = paths.samples(shard.dataset, shard.name)
    if ident not in written_samples and (options.force or not samples_path.exists()
                                         or read_file_metadata(samples_path).get(SHARD_KEY) != shard.fingerprint
                                         or not paths.errors(shard.dataset, shard.name).exists()):
        meta = {SHARD_KEY: shard.fingerprint}
        write_table(paths.errors(shard.dataset, shard.name), errors_table(shard, result), meta)
        write_table(samples_path, samples_table(shard, result), meta)
    written_samples.add(ident)
    table = predictions_table(shard, result, info.labels.fake_index, dim, options.embedding_dtype)
    write_table(
        paths.predictions(info.name, shard.dataset, shard.name), table,
        {SETTINGS_KEY: keys[(shard.dataset, shard.name)]},
    )


def write_checkpoint_summary(paths: CachePaths, info, summary: dict, options: Options, device, shards) -> dict:
    """metrics.json and manifest.json from all of the checkpoint's predictions in the cache."""
    reader = CacheReader(paths.root)
    frame = reader.predictions(info.name)
    metrics = metrics_by_group(frame["dataset"], frame["label"], frame["prob_fake"])
    thresholds = suggested_thresholds(frame["label"], frame["prob_fake"])
    write_json(paths.metrics(info.name), {"threshold": 0.5, "by_dataset": metrics, "suggested_thresholds": thresholds})

    checkpoint = summary["checkpoint"]
    previous = read_json(paths.manifest(info.name)) if paths.manifest(info.name).exists() else {}
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    manifest = {
        "name": info.name,
        "source_path": str(Path(info.path).resolve()),
        "hash": checkpoint.hash,
        "model_class": info.model_class,
        "id2label": {str(k): v for k, v in info.labels.id2label.items()},
        "fake_index": info.labels.fake_index,
        "label_source": info.labels.source,
        "preprocessing": checkpoint.settings.to_json(),
        "embedding": {"kind": options.embedding, "dim": summary["embedding_dim"], "dtype": options.embedding_dtype},
        "precision": summary["precision"],
        "device": device.type,
        "split": options.split,
        "pipeline_version": PIPELINE_VERSION,
        "counts": {"samples": int(len(frame)), "datasets": int(frame["dataset"].nunique())},
        "created_at": previous.get("created_at", now) if previous.get("hash") == checkpoint.hash else now,
        "updated_at": now,
        "last_run": {
            "shards_computed": summary["shards_computed"],
            "images": summary["images"],
            "elapsed_s": round(summary["elapsed_s"], 3),
            "images_per_s": round(summary["images"] / summary["elapsed_s"], 1) if summary["images"] else None,
        },
    }
    write_json(paths.manifest(info.name), manifest)
    return metrics


def run(options: Options, log=print) -> dict:
    """Validate everything, then compute; returns counts for the caller and the tests."""
    from pipeline.checkpoint import inspect_checkpoint

    # Validate all inputs before anything is written, so a bad flag leaves no files behind.
    found = discover_shards(options.data_root, options.split, options.datasets)
    infos = [inspect_checkpoint(name, path) for name, path in options.checkpoints]
    import torch

    rank = rank_from_env(cuda=options.device != "cpu" and torch.cuda.is_available())
    device = choose_device(options.device, rank.local)
    if rank.is_main:
        paths = prepare_cache(options)
    rank.barrier()
    paths = CachePaths(options.cache_dir)
    if not rank.is_main:
        log = _quiet
        options = dataclasses.replace(options, progress=False)

    data_root = options.data_root.resolve()
    shards = [index_shard(dataset, path.resolve(), data_root) for dataset, path in found]
    drop_duplicate_keys(shards)
    seen = sum(s.seen for s in shards)
    log(f"{len(shards)} {options.split} shards in {len({s.dataset for s in shards})} datasets, {seen} samples seen")

    written_samples: set[str] = set()
    report = {"checkpoints": {}}
    mine = [s for number, s in enumerate(shards) if rank.owns(number)]
    for info in infos:
        summary = run_checkpoint(info, mine, paths, options, device, written_samples, log)
        rank.barrier()
        if not rank.is_main:
            continue
        metrics = write_checkpoint_summary(paths, info, summary, options, device, shards)
        rate = f", {summary['images'] / summary['elapsed_s']:.1f} img/s" if summary["images"] else ""
        log(format_table(metrics, title=f"\n[{info.name}] metrics at threshold 0.5{rate}"))
        report["checkpoints"][info.name] = {k: v for k, v in summary.items() if k != "checkpoint"}
        del summary

    rank.close()
    if not rank.is_main:
        return report
    reader = CacheReader(paths.root)
    selected = {s.dataset for s in shards}
    wanted = [s.relative_path for s in shards]
    samples = reader.samples(sorted(selected), columns=["shard"])
    errors = reader.errors(sorted(selected), columns=["shard", "reason"])
    written = int(samples["shard"].isin(wanted).sum())
    errors = errors[errors["shard"].isin(wanted)]
    by_reason = errors["reason"].value_counts().to_dict()
    reasons = ", ".join(f"{r} {n}" for r, n in sorted(by_reason.items()))
    log(f"\n{seen} samples seen = {written} written + {len(errors)} skipped" + (f" ({reasons})" if reasons else ""))
    if written + len(errors) != seen:
        log("warning: counts do not reconcile; re-run with --force to rebuild this split.")
    report.update(seen=seen, written=written, skipped=int(len(errors)), skipped_by_reason=by_reason,
                  cache_dir=str(paths.root))
    return report


def _quiet(message: str) -> None:
    pass


def main(argv: list[str] | None = None) -> int:
    sigterm_as_interrupt()
    try:
        options = parse_options(argv)
        run(options)
    except (UserError, CacheError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        remove_own_temporaries()  # the unwinding misses a file whose creation the signal interrupted
        print("interrupted: finished shards are kept; run the same command again to complete.", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
