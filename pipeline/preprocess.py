"""The one preprocessing path: image bytes -> RGB picture -> the notebook's eval tensor.

Shared by the pipeline, the demo trainer and the tests, so all three see the same pixels:
Resize(size) -> CenterCrop(crop) -> ToTensor -> Normalize(image_mean, image_std), with
sizes taken from the checkpoint's image processor as the notebook did.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image

# Refuse images above this many pixels per sample rather than let one exhaust memory.
DEFAULT_MAX_PIXELS = 178_956_970  # Pillow's own "error" threshold (2 x MAX_IMAGE_PIXELS)


class ImageDecodeError(Exception):
    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class EvalSettings:
    size: int | tuple[int, int]   # Resize argument: shortest edge, or (height, width)
    crop: tuple[int, int]         # CenterCrop (height, width)
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def to_json(self) -> dict:
        data = asdict(self)
        data["interpolation"] = "bilinear"
        return data


def eval_settings(processor) -> EvalSettings:
    """The notebook's transform sizes from a Hugging Face image processor."""
    size = dict(processor.size)
    if "height" in size and "width" in size:
        resize = (int(size["height"]), int(size["width"]))
        crop = resize
    elif "shortest_edge" in size:
        resize = int(size["shortest_edge"])
        crop = (resize, resize)
    else:
        raise ValueError(f"image processor size {size} has neither height/width nor shortest_edge")
    crop_size = getattr(processor, "crop_size", None)
    if getattr(processor, "do_center_crop", False) and crop_size and "height" in crop_size:
        crop = (int(crop_size["height"]), int(crop_size["width"]))
    mean = tuple(float(v) for v in processor.image_mean)
    std = tuple(float(v) for v in processor.image_std)
    return EvalSettings(resize, crop, mean, std)


def eval_transform(settings: EvalSettings):
    """torchvision Compose of the notebook's evaluation transform."""
    from torchvision import transforms  # torch only where tensors are made

    return transforms.Compose(
        [
            transforms.Resize(settings.size),
            transforms.CenterCrop(settings.crop),
            transforms.ToTensor(),
            transforms.Normalize(mean=settings.mean, std=settings.std),
        ]
    )


def _to_rgb(image: Image.Image) -> Image.Image:
    """RGB for every valid mode: 16-bit and float greyscale are rescaled, not clipped to white."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or values.max(initial=0) > 255 else 255.0
        if image.mode == "F":
            top = max(float(values.max(initial=1.0)), 1e-12)
        image = Image.fromarray(np.clip(values / top * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    elif image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    return image if image.mode == "RGB" else image.convert("RGB")


def load_rgb(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Decode image bytes fully into an RGB picture, or raise ImageDecodeError with a reason."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > max_pixels:
                raise ImageDecodeError(
                    "decompression_bomb", f"{width}x{height} exceeds {max_pixels} pixels"
                )
            image.load()  # a truncated file fails here, not later inside a transform
            return _to_rgb(image)
    except ImageDecodeError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageDecodeError("decompression_bomb", str(exc)[:200]) from None
    except Exception as exc:  # Pillow raises many types for bad bytes; all mean the same here
        raise ImageDecodeError("corrupt_image", f"{type(exc).__name__}: {exc}"[:200]) from None
