"""Loading a local Hugging Face image classifier once, and taking logits and an embedding
from the same forward pass.

Which output index means FAKE comes from the checkpoint's own `id2label` when it names
REAL and FAKE (in any case); generic names (LABEL_0, LABEL_1) mean the notebook's
REAL=0, FAKE=1. The embedding is captured with hooks, so it works for any architecture:
`head` is the input of the classification layer (ViT's final CLS token, ConvNeXt's
pooled features), `mean` averages the base model's last hidden state over tokens or
positions, `last_hidden_state` is that state flattened (the notebook's AutoModel output).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from pipeline.errors import UserError
from pipeline.preprocess import EvalSettings, eval_settings

EMBEDDING_KINDS = ("head", "mean", "last_hidden_state")
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json", "pytorch_model.bin.index.json")
_GENERIC = {0: "label_0", 1: "label_1"}


@dataclass
class LabelMapping:
    fake_index: int
    source: str  # "id2label" or "generic (LABEL_0=REAL, LABEL_1=FAKE)"
    id2label: dict[int, str] = field(default_factory=dict)


def resolve_label_mapping(id2label: dict) -> LabelMapping:
    """Which logit is FAKE, or UserError when the names are neither REAL/FAKE nor generic."""
    labels = {int(k): str(v) for k, v in id2label.items()}
    if len(labels) != 2:
        raise UserError(
            f"the classifier has {len(labels)} classes ({', '.join(labels.values())}); fakescope needs "
            "exactly two (REAL and FAKE)."
        )
    lowered = {k: v.strip().lower() for k, v in labels.items()}
    if sorted(lowered.values()) == ["fake", "real"]:
        fake = next(k for k, v in lowered.items() if v == "fake")
        return LabelMapping(fake, "id2label", labels)
    if lowered == _GENERIC:
        return LabelMapping(1, "generic (LABEL_0=REAL, LABEL_1=FAKE)", labels)
    raise UserError(
        f"the classifier's id2label {labels} names neither REAL/FAKE nor LABEL_0/LABEL_1; "
        "set id2label in its config.json to {\"0\": \"REAL\", \"1\": \"FAKE\"} (or the order it was trained with)."
    )


def checkpoint_files(path: Path) -> list[Path]:
    """The files whose content defines the checkpoint's outputs, for hashing."""
    files = [path / "config.json", path / "preprocessor_config.json"]
    for name in WEIGHT_FILES:
        if (path / name).exists():
            files.append(path / name)
            if name.endswith(".index.json"):
                shards = set(json.loads((path / name).read_text())["weight_map"].values())
                files.extend(path / s for s in sorted(shards))
    return [f for f in files if f.exists()]


def checkpoint_hash(path: Path) -> str:
    digest = hashlib.sha256()
    for file in checkpoint_files(path):
        digest.update(file.name.encode())
        with open(file, "rb") as f:
            while chunk := f.read(1 << 22):
                digest.update(chunk)
    return digest.hexdigest()[:16]


@dataclass
class CheckpointInfo:
    """What can be checked without loading weights: used to validate flags up front."""

    name: str
    path: Path
    model_class: str
    labels: LabelMapping


def inspect_checkpoint(name: str, path: Path) -> CheckpointInfo:
    """Check that `path` is a local two-class image classifier; raise UserError if not."""
    from transformers import AutoConfig

    path = Path(path)
    if not path.is_dir():
        raise UserError(f"Checkpoint {name}: {path} is not a folder; pass --checkpoint NAME=PATH to a local Hugging Face checkpoint.")
    if not (path / "config.json").exists():
        raise UserError(f"Checkpoint {name}: {path} has no config.json; it is not a Hugging Face checkpoint.")
    if not any((path / w).exists() for w in WEIGHT_FILES):
        raise UserError(f"Checkpoint {name}: {path} has no weights (model.safetensors or pytorch_model.bin).")
    try:
        config = AutoConfig.from_pretrained(path, local_files_only=True)
    except Exception as exc:
        raise UserError(f"Checkpoint {name}: config.json in {path} cannot be read ({exc}).".replace("\n", " ")) from None
    classes = [a for a in (config.architectures or []) if "ForImageClassification" in a]
    if not classes:
        raise UserError(
            f"Checkpoint {name}: {path} is a {', '.join(config.architectures or [config.model_type])}, "
            "not an image classifier (…ForImageClassification)."
        )
    try:
        labels = resolve_label_mapping(config.id2label)
    except UserError as exc:
        raise UserError(f"Checkpoint {name}: {exc}") from None
    if not (path / "preprocessor_config.json").exists():
        raise UserError(
            f"Checkpoint {name}: {path} has no preprocessor_config.json; save the image processor with the model."
        )
    return CheckpointInfo(name, path, classes[0], labels)


def find_head(model: nn.Module, num_labels: int) -> nn.Linear:
    """The classification layer: the last Linear producing `num_labels` outputs."""
    heads = [m for m in model.modules() if isinstance(m, nn.Linear) and m.out_features == num_labels]
    if not heads:
        raise UserError(
            f"cannot find the classification layer of {type(model).__name__}; use --embedding mean instead."
        )
    return heads[-1]


class EmbeddingCapture:
    """Hooks that keep the chosen embedding of the latest forward pass in `.value`."""

    def __init__(self, model: nn.Module, kind: str, num_labels: int):
        if kind not in EMBEDDING_KINDS:
            raise UserError(f"unknown embedding {kind!r}; choose one of {', '.join(EMBEDDING_KINDS)}.")
        self.kind = kind
        self.value: torch.Tensor | None = None
        if kind == "head":
            head = find_head(model, num_labels)
            self._handle = head.register_forward_pre_hook(self._on_head_input)
        else:
            self._handle = model.base_model.register_forward_hook(self._on_base_output)

    def _on_head_input(self, module, args):
        self.value = args[0].flatten(1)

    def _on_base_output(self, module, args, output):
        hidden = output[0] if isinstance(output, tuple) else output.last_hidden_state
        if self.kind == "last_hidden_state":
            self.value = hidden.flatten(1)
        elif hidden.dim() == 4:  # (batch, channels, height, width): average positions
            self.value = hidden.mean(dim=(2, 3))
        else:  # (batch, tokens, dim): average tokens
            self.value = hidden.mean(dim=1)

    def remove(self):
        self._handle.remove()


@dataclass
class LoadedCheckpoint:
    info: CheckpointInfo
    model: nn.Module
    settings: EvalSettings
    hash: str
    device: torch.device

    @property
    def name(self) -> str:
        return self.info.name


def load_checkpoint(info: CheckpointInfo, device: torch.device) -> LoadedCheckpoint:
    """Load weights and image processor once, in eval mode, on `device`."""
    from transformers import AutoImageProcessor, AutoModelForImageClassification
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # our own bar reports progress; theirs only adds noise
    try:
        model = AutoModelForImageClassification.from_pretrained(info.path, local_files_only=True)
        processor = AutoImageProcessor.from_pretrained(info.path, local_files_only=True)
    except Exception as exc:
        raise UserError(f"Checkpoint {info.name}: cannot load {info.path} ({exc}).".replace("\n", " ")) from None
    model.eval().to(device)
    if device.type == "cuda":
        model.to(memory_format=torch.channels_last)
    return LoadedCheckpoint(info, model, eval_settings(processor), checkpoint_hash(info.path), device)


def forward_batch(
    checkpoint: LoadedCheckpoint, capture: EmbeddingCapture, pixels: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits float32, embedding) for one batch, from a single forward pass."""
    device = checkpoint.device
    pixels = pixels.to(device, non_blocking=True)
    with torch.inference_mode():
        if device.type == "cuda":
            pixels = pixels.contiguous(memory_format=torch.channels_last)
            with torch.autocast("cuda", dtype=torch.bfloat16):
                logits = checkpoint.model(pixel_values=pixels).logits
        else:
            logits = checkpoint.model(pixel_values=pixels).logits
    return logits.float(), capture.value.float()
