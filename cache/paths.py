"""The one place that knows where every file of the cache lives.

Layout (see DESIGN.md):
    <cache>/cache.json
    <cache>/samples/<dataset>/<shard>.parquet
    <cache>/errors/<dataset>/<shard>.parquet
    <cache>/checkpoints/<name>/manifest.json
    <cache>/checkpoints/<name>/predictions/<dataset>/<shard>.parquet
    <cache>/checkpoints/<name>/metrics.json
    <cache>/projections/<key>.parquet
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

DEFAULT_CACHE_DIR = "data/cache"
CACHE_DIR_ENV = "FAKESCOPE_CACHE_DIR"

# Names become folder names: keep them to a safe alphabet so no name can escape the cache.
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")


def resolve_cache_dir(flag_value: str | os.PathLike | None = None) -> Path:
    """The cache folder: the flag if given, else $FAKESCOPE_CACHE_DIR, else data/cache."""
    if flag_value:
        return Path(flag_value)
    return Path(os.environ.get(CACHE_DIR_ENV) or DEFAULT_CACHE_DIR)


def check_name(kind: str, name: str) -> str:
    """Return `name` if it is a safe folder name, else raise ValueError naming `kind`."""
    if not isinstance(name, str) or not _NAME_RE.match(name) or name in {".", ".."}:
        raise ValueError(
            f"{kind} name {name!r} must start with a letter or digit and contain only "
            "letters, digits, '.', '_', '+' or '-'."
        )
    return name


def shard_stem(shard_name: str) -> str:
    """`test-00000.tar` -> `test-00000`: the Parquet file name of a shard's tables."""
    return shard_name[:-4] if shard_name.endswith(".tar") else shard_name


@dataclass(frozen=True)
class CachePaths:
    root: Path

    def __post_init__(self):
        object.__setattr__(self, "root", Path(self.root))

    @property
    def cache_json(self) -> Path:
        return self.root / "cache.json"

    @property
    def samples_dir(self) -> Path:
        return self.root / "samples"

    @property
    def errors_dir(self) -> Path:
        return self.root / "errors"

    @property
    def checkpoints_dir(self) -> Path:
        return self.root / "checkpoints"

    @property
    def projections_dir(self) -> Path:
        return self.root / "projections"

    @property
    def jobs_dir(self) -> Path:
        """Scratch space of the dashboard's background callbacks (diskcache)."""
        return self.root / "jobs"

    def samples(self, dataset: str, shard_name: str) -> Path:
        return self.samples_dir / check_name("dataset", dataset) / f"{shard_stem(shard_name)}.parquet"

    def errors(self, dataset: str, shard_name: str) -> Path:
        return self.errors_dir / check_name("dataset", dataset) / f"{shard_stem(shard_name)}.parquet"

    def checkpoint_dir(self, checkpoint: str) -> Path:
        return self.checkpoints_dir / check_name("checkpoint", checkpoint)

    def manifest(self, checkpoint: str) -> Path:
        return self.checkpoint_dir(checkpoint) / "manifest.json"

    def metrics(self, checkpoint: str) -> Path:
        return self.checkpoint_dir(checkpoint) / "metrics.json"

    def predictions_dir(self, checkpoint: str) -> Path:
        return self.checkpoint_dir(checkpoint) / "predictions"

    def predictions(self, checkpoint: str, dataset: str, shard_name: str) -> Path:
        return (
            self.predictions_dir(checkpoint)
            / check_name("dataset", dataset)
            / f"{shard_stem(shard_name)}.parquet"
        )

    def projection(self, key: str) -> Path:
        return self.projections_dir / f"{check_name('projection', key)}.parquet"

    def interim_layout(self, key: str) -> Path:
        """The latest layout of a t-SNE in progress (float32 .npy), written by the job, read by the page."""
        return self.jobs_dir / "interim" / f"{check_name('projection', key)}.npy"
