"""Real files for tests: tar shards written member by member, and small checkpoints built
from transformers configs (random weights: the tests compare against independent passes)."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image


def encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format={"jpg": "JPEG", "jpeg": "JPEG"}.get(fmt, fmt.upper()), **kwargs)
    return buffer.getvalue()


def noise_image(seed: int, size=(40, 48), mode="RGB") -> Image.Image:
    rng = np.random.default_rng(seed)
    array = rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
    return Image.fromarray(array, "RGB").convert(mode)


def write_tar(path: Path, samples: list[tuple[str, dict[str, bytes]]]) -> Path:
    """samples: [(key, {extension: bytes})]; members are written in the given order."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w") as tar:
        for key, members in samples:
            for ext, data in members.items():
                info = tarfile.TarInfo(f"{key}.{ext}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return path


def label_json(label: str) -> bytes:
    return json.dumps({"label": label}).encode()


def simple_shard(path: Path, n: int, seed: int = 0, fmt: str = "png", prefix: str = "s") -> Path:
    samples = []
    for i in range(n):
        label = "fake" if i % 2 else "REAL"
        samples.append((f"{prefix}{i:04d}", {fmt: encode(noise_image(seed * 1000 + i), fmt), "json": label_json(label)}))
    return write_tar(path, samples)


def save_checkpoint(model, path: Path, size: int = 32, shortest_edge: bool = False) -> Path:
    from transformers import ViTImageProcessor

    model.save_pretrained(path)
    if shortest_edge:
        processor = ViTImageProcessor(size={"shortest_edge": size}, image_mean=[0.5, 0.4, 0.3], image_std=[0.2, 0.25, 0.3])
    else:
        processor = ViTImageProcessor(size={"height": size, "width": size}, image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5])
    processor.save_pretrained(path)
    return path


def vit_checkpoint(path: Path, id2label=None, seed: int = 0, size: int = 32) -> Path:
    import torch
    from transformers import ViTConfig, ViTForImageClassification

    id2label = id2label or {0: "REAL", 1: "FAKE"}
    torch.manual_seed(seed)
    config = ViTConfig(image_size=size, patch_size=8, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                       intermediate_size=64, num_labels=2, id2label=id2label,
                       label2id={v: k for k, v in id2label.items()})
    return save_checkpoint(ViTForImageClassification(config), path, size)


def convnext_checkpoint(path: Path, seed: int = 0, size: int = 32) -> Path:
    import torch
    from transformers import ConvNextConfig, ConvNextForImageClassification

    torch.manual_seed(seed)
    config = ConvNextConfig(num_channels=3, hidden_sizes=[8, 16], depths=[1, 1], num_stages=2,
                            num_labels=2, id2label={0: "fake", 1: "real"}, label2id={"fake": 0, "real": 1})
    return save_checkpoint(ConvNextForImageClassification(config), path, size, shortest_edge=True)


def resnet_checkpoint(path: Path, seed: int = 0, size: int = 32) -> Path:
    import torch
    from transformers import ResNetConfig, ResNetForImageClassification

    torch.manual_seed(seed)
    config = ResNetConfig(embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], layer_type="basic", num_labels=2)
    return save_checkpoint(ResNetForImageClassification(config), path, size)
