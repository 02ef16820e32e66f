"""Synthetic "real" and "fake" images written as webdataset shards, for the demo, the tests
and the benchmarks.

Owns: the demo's source datasets (`Source`, `DEMO_SOURCES`), the image generator
(`make_image`), the shard writer (`write_shards`) and the bad samples the demo and the
tests feed to precompute (`add_bad_samples`).

Real images are procedural natural-looking scenes (1/f colour noise, a gradient, soft
shapes, sensor noise). Fakes are the same kind of scene plus generator traces whose
strength depends on the source: transposed-convolution checkerboards, periodic spectral
peaks and blending seams. Each source's checkerboard (its period and pattern) and peaks
are its own (seeded by its name), so a detector that never saw a source does not know its
traces. Only the traces separate the classes. Torch-free; deterministic: the same arguments give byte-identical
tar files.
"""

from __future__ import annotations

import functools
import io
import json
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from cache.io import atomic_path


@dataclass(frozen=True)
class Source:
    name: str            # source dataset folder name
    image_ext: str       # member extension of images: "jpg", "jpeg" or "png"
    checkerboard: float  # 0..1 strength of upsampling checkerboards in fakes
    spectral: float      # 0..1 strength of periodic spectral peaks in fakes
    seam: float          # 0..1 strength of blending seams in fakes
    label_case: str = "lower"  # how this source spells its labels: "lower", "upper" or "title"
    checkerboard_period: int = 4  # pixels: 2 (one stride-2 upsampler), 4 or 8 (stacked ones)


# faceforge: face swaps, strong seams. testing: a mixed set whose fakes are faint (the hard
# one). diffusers_png: a latent model (8x upsampling decoder), strong peaks. gan_png: a GAN
# with the classic stride-2 checkerboard, peaks of its own and no blending. The demo's v4
# never sees gan_png in training; its traces are unlike the others', so v4 mostly misses
# them (AUC about 0.7) while v5, trained on it, finds them (about 0.99).
DEMO_SOURCES: tuple[Source, ...] = (
    Source("faceforge", "jpg", checkerboard=0.6, spectral=0.3, seam=0.9, label_case="upper"),
    Source("testing", "jpeg", checkerboard=0.1, spectral=0.07, seam=0.15, label_case="title"),
    Source("diffusers_png", "png", checkerboard=0.8, spectral=0.8, seam=0.2, checkerboard_period=8),
    Source("gan_png", "png", checkerboard=0.35, spectral=0.5, seam=0.0, label_case="upper",
           checkerboard_period=2),
)

IMAGE_EXTS = ("jpg", "jpeg", "png")
CHECKERBOARD_PERIODS = (2, 4, 8)  # they divide 8: the pattern sits still in every 8 x 8 block
LABEL_CASES = ("lower", "upper", "title")
_SPLIT_CODES = {"train": 1, "validation": 2, "test": 3}
_MIN_SIZE = 8
_BATCH_PIXELS = 64 * 64 * 64  # images drawn together: enough to amortise NumPy's per-call cost

# Trace amplitudes at strength 1 and full intensity, in grey levels (0..255). Tuned so the
# classes stay separable after JPEG q=92 but a faint fake is hard to tell (see tests).
_CHECKERBOARD_GREY = 9.0   # std of the upsampler's periodic gain at mid-grey
_PEAK_GREY = 6.0           # amplitude of each spectral peak's sinusoid
_SEAM_NOISE_GREY = 7.0     # extra noise std inside a pasted region
_SEAM_SHIFT_GREY = 8.0     # colour shift std of a pasted region


# ---- per-size and per-source constants (cached: they are the same for every image) ----

def _read_only(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False  # cached arrays are shared between images
    return array


@functools.lru_cache(maxsize=8)
def _unit_grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column coordinates in [0, 1), each size x size float32."""
    coords = (np.arange(size, dtype=np.float32) + 0.5) / size
    yy, xx = np.meshgrid(coords, coords, indexing="ij")
    return _read_only(yy), _read_only(xx)


@functools.lru_cache(maxsize=8)
def _log_radial_frequency(size: int) -> np.ndarray:
    """log |f| on the rfft2 grid of a size x size image (the DC term set to 0)."""
    fy = np.fft.fftfreq(size).astype(np.float32)[:, None]
    fx = np.fft.rfftfreq(size).astype(np.float32)[None, :]
    radius = np.sqrt(fx * fx + fy * fy)
    radius[0, 0] = 1.0
    return _read_only(np.log(radius))


@functools.lru_cache(maxsize=32)
def _habits(source: Source) -> tuple[np.ndarray, np.ndarray]:
    """A generator's own fingerprint, the same for all its images: seeded by its name.

    Returns its upsampler gain pattern (p x p x 3, p = source.checkerboard_period, zero
    mean, unit std, mostly luminance) and its spectral peaks (k x 2 frequencies (fy, fx) in
    cycles per pixel, well below Nyquist so that JPEG keeps them).
    """
    rng = np.random.default_rng(zlib.crc32(source.name.encode()))
    period = source.checkerboard_period
    gain = rng.normal(0, 1, (period, period, 1)) + 0.3 * rng.normal(0, 1, (period, period, 3))
    # Drop the part that repeats every period / 2 pixels (for p = 2: the mean), so each
    # period owns its frequencies (odd multiples of 1 / p): sources with different periods
    # leave traces a detector cannot find by having learnt the other's.
    half = period // 2
    gain -= np.tile(gain.reshape(2, half, 2, half, 3).mean(axis=(0, 2)), (2, 2, 1))
    gain /= gain.std()
    peaks = int(rng.integers(2, 4))
    radius = rng.uniform(0.15, 0.4, peaks)
    angle = rng.uniform(0, np.pi, peaks)
    frequencies = np.stack([radius * np.sin(angle), radius * np.cos(angle)], axis=1)
    return _read_only(gain.astype(np.float32)), _read_only(frequencies)


@functools.lru_cache(maxsize=32)
def _checkerboard_tile(source: Source, size: int) -> np.ndarray:
    """The source's gain pattern repeated over a size x size image, 3 x size x size."""
    gain = _habits(source)[0]
    repeats = -(-size // len(gain))
    return _read_only(np.tile(gain.transpose(2, 0, 1), (1, repeats, repeats))[:, :size, :size])


@functools.lru_cache(maxsize=32)
def _peak_waves(source: Source, size: int) -> np.ndarray:
    """cos, then sin, of each spectral peak's phase ramp: 2k x size x size float32.
    A wave of any phase at a peak's frequency is a mix of its cos and sin."""
    frequencies = _habits(source)[1]
    pixels = np.arange(size, dtype=np.float64)
    ramp = 2 * np.pi * (frequencies[:, 0, None, None] * pixels[None, :, None]
                        + frequencies[:, 1, None, None] * pixels[None, None, :])
    return _read_only(np.concatenate([np.cos(ramp), np.sin(ramp)]).astype(np.float32))


# ---- images, drawn in batches ----
#
# Every image has its own Generator and draws from it in a fixed order (scene, then traces
# if fake), so an image does not depend on which batch it is drawn in. The arithmetic runs
# on the whole batch at once, channels first (n x 3 x H x W): at 64 px, NumPy's per-call
# cost would otherwise dominate.

def _fill_uniform(rng: np.random.Generator, out: np.ndarray) -> None:
    """Fill `out` (float32) with zero-mean, unit-std noise. Uniform, not Gaussian: several
    times cheaper to draw, and no detector can tell once it is filtered, blended or JPEG-coded."""
    rng.random(dtype=np.float32, out=out)
    out -= np.float32(0.5)
    out *= np.float32(np.sqrt(12))


def _per_image(values, dims: int = 3) -> np.ndarray:
    """A float32 array of one value per image, shaped to broadcast over `dims` more axes."""
    return np.asarray(values, dtype=np.float32).reshape((-1,) + (1,) * dims)


def _mix(weights: np.ndarray, planes: np.ndarray) -> np.ndarray:
    """Weighted sums of planes: n x k x d weights and n x k x H x W planes (or k x H x W
    planes shared by all images) -> n x d x H x W, out[:, d] = sum over k of w[:, k, d] planes[k]."""
    n, k, d = weights.shape
    height, width = planes.shape[-2:]
    weights = weights.astype(np.float32)
    # einsum, not matmul: BLAS threads cost more than they save on a sum over k <= 6.
    if planes.ndim == 3:
        mixed = np.einsum("nkd,kp->ndp", weights, planes.reshape(k, height * width))
    else:
        mixed = np.einsum("nkd,nkp->ndp", weights, planes.reshape(n, k, height * width))
    return mixed.reshape(n, d, height, width)


def _pink_fields(spectra: np.ndarray, exponent: np.ndarray, size: int) -> np.ndarray:
    """n x c x size x size noise fields with a 1/f^e power spectrum (e per image), std about 1.

    `spectra` holds uniform [0, 1) draws, n x c x size x (size // 2 + 1) x 2 (real, imaginary).
    Each pixel sums many random spectral terms, so a field is Gaussian whatever their law.
    """
    amplitude = np.exp(_log_radial_frequency(size)[None] * _per_image(-exponent / 2, 2))
    amplitude[:, 0, 0] = 0.0
    # Divide by the field's expected std, cheaper than measuring each field. A term of the
    # half spectrum has variance a^2/6 (1/12 per part) and counts twice (it stands for its
    # mirror image too), except in the first and, for even sizes, the last column, whose
    # imaginary parts irfft drops: those count half.
    power = amplitude ** 2
    weight = np.full(size // 2 + 1, 2.0, np.float32)
    weight[0] = 0.5
    if size % 2 == 0:
        weight[-1] = 0.5
    expected_std = np.sqrt((power * weight).sum(axis=(1, 2)) / 6) / size**2
    amplitude /= _per_image(expected_std, 2)
    spectrum = spectra.view(np.complex64)[..., 0]
    spectrum -= np.complex64(0.5 + 0.5j)
    spectrum *= amplitude[:, None]
    return np.fft.irfft2(spectrum, s=(size, size), axes=(2, 3))


def _layout(size: int, base, slopes, centres, radii, shade) -> np.ndarray:
    """Base colour, a linear gradient and soft round shapes, n x 3 x size x size.

    Every part is a product of a row profile and a column profile, so all of them together
    are one small sum over parts of outer products, with no per-pixel exp or distance.
    """
    n = len(base)
    coords = (np.arange(size) + 0.5) / size
    ones = np.ones((n, 1, size))
    rows = np.concatenate([ones, slopes[:, 0, None, None] * (coords - 0.5), ones,
                           np.exp(-0.5 * ((coords - centres[:, :, 0, None]) / radii[:, :, None]) ** 2)], axis=1)
    cols = np.concatenate([ones, ones, slopes[:, 1, None, None] * (coords - 0.5),
                           np.exp(-0.5 * ((coords - centres[:, :, 1, None]) / radii[:, :, None]) ** 2)], axis=1)
    grey = np.ones((n, 2, 3))  # gradients lighten or darken all channels alike
    colours = np.concatenate([base[:, None], grey, shade], axis=1)
    weighted_rows = (rows[:, :, None, :] * colours[:, :, :, None]).astype(np.float32)  # n x k x 3 x H
    return np.einsum("nkdh,nkw->ndhw", weighted_rows, cols.astype(np.float32))


def _scenes(rngs: list[np.random.Generator], size: int) -> np.ndarray:
    """Natural-looking float32 images, n x 3 x size x size, grey levels about 0..255: a 1/f
    colour field, a gradient, three soft shapes (faces, objects, lights), sensor noise."""
    n = len(rngs)
    spectra = np.empty((n, 3, size, size // 2 + 1, 2), np.float32)
    sensor_noise = np.empty((n, 3, size, size), np.float32)
    exponent, mixing, base, slopes = np.empty(n), np.empty((n, 3, 3)), np.empty((n, 3)), np.empty((n, 2))
    centres, radii, shade, noise_std = np.empty((n, 3, 2)), np.empty((n, 3)), np.empty((n, 3, 3)), np.empty(n)
    for j, rng in enumerate(rngs):
        exponent[j] = rng.uniform(2.2, 3.0)
        rng.random(dtype=np.float32, out=spectra[j])
        # Colour channels of natural images are strongly correlated: mix shared noise fields.
        mixing[j] = (0.75 + 0.25 * rng.uniform(-1, 1, (3, 3))) * rng.uniform(14, 26)
        base[j] = rng.uniform(70, 180, 3)
        angle, slope = rng.uniform(0, 2 * np.pi), rng.uniform(-60, 60)
        slopes[j] = np.sin(angle) * slope, np.cos(angle) * slope
        centres[j] = rng.uniform(0.15, 0.85, (3, 2))
        radii[j] = rng.uniform(0.08, 0.3, 3)
        shade[j] = rng.uniform(-60, 60, (3, 3))
        noise_std[j] = rng.uniform(1.5, 3.0)
        _fill_uniform(rng, sensor_noise[j])
    images = _mix(mixing, _pink_fields(spectra, exponent, size))
    images += _layout(size, base, slopes, centres, radii, shade)
    sensor_noise *= _per_image(noise_std)
    images += sensor_noise
    return images


def _box_blur3(images: np.ndarray) -> np.ndarray:
    """3 x 3 mean over the two pixel axes of n x 3 x H x W images, edges repeated."""
    padded = np.pad(images, ((0, 0), (0, 0), (1, 1), (1, 1)), mode="edge")
    rows = padded[:, :, :-2] + padded[:, :, 1:-1] + padded[:, :, 2:]
    return (rows[..., :-2] + rows[..., 1:-1] + rows[..., 2:]) / np.float32(9)


def _add_seams(images: np.ndarray, amount: np.ndarray, centres, radii, noise: np.ndarray, shift) -> None:
    """A pasted region from another pipeline: resampled (smoother), re-noised at another
    level and slightly off in colour, blended in with a soft elliptical edge."""
    yy, xx = _unit_grid(images.shape[-1])
    distance2 = (((yy - _per_image(centres[:, 0], 2)) / _per_image(radii[:, 0], 2)) ** 2
                 + ((xx - _per_image(centres[:, 1], 2)) / _per_image(radii[:, 1], 2)) ** 2)
    mask = np.clip((1 - distance2) / np.float32(0.4), 0, 1)[:, None]
    weight = _per_image(amount)
    pasted = _box_blur3(images) * weight + images * (1 - weight)
    pasted += noise * (weight * np.float32(_SEAM_NOISE_GREY))
    pasted += (shift * amount[:, None] * _SEAM_SHIFT_GREY).astype(np.float32)[:, :, None, None]
    images += mask * (pasted - images)


def _add_checkerboards(images: np.ndarray, amount: np.ndarray, source: Source) -> None:
    """A transposed-convolution upsampler's uneven overlap: this generator's periodic gain
    applied to a half-resolution layer, so the pattern follows the content's brightness."""
    size = images.shape[-1]
    half_res = images[:, :, ::2, ::2].mean(axis=1)
    layer = np.repeat(np.repeat(half_res, 2, axis=1), 2, axis=2)[:, :size, :size]
    layer *= _per_image(amount * _CHECKERBOARD_GREY / 128, 2)
    images += _checkerboard_tile(source, size) * layer[:, None]


def _add_spectral_peaks(images: np.ndarray, amount: np.ndarray, phase: np.ndarray, jitter: np.ndarray,
                        source: Source) -> None:
    """Sinusoids at this generator's favourite frequencies, in luminance (JPEG keeps it)."""
    weight = _PEAK_GREY * amount[:, None] * jitter
    # cos(ramp + phase) = cos(ramp) cos(phase) - sin(ramp) sin(phase)
    mixing = np.concatenate([weight * np.cos(phase), -weight * np.sin(phase)], axis=1)[:, :, None]
    images += _mix(mixing, _peak_waves(source, images.shape[-1]))  # n x 1 x H x W: all channels


def _add_traces(rngs: list[np.random.Generator], images: np.ndarray, source: Source) -> None:
    """Give n x 3 x H x W float32 scenes this source's fake traces, in place."""
    n = len(rngs)
    peaks = len(_habits(source)[1])
    intensity, seam_centres, seam_radii, seam_shift = np.empty(n), np.empty((n, 2)), np.empty((n, 2)), np.empty((n, 3))
    seam_noise = np.empty(images.shape, np.float32) if source.seam > 0 else None
    phase, jitter = np.empty((n, peaks)), np.empty((n, peaks))
    for j, rng in enumerate(rngs):
        # Some fakes are well made: all their traces are faint, and they are the hard cases.
        intensity[j] = rng.uniform(0.2, 1.2)
        if source.seam > 0:
            seam_centres[j], seam_radii[j] = rng.uniform(0.3, 0.7, 2), rng.uniform(0.15, 0.3, 2)
            _fill_uniform(rng, seam_noise[j])
            seam_shift[j] = rng.normal(0, 1, 3)  # zero mean over images: colour statistics kept
        if source.spectral > 0:
            phase[j], jitter[j] = rng.uniform(0, 2 * np.pi, peaks), rng.uniform(0.7, 1.0, peaks)
    if source.seam > 0:
        _add_seams(images, np.minimum(1.0, source.seam * intensity), seam_centres, seam_radii, seam_noise,
                   seam_shift)
    if source.checkerboard > 0:
        _add_checkerboards(images, source.checkerboard * intensity, source)
    if source.spectral > 0:
        _add_spectral_peaks(images, source.spectral * intensity, phase, jitter, source)


def _make_images(rngs: list[np.random.Generator], size: int, fakes, source: Source) -> np.ndarray:
    """n x size x size x 3 uint8 images, image j drawn from rngs[j]; fakes[j] says which are fake."""
    if size < _MIN_SIZE:
        raise ValueError(f"size must be at least {_MIN_SIZE} pixels, got {size}")
    images = _scenes(rngs, size)
    fake_rows = np.flatnonzero(np.asarray(fakes, dtype=bool))
    if len(fake_rows):
        fake_images = images[fake_rows]
        _add_traces([rngs[j] for j in fake_rows], fake_images, source)
        images[fake_rows] = fake_images
    images += np.float32(0.5)  # round, not truncate
    np.clip(images, 0, 255, out=images)
    return np.ascontiguousarray(images.astype(np.uint8).transpose(0, 2, 3, 1))


def make_image(rng: np.random.Generator, size: int, fake: bool, source: Source) -> np.ndarray:
    """One size x size x 3 uint8 image; a fake carries the source's traces.

    The scene is drawn first, so the same rng state gives a real and a fake of the same scene.
    """
    return _make_images([rng], size, [fake], source)[0]


# ---- shards ----

def _spell(label: str, case: str) -> str:
    return {"upper": label.upper(), "title": label.title()}.get(case, label.lower())


def _encode(array: np.ndarray, ext: str, jpeg_quality: int) -> bytes:
    buffer = io.BytesIO()
    if ext in ("jpg", "jpeg"):
        Image.fromarray(array).save(buffer, format="JPEG", quality=jpeg_quality)
    else:
        # Stored, not deflated: noisy pixels shrink by a quarter at best, at twice the time.
        Image.fromarray(array).save(buffer, format="PNG", compress_level=0)
    return buffer.getvalue()


def _member(name: str, data: bytes) -> tuple[tarfile.TarInfo, io.BytesIO]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0  # fixed metadata: the same samples give the same bytes
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info, io.BytesIO(data)


def _write_tar_atomic(path: Path, members: list[tuple[str, bytes]]) -> None:
    """Write an uncompressed tar to a temporary name beside `path`, then rename it into place."""
    # A suffix other than .tar: a shard finder globbing *.tar never sees a half-written file.
    with atomic_path(path, suffix=".tmp") as tmp:
        with tarfile.open(tmp, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for name, data in members:
                tar.addfile(*_member(name, data))


def _split_code(split: str) -> int:
    return _SPLIT_CODES.get(split) or zlib.crc32(split.encode())


def _check_arguments(sources, split, n_per_class, size, samples_per_shard, jpeg_quality, size_range) -> None:
    # webdataset's key is the file name up to its first dot: no dots in keys.
    if not split or "/" in split or "." in split:
        raise ValueError(f"split must be a plain name like 'train' or 'test', got {split!r}")
    if n_per_class < 1:
        raise ValueError(f"n_per_class must be at least 1, got {n_per_class}")
    if samples_per_shard < 1:
        raise ValueError(f"samples_per_shard must be at least 1, got {samples_per_shard}")
    if not 1 <= jpeg_quality <= 100:
        raise ValueError(f"jpeg_quality must be in 1..100, got {jpeg_quality}")
    sides = size_range if size_range is not None else (size, size)
    if len(sides) != 2 or not _MIN_SIZE <= sides[0] <= sides[1]:
        raise ValueError(f"size and size_range must be at least {_MIN_SIZE} pixels (low <= high), "
                         f"got size={size}, size_range={size_range}")
    names = [source.name for source in sources]
    if len(set(names)) != len(names):
        raise ValueError(f"source names must be unique, got {names}")
    for source in sources:
        if not source.name or "/" in source.name or "." in source.name:
            raise ValueError(f"source name must be a plain folder name without dots, got {source.name!r}")
        for trace in ("checkerboard", "spectral", "seam"):
            if not 0 <= getattr(source, trace) <= 1:
                raise ValueError(f"{source.name}: {trace} strength must be in 0..1, got {getattr(source, trace)}")
        if source.image_ext not in IMAGE_EXTS:
            raise ValueError(f"{source.name}: image_ext must be one of {IMAGE_EXTS}, got {source.image_ext!r}")
        if source.checkerboard_period not in CHECKERBOARD_PERIODS:
            raise ValueError(f"{source.name}: checkerboard_period must be one of {CHECKERBOARD_PERIODS}, "
                             f"got {source.checkerboard_period!r}")
        if source.label_case not in LABEL_CASES:
            raise ValueError(f"{source.name}: label_case must be one of {LABEL_CASES}, got {source.label_case!r}")


def _source_members(source: Source, source_index: int, split: str, n_per_class: int, size: int,
                    seed: int, jpeg_quality: int, size_range) -> list[tuple[str, bytes]]:
    """All tar members of one source's split, in order: image then json for each key."""
    split_code = _split_code(split)
    order_rng = np.random.default_rng([seed, source_index, split_code, 0])
    is_fake = order_rng.permutation(np.repeat([False, True], n_per_class))
    # Each image has its own RNG stream: shards do not depend on samples_per_shard.
    rngs = [np.random.default_rng([seed, source_index, split_code, 1, i]) for i in range(len(is_fake))]
    if size_range:
        sides = [int(rng.integers(size_range[0], size_range[1] + 1)) for rng in rngs]
        batches = [[i] for i in range(len(rngs))]  # sizes differ: one image at a time
    else:
        sides = [size] * len(rngs)
        per_batch = max(1, _BATCH_PIXELS // (size * size))
        batches = [list(range(start, min(start + per_batch, len(rngs)))) for start in range(0, len(rngs), per_batch)]
    members = []
    for batch in batches:
        images = _make_images([rngs[i] for i in batch], sides[batch[0]], is_fake[batch], source)
        for i, image in zip(batch, images):
            key = f"{source.name}_{split}_{i:06d}"
            members.append((f"{key}.{source.image_ext}", _encode(image, source.image_ext, jpeg_quality)))
            label = _spell("fake" if is_fake[i] else "real", source.label_case)
            members.append((f"{key}.json", json.dumps({"label": label}).encode()))
    return members


def write_shards(root: Path, sources=DEMO_SOURCES, *, split: str, n_per_class: int, size: int = 64,
                 seed: int = 0, samples_per_shard: int = 500, jpeg_quality: int = 92,
                 size_range: tuple[int, int] | None = None) -> list[Path]:
    """Write root/<source.name>/<split>-00000.tar, ... and return the paths written.

    Each source gets n_per_class real and n_per_class fake samples, in a seeded shuffled
    order, at most samples_per_shard per tar. A sample is `<key>.<image_ext>` (JPEG or PNG
    bytes) plus `<key>.json` = {"label": "real" | "fake"} spelled in the source's
    label_case. Images are size x size, or square with a side drawn from size_range
    (inclusive) when given. Same arguments, same bytes.
    """
    _check_arguments(sources, split, n_per_class, size, samples_per_shard, jpeg_quality, size_range)
    root = Path(root)
    written = []
    for source_index, source in enumerate(sources):
        members = _source_members(source, source_index, split, n_per_class, size, seed, jpeg_quality, size_range)
        per_shard = 2 * samples_per_shard
        for number, start in enumerate(range(0, len(members), per_shard)):
            path = root / source.name / f"{split}-{number:05d}.tar"
            _write_tar_atomic(path, members[start:start + per_shard])
            written.append(path)
    return written


def add_bad_samples(shard: Path) -> dict[str, str]:
    """Append four deliberately bad samples to an existing shard (rewritten atomically).

    Returns {key: the reason precompute should record}: a truncated JPEG (corrupt_image),
    an image with no json (missing_label), a json whose label is "maybe" (unknown_label)
    and a json with no image (missing_image). Raises ValueError if the keys already exist.
    """
    shard = Path(shard)
    with tarfile.open(shard, "r:") as tar:
        members = [(m.name, tar.extractfile(m).read()) for m in tar if m.isfile()]
    # Use the shard's own JPEG spelling when it has one, so the bad samples look like its others.
    exts = {name.rsplit(".", 1)[-1] for name, _ in members}
    jpeg_ext = "jpeg" if "jpeg" in exts else "jpg"
    jpeg = _encode(make_image(np.random.default_rng(99), 48, False, DEMO_SOURCES[0]), "jpg", 90)
    bad = {
        "bad_truncated": ([(jpeg_ext, jpeg[: int(len(jpeg) * 0.4)]), ("json", b'{"label": "fake"}')], "corrupt_image"),
        "bad_nolabel": ([(jpeg_ext, jpeg)], "missing_label"),
        "bad_unknown": ([(jpeg_ext, jpeg), ("json", b'{"label": "maybe"}')], "unknown_label"),
        "bad_noimage": ([("json", b'{"label": "real"}')], "missing_image"),
    }
    existing = {name.split(".", 1)[0] for name, _ in members}
    if existing & set(bad):
        raise ValueError(f"{shard} already holds bad samples {sorted(existing & set(bad))}")
    for key, (parts, _) in bad.items():
        members.extend((f"{key}.{ext}", data) for ext, data in parts)
    _write_tar_atomic(shard, members)
    return {key: reason for key, (_, reason) in bad.items()}
