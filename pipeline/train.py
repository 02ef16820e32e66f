"""A small, honest trainer for the demo's checkpoints: read a split's shards through the
same preprocessing as the pipeline, fine-tune an image classifier, report accuracy."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from pipeline.preprocess import EvalSettings, ImageDecodeError, eval_transform, load_rgb
from pipeline.shards import discover_shards, index_shard, read_member


def load_split(data_root: Path, split: str, settings: EvalSettings, datasets: list[str] | None = None):
    """(pixels N x 3 x H x W, labels N, dataset names N) of a split; unusable samples are left out."""
    transform = eval_transform(settings)
    pixels, labels, names = [], [], []
    for dataset, path in discover_shards(data_root, split, datasets):
        shard = index_shard(dataset, path, Path(data_root))
        for sample in shard.samples:
            try:
                image = load_rgb(read_member(path, sample.image_offset, sample.image_size))
            except ImageDecodeError:
                continue
            pixels.append(transform(image))
            labels.append(sample.label)
            names.append(dataset)
    return torch.stack(pixels), torch.tensor(labels, dtype=torch.long), np.array(names)


def train_classifier(model: nn.Module, pixels: torch.Tensor, labels: torch.Tensor, *, fake_index: int = 1,
                     epochs: int, batch_size: int = 64, lr: float = 1e-3, seed: int = 0, log=print) -> nn.Module:
    """Fine-tune `model` (an HF image classifier) with AdamW and a one-cycle schedule.

    `labels` are 0 REAL / 1 FAKE; they are mapped onto the model's own class order through
    `fake_index`. Random horizontal flips are the only augmentation (they keep the traces).
    """
    generator = torch.Generator().manual_seed(seed)
    targets = labels if fake_index == 1 else 1 - labels
    steps_per_epoch = math.ceil(len(pixels) / batch_size)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.05)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=epochs * steps_per_epoch,
                                                   pct_start=0.15)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    for epoch in range(epochs):
        started = time.perf_counter()
        order = torch.randperm(len(pixels), generator=generator)
        total, correct, loss_sum = 0, 0, 0.0
        for start in range(0, len(order), batch_size):
            index = order[start:start + batch_size]
            batch = pixels[index]
            flip = torch.rand(len(index), generator=generator) < 0.5
            batch = torch.where(flip[:, None, None, None], batch.flip(-1), batch)
            logits = model(pixel_values=batch).logits
            loss = loss_fn(logits, targets[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            loss_sum += loss.detach().item() * len(index)
            correct += int((logits.argmax(1) == targets[index]).sum())
            total += len(index)
        log(f"  epoch {epoch + 1}/{epochs}: loss {loss_sum / total:.4f}, train accuracy {correct / total:.3f} "
            f"({time.perf_counter() - started:.1f}s)")
    return model.eval()
