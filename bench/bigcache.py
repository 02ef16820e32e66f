"""Make a large cache for benchmarks by tiling a real one (the demo's).

Each sample is repeated with a new key; its image is the original (same shard bytes), its
embedding the original plus small noise and its prob_fake slightly jittered, so layouts
and metrics stay realistic. Manifests get a derived hash, so saved projections of the
original never stand in for the tiled cache.

    python bench/bigcache.py --source data/cache --out /tmp/big --n 100000
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cache import CachePaths, CacheReader  # noqa: E402
from cache.io import read_json, write_json, write_table  # noqa: E402
from cache.schema import SAMPLES_SCHEMA, predictions_schema  # noqa: E402
from pipeline.metrics import metrics_by_group, suggested_thresholds  # noqa: E402


def tile_cache(source: Path, out: Path, n: int, seed: int = 0) -> Path:
    reader = CacheReader(source)
    paths = CachePaths(out)
    if out.exists():
        shutil.rmtree(out)
    write_json(paths.cache_json, read_json(reader.paths.cache_json))
    samples = reader.samples_table()
    copies = int(np.ceil(n / len(samples)))
    take = np.tile(np.arange(len(samples)), copies)[:n]
    copy_number = np.repeat(np.arange(copies), len(samples))[:n]
    tiled = samples.take(pa.array(take))
    keys = [f"{k}__{c}" for k, c in zip(tiled.column("key").to_pylist(), copy_number)]
    ids = [f"{d}/{k}" for d, k in zip(tiled.column("dataset").to_pylist(), keys)]
    tiled = tiled.set_column(tiled.schema.get_field_index("key"), "key", pa.array(keys))
    tiled = tiled.set_column(tiled.schema.get_field_index("sample_id"), "sample_id", pa.array(ids))
    datasets = np.array(tiled.column("dataset").to_pylist())
    for dataset in np.unique(datasets):
        mask = datasets == dataset
        write_table(paths.samples(dataset, "test-tiled.tar"), tiled.filter(pa.array(mask)).cast(SAMPLES_SCHEMA))
        write_table(paths.errors(dataset, "test-tiled.tar"),
                    reader.errors([dataset]).pipe(pa.Table.from_pandas, preserve_index=False))
    rng = np.random.default_rng(seed)
    labels = np.array(tiled.column("label").to_pylist())
    for checkpoint in reader.checkpoints():
        table = reader.predictions_table(checkpoint)
        index = {s: i for i, s in enumerate(table.column("sample_id").to_pylist())}
        rows = pa.array([index[s] for s in samples.column("sample_id").to_pylist()])
        ordered = table.take(rows).take(pa.array(take))
        dim = ordered.schema.field("embedding").type.list_size
        embedding = ordered.column("embedding").combine_chunks().values.to_numpy(zero_copy_only=False).reshape(-1, dim)
        embedding = (embedding + rng.normal(0, 0.05 * embedding.std(), embedding.shape)).astype(np.float32)
        prob = np.clip(ordered.column("prob_fake").to_numpy() + rng.normal(0, 0.02, n), 0, 1).astype(np.float32)
        logits = ordered.column("logits").combine_chunks().values.to_numpy(zero_copy_only=False).reshape(-1, 2)
        new = pa.table({
            "sample_id": pa.array(ids),
            "pred": pa.array((prob >= 0.5).astype(np.int8)),
            "prob_fake": pa.array(prob),
            "logits": pa.FixedSizeListArray.from_arrays(pa.array(logits.reshape(-1).astype(np.float32)), 2),
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(embedding.reshape(-1)), dim),
        }, schema=predictions_schema(2, dim, pa.float32()))
        for dataset in np.unique(datasets):
            write_table(paths.predictions(checkpoint, dataset, "test-tiled.tar"), new.filter(pa.array(datasets == dataset)))
        manifest = reader.manifest(checkpoint)
        manifest["hash"] = f"{manifest['hash']}-tiled{n}"
        manifest["counts"] = {"samples": n, "datasets": int(len(np.unique(datasets)))}
        write_json(paths.manifest(checkpoint), manifest)
        write_json(paths.metrics(checkpoint), {
            "threshold": 0.5,
            "by_dataset": metrics_by_group(datasets, labels, prob),
            "suggested_thresholds": suggested_thresholds(labels, prob),
        })
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=Path("data/cache"))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--n", type=int, default=100_000)
    args = parser.parse_args()
    tile_cache(args.source, args.out, args.n)
    print(f"wrote a {args.n}-sample cache to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
