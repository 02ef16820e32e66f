"""Atomic writes: every file goes to a temporary name in its folder and is renamed into
place, so a reader never sees half a file and a killed run leaves nothing partial."""

from __future__ import annotations

import json
import os
import secrets
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

TMP_PREFIX = ".tmp-"

# This process's temporaries that may exist on disk. A signal can land where no `finally`
# of ours runs (inside contextlib's own frames; with mkstemp, between creating the file
# and the `try`: a CI run left one behind), so an interrupted run also removes what is
# listed here instead of trusting the unwinding alone.
_LIVE: set[Path] = set()


@contextmanager
def atomic_path(path: Path, suffix: str | None = None):
    """Yield a temporary path beside `path` (not yet created); rename it onto `path` only if
    the block succeeds. `suffix` defaults to the target's."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f"{TMP_PREFIX}{secrets.token_hex(8)}{path.suffix if suffix is None else suffix}"
    _LIVE.add(tmp)  # listed before anything can create it
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)  # a no-op once renamed
        _LIVE.discard(tmp)


def remove_own_temporaries() -> int:
    """Delete the temporaries this process has open (call when a run is interrupted); return how many."""
    count = 0
    for tmp in list(_LIVE):
        if tmp.exists():
            tmp.unlink(missing_ok=True)
            count += 1
        _LIVE.discard(tmp)
    return count


def write_json(path: Path, data) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True, allow_nan=False) + "\n")


def read_json(path: Path):
    return json.loads(Path(path).read_text())


def write_table(path: Path, table: pa.Table, metadata: dict[str, str] | None = None) -> None:
    """Write `table` as Parquet atomically; `metadata` goes into the file's key-value metadata."""
    if metadata:
        merged = dict(table.schema.metadata or {})
        merged.update({k.encode(): v.encode() for k, v in metadata.items()})
        table = table.replace_schema_metadata(merged)
    with atomic_path(path) as tmp:
        # Dense float columns (logits, embeddings) gain nothing from dictionary encoding and
        # lose time to it: keep it for the repetitive string columns only.
        strings = [f.name for f in table.schema if pa.types.is_string(f.type)]
        pq.write_table(table, tmp, compression="zstd", use_dictionary=strings)


def read_file_metadata(path: Path) -> dict[str, str]:
    """The key-value metadata of a Parquet file (cheap: reads the footer only)."""
    meta = pq.read_metadata(path).metadata or {}
    return {k.decode(): v.decode() for k, v in meta.items() if not k.startswith(b"ARROW")}


def remove_stale_temporaries(folder: Path) -> int:
    """Delete temporaries a killed run left behind under `folder`; return how many."""
    count = 0
    if Path(folder).exists():
        for tmp in Path(folder).rglob(f"{TMP_PREFIX}*"):
            tmp.unlink(missing_ok=True)
            count += 1
    return count
