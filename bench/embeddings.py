"""Benchmark: the embedding column's Parquet layout, written and read back as the dashboard reads it.

    python bench/embeddings.py [--n 100000] [--dim 768] [--repeat 3]

The cache stores `embedding` as `fixed_size_list<float32>[dim]`, zstd-compressed, without
dictionary encoding (`cache.io.write_table`). This script writes the same n x dim matrix
(clustered float32 embeddings, as a checkpoint's look) in that layout and in the
alternatives, then times, per layout: writing the file; reading `sample_id` + `embedding`
into an n x dim float32 matrix (what a projection needs; best of --repeat, files in the
page cache); reading only `sample_id`, `pred`, `prob_fake` (what the threshold and metrics
need: a columnar file must not make them pay for the embeddings); and the file size.

Layouts: the cache's (fixed-size list, zstd), the same uncompressed, a variable-size
`list<float32>` (what `pa.array(list_of_lists)` gives), `fixed_size_binary` blobs (one
row's float32 bytes), and reading the cache's layout through a memory map.
Prints a table, then one JSON line last. Never passes or fails on time.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cache.io import write_table  # noqa: E402


def make_embeddings(n: int, dim: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 1, size=(16, dim)).astype(np.float32)
    groups = rng.integers(0, 16, size=n)
    return centres[groups] + rng.normal(0, 0.3, size=(n, dim)).astype(np.float32)


def base_columns(n: int, rng: np.random.Generator) -> dict[str, pa.Array]:
    prob = rng.uniform(0, 1, n).astype(np.float32)
    return {
        "sample_id": pa.array([f"dataset_{i % 4}/key_{i:07d}" for i in range(n)]),
        "pred": pa.array((prob >= 0.5).astype(np.int8)),
        "prob_fake": pa.array(prob),
    }


def embedding_column(X: np.ndarray, layout: str) -> pa.Array:
    flat = pa.array(X.reshape(-1))
    dim = X.shape[1]
    if layout == "fixed_size_list":
        return pa.FixedSizeListArray.from_arrays(flat, dim)
    if layout == "list":
        offsets = pa.array(np.arange(0, X.size + 1, dim, dtype=np.int32))
        return pa.ListArray.from_arrays(offsets, flat)
    if layout == "fixed_size_binary":
        return pa.FixedSizeBinaryArray.from_buffers(pa.binary(dim * 4), len(X), [None, pa.py_buffer(X.tobytes())])
    raise ValueError(layout)


def to_matrix(column: pa.ChunkedArray, layout: str, dim: int) -> np.ndarray:
    column = column.combine_chunks()
    if layout == "fixed_size_binary":
        return np.frombuffer(column.buffers()[1], dtype=np.float32, count=len(column) * dim).reshape(-1, dim)
    return column.values.to_numpy(zero_copy_only=False).reshape(-1, dim)


def best_of(repeat: int, fn) -> tuple[float, object]:
    best, value = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - started)
    return best, value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    X = make_embeddings(args.n, args.dim)
    base = base_columns(args.n, np.random.default_rng(1))
    variants = [  # name, layout, compression, memory_map
        ("fixed_size_list, zstd (cache)", "fixed_size_list", "zstd", False),
        ("fixed_size_list, zstd, memory-mapped", "fixed_size_list", "zstd", True),
        ("fixed_size_list, uncompressed", "fixed_size_list", "none", False),
        ("fixed_size_list, uncompressed, memory-mapped", "fixed_size_list", "none", True),
        ("list<float32>, zstd", "list", "zstd", False),
        ("fixed_size_binary, zstd", "fixed_size_binary", "zstd", False),
    ]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        written: dict[tuple[str, str], tuple[Path, float]] = {}
        for name, layout, compression, memory_map in variants:
            path = Path(tmp) / f"{layout}-{compression}.parquet"
            if (layout, compression) not in written:
                table = pa.table({**base, "embedding": embedding_column(X, layout)})
                started = time.perf_counter()
                if compression == "zstd" and layout == "fixed_size_list":
                    write_table(path, table)  # exactly the cache's writer
                else:
                    pq.write_table(table, path, compression=compression, use_dictionary=["sample_id"])
                written[(layout, compression)] = (path, time.perf_counter() - started)
            path, write_s = written[(layout, compression)]

            def read_embeddings():
                table = pq.read_table(path, columns=["sample_id", "embedding"], memory_map=memory_map)
                return to_matrix(table.column("embedding"), layout, args.dim)

            def read_scores():
                return ds.dataset(path, format="parquet").to_table(columns=["sample_id", "pred", "prob_fake"])

            read_s, matrix = best_of(args.repeat, read_embeddings)
            assert np.array_equal(matrix, X), name  # every layout must give back the same matrix
            scores_s, _ = best_of(args.repeat, read_scores)
            rows.append({"layout": name, "write_s": write_s, "read_embeddings_s": read_s, "read_scores_s": scores_s,
                         "size_mb": path.stat().st_size / 1e6})

    print(f"{args.n} x {args.dim} float32 embeddings ({X.nbytes / 1e6:.0f} MB in memory); reads best of {args.repeat}")
    print(f"{'layout':46} {'write s':>8} {'read emb s':>10} {'read scores s':>13} {'MB':>8}")
    for r in rows:
        print(f"{r['layout']:46} {r['write_s']:8.2f} {r['read_embeddings_s']:10.3f} {r['read_scores_s']:13.4f} "
              f"{r['size_mb']:8.1f}")
    cache_row = rows[0]
    result = {"n": args.n, "dim": args.dim,
              "cache_read_embeddings_s": cache_row["read_embeddings_s"],
              "cache_read_scores_s": cache_row["read_scores_s"],
              "best_read_embeddings_s": min(r["read_embeddings_s"] for r in rows),
              "best_layout": min(rows, key=lambda r: r["read_embeddings_s"])["layout"],
              "layouts": {r["layout"]: {k: round(v, 4) for k, v in r.items() if k != "layout"} for r in rows}}
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in result.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
