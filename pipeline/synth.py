"""Synthetic "real" and "fake" images written as webdataset shards, for the demo, the tests
and the benchmarks.

Real images are procedural natural-looking scenes (1/f colour noise, gradients, soft
shapes, sensor noise). Fakes are the same kind of scene plus generator-like traces whose
strength depends on the source: upsampling checkerboards, periodic spectral peaks and
blending seams. Only the traces separate the classes, so a detector must learn them.
Torch-free; deterministic: the same arguments give byte-identical tar files.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class Source:
    name: str            # source dataset folder name
    image_ext: str       # member extension of images: "jpg", "jpeg" or "png"
    checkerboard: float  # 0..1 strength of upsampling checkerboards in fakes
    spectral: float      # 0..1 strength of periodic spectral peaks in fakes
    seam: float          # 0..1 strength of blending seams in fakes
    label_case: str = "lower"  # how this source spells labels: lower, upper or title


DEMO_SOURCES: tuple[Source, ...] = (
    Source("faceforge", "jpg", checkerboard=0.8, spectral=0.3, seam=0.6, label_case="upper"),
    Source("testing", "jpeg", checkerboard=0.3, spectral=0.8, seam=0.2, label_case="title"),
    Source("diffusers_png", "png", checkerboard=0.2, spectral=0.5, seam=0.5),
    Source("gan_png", "png", checkerboard=0.35, spectral=0.15, seam=0.1, label_case="upper"),  # the hard one
)

_SPLIT_CODES = {"train": 1, "validation": 2, "test": 3}


def _spell(label: str, case: str) -> str:
    return {"upper": label.upper(), "title": label.title()}.get(case, label.lower())


def _pink_noise(rng: np.random.Generator, size: int, channels: int, exponent: float = 2.0) -> np.ndarray:
    """size x size x channels noise with a 1/f^exponent power spectrum, scaled to [-1, 1]."""
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.rfftfreq(size)[None, :]
    radius = np.sqrt(fx * fx + fy * fy)
    radius[0, 0] = 1.0
    amplitude = radius ** (-exponent / 2)
    amplitude[0, 0] = 0.0
    phase = rng.uniform(0, 2 * np.pi, (channels, size, size // 2 + 1))
    spectrum = amplitude[None] * np.exp(1j * phase)
    field = np.fft.irfft2(spectrum, s=(size, size), axes=(1, 2))
    field /= np.abs(field).max(axis=(1, 2), keepdims=True) + 1e-9
    return np.moveaxis(field, 0, -1)


def _scene(rng: np.random.Generator, size: int) -> np.ndarray:
    """A natural-looking float image in [0, 255], size x size x 3."""
    base_colour = rng.uniform(60, 190, 3)
    image = base_colour + 55 * _pink_noise(rng, size, 3, exponent=rng.uniform(2.2, 3.0))
    yy, xx = np.mgrid[0:size, 0:size] / size
    angle = rng.uniform(0, 2 * np.pi)
    gradient = (np.cos(angle) * xx + np.sin(angle) * yy - 0.5) * rng.uniform(-60, 60)
    image += gradient[..., None]
    for _ in range(rng.integers(1, 4)):  # soft blobs: faces, objects, lights
        cy, cx = rng.uniform(0.15, 0.85, 2)
        radius = rng.uniform(0.08, 0.3)
        blob = np.exp(-(((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * radius**2)))
        image += blob[..., None] * rng.uniform(-70, 70, 3)
    image += rng.normal(0, 2.5, image.shape)  # sensor noise
    return image


def _fingerprint(source: Source) -> np.random.Generator:
    """A generator's own habits are the same for all its images: seed them by its name."""
    return np.random.default_rng(sum((i + 1) * ord(c) for i, c in enumerate(source.name)))


def _add_traces(rng: np.random.Generator, image: np.ndarray, source: Source) -> np.ndarray:
    size = image.shape[0]
    habits = _fingerprint(source)
    kernel = habits.normal(0, 1, (4, 4, 3))
    frequencies = habits.choice([2, 3, 4, 6], size=(2, 2)) / 8
    # Some fakes are well made: their traces are faint, and they are the hard cases.
    faintness = rng.uniform(0.05, 1.2)
    if source.checkerboard > 0:
        # Transposed-convolution upsamplers (stride 2, twice) leave a 4-pixel periodic pattern.
        repeats = (size + 3) // 4
        kernel = kernel - kernel.mean(axis=(0, 1), keepdims=True)
        pattern = np.tile(kernel, (repeats, repeats, 1))[:size, :size]
        image = image + 24.0 * source.checkerboard * faintness * pattern
    if source.spectral > 0:
        # Periodic peaks in the spectrum, at frequencies this source's generator favours.
        yy, xx = np.mgrid[0:size, 0:size]
        for fy, fx in frequencies:
            phase = rng.uniform(0, 2 * np.pi)
            wave = np.cos(2 * np.pi * (fy * yy + fx * xx) + phase)
            image = image + 14.0 * source.spectral * faintness * wave[..., None]
    if source.seam > 0:
        # A pasted region whose noise level differs, blended with a soft but visible edge.
        y0, x0 = rng.integers(0, size // 2, 2)
        h, w = rng.integers(size // 4, size // 2, 2)
        mask = np.zeros((size, size))
        mask[y0:y0 + h, x0:x0 + w] = 1.0
        smooth = np.fft.irfft2(np.fft.rfft2(mask) * np.exp(-np.add.outer(np.fft.fftfreq(size) ** 2,
                                                                        np.fft.rfftfreq(size) ** 2) * 400),
                               s=(size, size))
        patch = image.mean(axis=(0, 1)) + 0.6 * (image - image.mean(axis=(0, 1)))
        patch = patch + rng.normal(0, 1 + 10 * source.seam, image.shape)
        strength = 0.35 + 0.65 * source.seam
        image = image * (1 - strength * smooth[..., None]) + patch * strength * smooth[..., None]
    return image


def make_image(rng: np.random.Generator, size: int, fake: bool, source: Source) -> np.ndarray:
    """One size x size x 3 uint8 image; fakes carry the source's traces."""
    # Scenes are drawn at a power-of-two-friendly size and cropped, so any size works.
    image = _scene(rng, size)
    if fake:
        image = _add_traces(rng, image, source)
    return np.clip(image + 0.5, 0, 255).astype(np.uint8)


def _encode(array: np.ndarray, ext: str, jpeg_quality: int) -> bytes:
    buffer = io.BytesIO()
    if ext in ("jpg", "jpeg"):
        Image.fromarray(array).save(buffer, format="JPEG", quality=jpeg_quality)
    else:
        Image.fromarray(array).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def _member(name: str, data: bytes) -> tuple[tarfile.TarInfo, io.BytesIO]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info, io.BytesIO(data)


def _write_tar_atomic(path: Path, members: list[tuple[str, bytes]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".tar", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
            for name, data in members:
                tar.addfile(*_member(name, data))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_shards(root: Path, sources=DEMO_SOURCES, *, split: str, n_per_class: int, size: int = 64,
                 seed: int = 0, samples_per_shard: int = 500, jpeg_quality: int = 92,
                 size_range: tuple[int, int] | None = None) -> list[Path]:
    """Write root/<source>/<split>-00000.tar, ... with n_per_class real and fake samples per source.

    Each sample is `<key>.<image_ext>` plus `<key>.json` = {"label": ...} spelled in the
    source's own case. Classes are interleaved in a seeded order. If `size_range` is given,
    each image's side is drawn from it (benchmarks use realistic 256-512 px JPEGs).
    """
    if n_per_class < 1 or samples_per_shard < 1:
        raise ValueError("n_per_class and samples_per_shard must be at least 1")
    root = Path(root)
    written = []
    split_code = _SPLIT_CODES.get(split, sum(map(ord, split)))
    for source_index, source in enumerate(sources):
        order_rng = np.random.default_rng([seed, source_index, split_code, 0])
        labels = order_rng.permutation(np.repeat([0, 1], n_per_class))
        members = []
        for i, label in enumerate(labels):
            # Each image has its own RNG stream: shards do not depend on samples_per_shard.
            rng = np.random.default_rng([seed, source_index, split_code, 1, i])
            side = int(rng.integers(size_range[0], size_range[1] + 1)) if size_range else size
            array = make_image(rng, side, bool(label), source)
            key = f"{source.name}_{split}_{i:06d}"
            members.append((f"{key}.{source.image_ext}", _encode(array, source.image_ext, jpeg_quality)))
            text = _spell("fake" if label else "real", source.label_case)
            members.append((f"{key}.json", json.dumps({"label": text}).encode()))
        per_shard = 2 * samples_per_shard
        for number, start in enumerate(range(0, len(members), per_shard)):
            path = root / source.name / f"{split}-{number:05d}.tar"
            _write_tar_atomic(path, members[start:start + per_shard])
            written.append(path)
    return written


def add_bad_samples(shard: Path) -> dict[str, str]:
    """Append deliberately bad samples to a shard; return {key: the reason precompute records}."""
    shard = Path(shard)
    rng = np.random.default_rng(99)
    jpeg = _encode(make_image(rng, 48, False, DEMO_SOURCES[0]), "jpg", 90)
    bad = {
        "bad_truncated": ([("jpg", jpeg[: int(len(jpeg) * 0.4)]), ("json", b'{"label": "fake"}')], "corrupt_image"),
        "bad_nolabel": ([("jpg", jpeg)], "missing_label"),
        "bad_unknown": ([("jpg", jpeg), ("json", b'{"label": "maybe"}')], "unknown_label"),
        "bad_noimage": ([("json", b'{"label": "real"}')], "missing_image"),
    }
    with tarfile.open(shard, "r:") as tar:
        members = [(m.name, tar.extractfile(m).read()) for m in tar if m.isfile()]
    existing = {name.split(".", 1)[0] for name, _ in members}
    if existing & set(bad):
        raise ValueError(f"{shard} already holds bad samples")
    for key, (parts, _) in bad.items():
        members.extend((f"{key}.{ext}", data) for ext, data in parts)
    _write_tar_atomic(shard, members)
    return {key: reason for key, (_, reason) in bad.items()}
