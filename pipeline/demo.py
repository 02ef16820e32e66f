"""`python -m pipeline.demo --out DIR`: a small world to see fakescope working in minutes.

Builds, deterministically: DIR/webdataset/ (synthetic real and fake images from several
sources, train and test splits, a few deliberately bad samples), DIR/checkpoints/v4 and
v5 (two small ViT classifiers trained on the train split: v4 shorter and without one
source, v5 longer on all), and DIR/cache made by the same precompute as real data.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from cache.io import remove_own_temporaries
from pipeline.errors import UserError, sigterm_as_interrupt


@dataclass(frozen=True)
class Profile:
    train_per_class: int   # per source
    test_per_class: int    # per source
    image_size: int
    v4_epochs: int
    v5_epochs: int
    samples_per_shard: int


PROFILES = {
    "full": Profile(train_per_class=500, test_per_class=400, image_size=64, v4_epochs=3, v5_epochs=8,
                    samples_per_shard=400),
    "tiny": Profile(train_per_class=40, test_per_class=24, image_size=32, v4_epochs=1, v5_epochs=2,
                    samples_per_shard=24),
}
HELD_OUT_FROM_V4 = "gan_png"  # v4 never saw this source in training: v5 should fix it


def _vit(image_size: int, seed: int):
    import torch
    from transformers import ViTConfig, ViTForImageClassification

    torch.manual_seed(seed)
    config = ViTConfig(
        image_size=image_size, patch_size=8, hidden_size=64, num_hidden_layers=4, num_attention_heads=4,
        intermediate_size=128, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, num_labels=2,
        id2label={0: "REAL", 1: "FAKE"}, label2id={"REAL": 0, "FAKE": 1},
    )
    return ViTForImageClassification(config)


def _processor(image_size: int):
    from transformers import ViTImageProcessor

    return ViTImageProcessor(size={"height": image_size, "width": image_size},
                             image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5])


def build_data(out: Path, profile: Profile, progress=print) -> Path:
    from pipeline import synth

    data_root = out / "webdataset"
    started = time.perf_counter()
    common = dict(size=profile.image_size, samples_per_shard=profile.samples_per_shard)
    synth.write_shards(data_root, split="train", n_per_class=profile.train_per_class, seed=1, **common)
    test_shards = synth.write_shards(data_root, split="test", n_per_class=profile.test_per_class, seed=2, **common)
    synth.add_bad_samples(sorted(test_shards)[0])
    progress(f"demo: wrote shards of {len(synth.DEMO_SOURCES)} sources to {data_root} "
             f"({time.perf_counter() - started:.1f}s)")
    return data_root


def build_checkpoints(out: Path, data_root: Path, profile: Profile, progress=print) -> dict[str, Path]:
    import torch

    from pipeline.preprocess import eval_settings
    from pipeline.train import load_split, train_classifier

    torch.manual_seed(0)
    processor = _processor(profile.image_size)
    pixels, labels, names = load_split(data_root, "train", eval_settings(processor))
    seen_by_v4 = torch.from_numpy(names != HELD_OUT_FROM_V4)
    plans = {
        "v4": (pixels[seen_by_v4], labels[seen_by_v4], profile.v4_epochs, 4),
        "v5": (pixels, labels, profile.v5_epochs, 5),
    }
    checkpoints = {}
    for name, (x, y, epochs, seed) in plans.items():
        progress(f"demo: training {name} on {len(x)} images for {epochs} epochs")
        model = train_classifier(_vit(profile.image_size, seed), x, y, epochs=epochs, seed=seed, log=progress)
        target = out / "checkpoints" / name
        model.save_pretrained(target)
        processor.save_pretrained(target)
        checkpoints[name] = target
    return checkpoints


def build_demo(out: Path, *, profile: str = "full", progress=print, force: bool = False) -> Path:
    """Build the demo under `out` and return its cache folder (out/cache)."""
    from pipeline.precompute import Options, run

    if profile not in PROFILES:
        raise UserError(f"Unknown demo profile {profile!r}; choose one of {', '.join(PROFILES)}.")
    out = Path(out)
    cache = out / "cache"
    if force:
        for part in ("webdataset", "checkpoints", "cache"):
            shutil.rmtree(out / part, ignore_errors=True)
    started = time.perf_counter()
    settings = PROFILES[profile]
    data_root = build_data(out, settings, progress)
    checkpoints = build_checkpoints(out, data_root, settings, progress)
    run(Options(data_root=data_root, checkpoints=list(checkpoints.items()), cache_dir=cache,
                progress=progress is print), log=progress)
    progress(f"demo: ready in {time.perf_counter() - started:.0f}s; cache at {cache}")
    return cache


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("data"), help="folder to build in (default: data)")
    parser.add_argument("--profile", choices=sorted(PROFILES), default="full",
                        help="full: the demo (about 2 minutes); tiny: seconds, for tests")
    parser.add_argument("--force", action="store_true", help="delete an earlier demo under --out first")
    args = parser.parse_args(argv)
    sigterm_as_interrupt()
    try:
        build_demo(args.out, profile=args.profile, force=args.force)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        remove_own_temporaries()
        print("interrupted: run the same command again to build the demo.", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
