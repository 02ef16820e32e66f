"""Finding webdataset shards of one split and indexing their samples, without decoding.

A shard is an uncompressed tar whose members sharing a key form one sample: one image
(jpg/jpeg/png/webp, any case) and one json holding {"label": "real"|"fake"} (any case).
Indexing records where each image's bytes lie inside the tar, so the pipeline, the
dashboard and the tests can read them back exactly; problems become error records.
"""

from __future__ import annotations

import json
import re
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.errors import UserError

IMAGE_EXTENSIONS = ("jpg", "jpeg", "png", "webp")
LABELS = {"real": 0, "fake": 1}

# Hugging Face `datasets` reads the split from file or folder names with these keywords.
SPLIT_KEYWORDS = {
    "train": ("train", "training"),
    "validation": ("validation", "valid", "val", "dev"),
    "test": ("test", "testing", "eval", "evaluation"),
}

# webdataset's rule: the key is the path up to the first dot of the file name.
_KEY_EXT_RE = re.compile(r"^((?:.*/|)[^./]+)\.([^/]*)$")


@dataclass
class SampleRecord:
    key: str
    label: int
    image_offset: int
    image_size: int
    image_format: str


@dataclass
class ErrorRecord:
    key: str
    reason: str
    detail: str


@dataclass
class ShardIndex:
    dataset: str
    name: str            # shard name used for cache files, e.g. "test-00000.tar"
    path: Path           # absolute path of the tar
    relative_path: str   # path relative to the data root, as stored in `samples.shard`
    fingerprint: str     # size and mtime: a changed shard is recomputed
    samples: list[SampleRecord] = field(default_factory=list)
    errors: list[ErrorRecord] = field(default_factory=list)

    @property
    def seen(self) -> int:
        return len(self.samples) + len(self.errors)


def split_matches(relative: Path, split: str) -> bool:
    """True if a shard's path (relative to its dataset folder) names `split` as HF would."""
    keywords = SPLIT_KEYWORDS.get(split, (split,))
    pattern = re.compile(r"^(%s)(?:[-_. ]|$)" % "|".join(map(re.escape, keywords)), re.IGNORECASE)
    parts = list(relative.parent.parts) + [relative.name[: -len(".tar")]]
    return any(pattern.match(part) for part in parts)


def discover_shards(data_root: Path, split: str, datasets: list[str] | None = None) -> list[tuple[str, Path]]:
    """(dataset, shard path) for every `.tar` of `split` under data_root/<dataset>/, sorted."""
    data_root = Path(data_root)
    if not data_root.is_dir():
        raise UserError(f"Data root {data_root} does not exist or is not a folder; pass --data-root DIR.")
    available = sorted(d.name for d in data_root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if datasets:
        unknown = [d for d in datasets if d not in available]
        if unknown:
            raise UserError(
                f"Dataset(s) {', '.join(unknown)} not found under {data_root}; "
                f"available: {', '.join(available) or 'none'}."
            )
        available = [d for d in available if d in set(datasets)]
    found = []
    for dataset in available:
        folder = data_root / dataset
        for tar in sorted(folder.rglob("*.tar")):
            if split_matches(tar.relative_to(folder), split):
                found.append((dataset, tar))
    if not found:
        raise UserError(
            f"No `{split}` shards (files like {split}-00000.tar) under {data_root}"
            + (f" for {', '.join(datasets)}" if datasets else "")
            + "; check --data-root and --split."
        )
    return found


def _label_of(raw: bytes) -> tuple[int | None, str | None, str]:
    """(label, error reason, detail) from a json member's bytes."""
    try:
        meta = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, "bad_json", str(exc)[:200]
    if not isinstance(meta, dict) or "label" not in meta:
        return None, "missing_label", "json has no 'label' field"
    value = meta["label"]
    if isinstance(value, str) and value.strip().lower() in LABELS:
        return LABELS[value.strip().lower()], None, ""
    return None, "unknown_label", f"label {value!r} is not real/fake"[:200]


def index_shard(dataset: str, path: Path, data_root: Path) -> ShardIndex:
    """Read a shard's member headers and json labels; images are located, not decoded."""
    path = Path(path)
    stat = path.stat()
    relative = path.relative_to(data_root).as_posix()
    name = path.relative_to(Path(data_root) / dataset).as_posix().replace("/", "__")
    index = ShardIndex(dataset, name, path, relative, f"{stat.st_size}-{stat.st_mtime_ns}")
    members: dict[str, dict[str, tarfile.TarInfo]] = {}
    labels: dict[str, bytes] = {}
    try:
        with tarfile.open(path, "r:") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                match = _KEY_EXT_RE.match(member.name)
                if not match:
                    continue
                key, ext = match.group(1), match.group(2).lower()
                parts = members.setdefault(key, {})
                if ext in parts:
                    index.errors.append(ErrorRecord(key, "duplicate_key", f"second {ext} member for key"))
                    continue
                parts[ext] = member
                if ext == "json":
                    labels[key] = tar.extractfile(member).read()
    except tarfile.ReadError as exc:
        raise UserError(f"Shard {path} is not a readable uncompressed tar ({exc}); fix or remove it.") from None

    for key, parts in members.items():
        image_ext = next((e for e in IMAGE_EXTENSIONS if e in parts), None)
        if image_ext is None:
            index.errors.append(ErrorRecord(key, "missing_image", f"members: {', '.join(sorted(parts))}"))
            continue
        if key not in labels:
            index.errors.append(ErrorRecord(key, "missing_label", "no json member"))
            continue
        label, reason, detail = _label_of(labels[key])
        if reason:
            index.errors.append(ErrorRecord(key, reason, detail))
            continue
        member = parts[image_ext]
        index.samples.append(SampleRecord(key, label, member.offset_data, member.size, image_ext))
    return index


def drop_duplicate_keys(shards: list[ShardIndex]) -> None:
    """sample_id is <dataset>/<key> and must be unique: a key seen in an earlier shard of the
    same dataset becomes a `duplicate_key` error in the later one (shards in sorted order)."""
    seen: dict[str, dict[str, str]] = {}
    for shard in shards:
        owners = seen.setdefault(shard.dataset, {})
        kept = []
        for sample in shard.samples:
            if sample.key in owners:
                shard.errors.append(ErrorRecord(sample.key, "duplicate_key", f"key already in {owners[sample.key]}"))
            else:
                owners[sample.key] = shard.name
                kept.append(sample)
        shard.samples = kept


def read_member(path: Path, offset: int, size: int) -> bytes:
    """The bytes of one tar member, read at its offset."""
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read(size)
