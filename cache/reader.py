"""The one reader of the cache: what checkpoints and datasets exist, their tables as
pandas or Arrow, metrics, and where a sample's image bytes lie."""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds

from cache.errors import CacheError
from cache.io import TMP_PREFIX, read_json
from cache.paths import CachePaths
from cache.schema import ERRORS_SCHEMA, SAMPLES_SCHEMA, SCHEMA_VERSION


def _parquet_files(folder: Path, datasets: list[str] | None = None) -> list[str]:
    """Parquet files under folder/<dataset>/, sorted, temporaries excluded."""
    if not folder.exists():
        return []
    names = sorted(p.name for p in folder.iterdir() if p.is_dir())
    if datasets is not None:
        wanted = set(datasets)
        names = [n for n in names if n in wanted]
    return [
        str(f)
        for name in names
        for f in sorted((folder / name).glob("*.parquet"))
        if not f.name.startswith(TMP_PREFIX)
    ]


def check_cache_version(root: Path) -> dict:
    """Read cache.json and refuse a cache of another schema version with one sentence."""
    paths = CachePaths(root)
    if not paths.cache_json.exists():
        raise CacheError(
            f"{root} is not a fakescope cache (no cache.json): run `python -m pipeline.precompute "
            f"--cache-dir {root} ...` or `python -m pipeline.demo` first."
        )
    try:
        info = read_json(paths.cache_json)
    except (OSError, json.JSONDecodeError) as exc:
        raise CacheError(f"{paths.cache_json} is unreadable ({exc}); delete the cache and rebuild it.") from None
    version = info.get("schema_version")
    if version != SCHEMA_VERSION:
        raise CacheError(
            f"The cache at {root} has schema version {version}, but this fakescope reads version "
            f"{SCHEMA_VERSION}: rebuild it with this version's `python -m pipeline.precompute`."
        )
    return info


class CacheReader:
    """Read-only view of one cache folder. Cheap to create; tables are read on demand."""

    def __init__(self, root: str | Path):
        self.paths = CachePaths(Path(root))
        self.info = check_cache_version(self.paths.root)

    @property
    def root(self) -> Path:
        return self.paths.root

    @property
    def data_root(self) -> Path | None:
        value = self.info.get("data_root")
        return Path(value) if value else None

    # -- checkpoints -------------------------------------------------------------------
    def checkpoints(self) -> list[str]:
        """Checkpoint names with a manifest, oldest first (by the manifest's creation time)."""
        folder = self.paths.checkpoints_dir
        if not folder.exists():
            return []
        found = []
        for d in folder.iterdir():
            manifest = d / "manifest.json"
            if manifest.exists():
                created = read_json(manifest).get("created_at", "")
                found.append((created, d.name))
        return [name for _, name in sorted(found)]

    def manifest(self, checkpoint: str) -> dict:
        path = self.paths.manifest(checkpoint)
        if not path.exists():
            raise CacheError(f"Checkpoint {checkpoint!r} is not in the cache at {self.root}.")
        return read_json(path)

    def metrics(self, checkpoint: str) -> dict | None:
        path = self.paths.metrics(checkpoint)
        return read_json(path) if path.exists() else None

    # -- samples and errors -------------------------------------------------------------
    def datasets(self) -> list[str]:
        folder = self.paths.samples_dir
        if not folder.exists():
            return []
        return sorted(d.name for d in folder.iterdir() if d.is_dir())

    def samples_table(self, datasets: list[str] | None = None, columns: list[str] | None = None) -> pa.Table:
        files = _parquet_files(self.paths.samples_dir, datasets)
        if not files:
            return SAMPLES_SCHEMA.empty_table().select(columns or SAMPLES_SCHEMA.names)
        return ds.dataset(files, schema=SAMPLES_SCHEMA, format="parquet").to_table(columns=columns)

    def samples(self, datasets: list[str] | None = None, columns: list[str] | None = None) -> pd.DataFrame:
        return self.samples_table(datasets, columns).to_pandas()

    def dataset_counts(self) -> pd.DataFrame:
        """Per dataset: samples, real, fake, skipped (errors)."""
        table = self.samples(columns=["dataset", "label"])
        counts = (
            table.groupby("dataset")["label"]
            .agg(samples="size", fake="sum")
            .assign(real=lambda t: t["samples"] - t["fake"])
        )
        errors = self.errors(columns=["dataset"])
        counts["skipped"] = errors.groupby("dataset").size().reindex(counts.index).fillna(0).astype(int)
        return counts.reset_index()[["dataset", "samples", "real", "fake", "skipped"]]

    def errors(self, datasets: list[str] | None = None, columns: list[str] | None = None) -> pd.DataFrame:
        files = _parquet_files(self.paths.errors_dir, datasets)
        if not files:
            return ERRORS_SCHEMA.empty_table().select(columns or ERRORS_SCHEMA.names).to_pandas()
        return ds.dataset(files, schema=ERRORS_SCHEMA, format="parquet").to_table(columns=columns).to_pandas()

    # -- predictions ------------------------------------------------------------------
    def predictions_table(
        self, checkpoint: str, datasets: list[str] | None = None, columns: list[str] | None = None
    ) -> pa.Table:
        files = _parquet_files(self.paths.predictions_dir(checkpoint), datasets)
        if not files:
            raise CacheError(
                f"Checkpoint {checkpoint!r} has no predictions"
                + (f" for datasets {', '.join(datasets)}" if datasets else "")
                + f" in {self.root}; run `python -m pipeline.precompute` for them."
            )
        return ds.dataset(files, format="parquet").to_table(columns=columns)

    def predictions(self, checkpoint: str, datasets: list[str] | None = None) -> pd.DataFrame:
        """Predictions joined with the samples' dataset, key and label (embeddings: see `embeddings`)."""
        columns = ["sample_id", "pred", "prob_fake"]
        table = self.predictions_table(checkpoint, datasets, columns).to_pandas()
        samples = self.samples(datasets, columns=["sample_id", "dataset", "key", "label"])
        return samples.merge(table, on="sample_id", how="inner", validate="one_to_one")

    def embeddings(self, checkpoint: str, datasets: list[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(sample_ids, embeddings as a float32 matrix n x d), read without per-row Python objects."""
        table = self.predictions_table(checkpoint, datasets, ["sample_id", "embedding"])
        column = table.column("embedding").combine_chunks()
        dim = column.type.list_size
        values = column.values.to_numpy(zero_copy_only=False).reshape(-1, dim)
        return table.column("sample_id").to_numpy(zero_copy_only=False), values.astype(np.float32, copy=False)

    # -- images -------------------------------------------------------------------------
    @cached_property
    def _image_index(self) -> dict[str, tuple[str, int, int, str]]:
        table = self.samples_table(columns=["sample_id", "shard", "image_offset", "image_size", "image_format"])
        columns = [table.column(n).to_pylist() for n in table.column_names]
        return {row[0]: tuple(row[1:]) for row in zip(*columns)}

    def image_location(self, sample_id: str) -> tuple[Path, int, int, str] | None:
        """(shard path, byte offset, byte size, format) of a sample's image, or None if unknown."""
        entry = self._image_index.get(sample_id)
        if entry is None or self.data_root is None:
            return None
        shard, offset, size, fmt = entry
        return self.data_root / shard, offset, size, fmt

    def read_image_bytes(self, sample_id: str) -> tuple[bytes, str] | None:
        """The exact image member bytes and their format, or None for an unknown id."""
        location = self.image_location(sample_id)
        if location is None:
            return None
        path, offset, size, fmt = location
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read(size)
        if len(data) != size:
            raise CacheError(f"Shard {path} is shorter than the cache says; was it changed after precompute?")
        return data, fmt
