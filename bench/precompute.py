"""Benchmark: fakescope's precompute against the notebook's method, in the same run.

    python bench/precompute.py [--device cpu|cuda] [--model tiny|vit-base] [--images N]

- ours: `pipeline.precompute.run` over generated shards (realistic JPEGs of 256-512 px);
- notebook: `datasets.load_dataset("webdataset")` + `.map` with torchvision transforms,
  DataLoader batch 1024, the classifier loaded and run, then `AutoModel` loaded and run
  again, fp32, results gathered in Python lists;
- bound: the same forward pass on tensors already on the device (the model alone).

Prints a table, then one JSON line last. Never passes or fails on time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def make_checkpoint(folder: Path, model: str) -> Path:
    import torch
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    torch.manual_seed(0)
    if model == "vit-base":  # ViT-B/16 at 224 px; random weights: speed does not depend on them
        config = ViTConfig(num_labels=2)
    else:  # ViT-Ti/16 at 224 px
        config = ViTConfig(hidden_size=192, num_hidden_layers=12, num_attention_heads=3, intermediate_size=768,
                           num_labels=2)
    config.id2label, config.label2id = {0: "REAL", 1: "FAKE"}, {"REAL": 0, "FAKE": 1}
    ViTForImageClassification(config).save_pretrained(folder)
    ViTImageProcessor(size={"height": 224, "width": 224}).save_pretrained(folder)
    return folder


def run_ours(data_root: Path, checkpoint: Path, cache: Path, device: str, num_workers: int | None) -> float:
    from pipeline.precompute import Options, run

    started = time.perf_counter()
    run(Options(data_root=data_root, checkpoints=[("bench", checkpoint)], cache_dir=cache, device=device,
                num_workers=num_workers, progress=False), log=lambda message: None)
    return time.perf_counter() - started


def run_notebook(data_root: Path, checkpoint: Path, device: str, workdir: Path) -> tuple[float, int]:
    """The research notebook's way, kept faithful: two models, two passes, fp32, lists."""
    import torch
    from datasets import load_dataset
    from torch.utils.data import DataLoader
    from torchvision.transforms import CenterCrop, Compose, Normalize, Resize, ToTensor
    from transformers import AutoImageProcessor, AutoModel, AutoModelForImageClassification

    started = time.perf_counter()
    processor = AutoImageProcessor.from_pretrained(checkpoint)
    size = (processor.size["height"], processor.size["width"])
    val_transforms = Compose([Resize(size), CenterCrop(size), ToTensor(),
                              Normalize(mean=processor.image_mean, std=processor.image_std)])
    files = sorted(str(p) for p in data_root.rglob("test-*.tar"))
    dataset = load_dataset("webdataset", data_files={"test": files}, split="test", cache_dir=str(workdir / "hf"))
    image_column = next(c for c in dataset.column_names if c in ("jpg", "jpeg", "png", "webp"))

    def transform(batch):
        batch["pixel_values"] = [val_transforms(image.convert("RGB")) for image in batch[image_column]]
        batch["labels"] = [1 if meta["label"].lower() == "fake" else 0 for meta in batch["json"]]
        return batch

    dataset = dataset.map(transform, batched=True, remove_columns=dataset.column_names)
    dataset.set_format("torch", columns=["pixel_values", "labels"])
    loader = DataLoader(dataset, batch_size=1024)

    model = AutoModelForImageClassification.from_pretrained(checkpoint).to(device).eval()
    predictions, probabilities = [], []
    with torch.no_grad():
        for batch in loader:
            logits = model(batch["pixel_values"].to(device)).logits
            predictions.extend(logits.argmax(-1).cpu().tolist())
            probabilities.extend(torch.softmax(logits, -1)[:, 1].cpu().tolist())
    del model
    base = AutoModel.from_pretrained(checkpoint).to(device).eval()
    embeddings = []
    with torch.no_grad():
        for batch in loader:
            hidden = base(batch["pixel_values"].to(device)).last_hidden_state
            embeddings.extend(hidden.reshape(hidden.shape[0], -1).cpu().numpy())
    return time.perf_counter() - started, len(predictions)


def run_bound(checkpoint: Path, device: str, images: int, batch_size: int) -> float:
    """Seconds for the model alone over `images` images already on the device."""
    import torch
    from transformers import AutoModelForImageClassification

    model = AutoModelForImageClassification.from_pretrained(checkpoint).to(device).eval()
    pixels = torch.randn(batch_size, 3, 224, 224, device=device)
    cuda = device == "cuda"
    if cuda:
        model.to(memory_format=torch.channels_last)
        pixels = pixels.contiguous(memory_format=torch.channels_last)

    def one_batch():
        with torch.inference_mode():
            if cuda:
                with torch.autocast("cuda", dtype=torch.bfloat16):
                    return model(pixel_values=pixels).logits
            return model(pixel_values=pixels).logits

    one_batch()  # warm-up
    if cuda:
        torch.cuda.synchronize()
    batches = max(1, images // batch_size)
    started = time.perf_counter()
    for _ in range(batches):
        one_batch()
    if cuda:
        torch.cuda.synchronize()
    return (time.perf_counter() - started) * images / (batches * batch_size)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--model", choices=("tiny", "vit-base"), default="tiny")
    parser.add_argument("--images", type=int, default=None, help="test images (default: 512 cpu, 8192 cuda)")
    parser.add_argument("--num-workers", type=int, default=None, help="ours: decoding workers (default: ours)")
    parser.add_argument("--keep", type=Path, default=None, help="build shards here and keep them")
    args = parser.parse_args()
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            print("error: --device cuda but torch sees no CUDA GPU.", file=sys.stderr)
            return 2
    images = args.images or (8192 if args.device == "cuda" else 512)

    from pipeline import synth

    workdir = Path(tempfile.mkdtemp(prefix="fakescope-bench-"))
    try:
        data_root = (args.keep or workdir) / "webdataset"
        sources = synth.DEMO_SOURCES[:1]
        per_class = images // 2
        started = time.perf_counter()
        synth.write_shards(data_root, sources, split="test", n_per_class=per_class, seed=3,
                           samples_per_shard=512, size_range=(256, 512))
        # JPEG, like most real test sets
        print(f"shards: {images} JPEGs of 256-512 px written in {time.perf_counter() - started:.1f}s")
        checkpoint = make_checkpoint(workdir / "checkpoint", args.model)

        ours_s = run_ours(data_root, checkpoint, workdir / "cache", args.device, args.num_workers)
        notebook_s, counted = run_notebook(data_root, checkpoint, args.device, workdir)
        bound_s = run_bound(checkpoint, args.device, images, 256 if args.device == "cuda" else 64)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    result = {
        "device": args.device if args.device == "cpu" else _gpu_name(),
        "model": args.model,
        "images": images,
        "ours_img_s": round(images / ours_s, 2),
        "notebook_img_s": round(counted / notebook_s, 2),
        "speedup": round(notebook_s / ours_s * images / counted, 2),
        "bound_img_s": round(images / bound_s, 2),
        "fraction_of_bound": round(bound_s / ours_s, 3),
    }
    print(f"\n{'method':<28}{'seconds':>10}{'img/s':>10}")
    print(f"{'ours (pipeline.precompute)':<28}{ours_s:>10.2f}{result['ours_img_s']:>10.2f}")
    print(f"{'notebook (datasets, 2 runs)':<28}{notebook_s:>10.2f}{result['notebook_img_s']:>10.2f}")
    print(f"{'model-only bound':<28}{bound_s:>10.2f}{result['bound_img_s']:>10.2f}")
    print(f"speedup {result['speedup']}x, {result['fraction_of_bound']:.0%} of the model-only bound, "
          f"cpu cores: {os.cpu_count()}")
    print(json.dumps(result))
    return 0


def _gpu_name() -> str:
    import torch

    return f"cuda ({torch.cuda.get_device_name(0)})"


if __name__ == "__main__":
    sys.exit(main())
