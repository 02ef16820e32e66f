"""Atomic writes: a file appears whole or not at all, and an interrupted process removes its own temporaries."""

import os
import stat

import pyarrow as pa
import pytest

from cache.io import TMP_PREFIX, atomic_path, read_json, remove_own_temporaries, write_json, write_table


def test_write_renames_into_place_with_ordinary_permissions(tmp_path):
    target = tmp_path / "sub" / "t.parquet"
    write_table(target, pa.table({"a": [1, 2]}), {"k": "v"})
    write_json(tmp_path / "m.json", {"x": 1})
    assert read_json(tmp_path / "m.json") == {"x": 1}
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask  # readable by every reader of the folder
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith(TMP_PREFIX)]
    assert remove_own_temporaries() == 0


def test_failed_block_leaves_neither_file_nor_temporary(tmp_path):
    target = tmp_path / "t.json"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("disk full")
    assert list(tmp_path.iterdir()) == []


def test_temporary_whose_unwinding_never_ran_is_removed_on_interrupt(tmp_path):
    # A signal landing between a file's creation and the block that would remove it: the
    # context is entered and the file written, but its exit never runs.
    target = tmp_path / "t.parquet"
    abandoned = atomic_path(target, suffix=".tmp")
    tmp = abandoned.__enter__()
    tmp.write_bytes(b"partial")
    assert tmp.name.startswith(TMP_PREFIX) and tmp.suffix == ".tmp"
    assert remove_own_temporaries() == 1
    assert list(tmp_path.iterdir()) == []
    assert remove_own_temporaries() == 0
