"""Trainer overhead: end-to-end training images/s of ``cer.train``'s loop (images read from disk and
decoded, curriculum sampler, augmentation, on-device CutMix/Mixup, checkpoints, logging) over a bare
forward/backward/AdamW loop of the same model and batch size on tensors already in memory. Both are
measured in one run, one after the other; the goal is a ratio >= 0.9.

    python benchmarks/train_overhead.py [--scale small] [--epochs 2] [--batch 64]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch


def trainer_images_per_second(args: argparse.Namespace, run_dir: Path) -> tuple[float, float, int]:
    from cer.compound.config import CEConfig
    from cer.compound.task import CompoundTask
    from cer.config import load_config, to_dict
    from cer.trainer import Trainer

    cfg = load_config(CEConfig, overrides=[
        f"data.synthetic_scale={args.scale}", "data.val=null", f"optim.batch_size={args.batch}",
        f"curriculum.epochs=[{args.epochs}]", "curriculum.compound=[0.4]", f"model.img_size={args.img_size}",
        "train.progress=false", "train.keep_checkpoints=1",
    ])
    started = time.perf_counter()
    task = CompoundTask(cfg)  # reads the label files and decodes every image once
    setup = time.perf_counter() - started
    images = sum(task.counts.epoch_length(e) for e in range(task.num_epochs()))
    trainer = Trainer(task, cfg.optim, cfg.train, run_dir, to_dict(cfg))
    started = time.perf_counter()
    trainer.fit()
    return images / (time.perf_counter() - started), setup, images


def bare_images_per_second(args: argparse.Namespace, images: int) -> float:
    import timm.optim

    from cer.models.backbone import create_backbone

    torch.manual_seed(0)
    model = create_backbone("vit_face_tiny", args.img_size, 6, drop_path=0.1).train()
    optimizer = timm.optim.create_optimizer_v2(model, "adamw", lr=1e-3, weight_decay=0.05)
    x = torch.randn(args.batch, 3, args.img_size, args.img_size)
    y = (torch.rand(args.batch, 6) > 0.7).float()
    steps = max(1, images // args.batch)
    started = time.perf_counter()
    for _ in range(steps):
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x), y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return steps * args.batch / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="small", choices=["tiny", "small", "default"],
                        help="synthetic data scale (generated once into the cache)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--img-size", type=int, default=96)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        trainer_ips, setup, images = trainer_images_per_second(args, Path(tmp))
    bare_ips = bare_images_per_second(args, images)
    print(f"images trained: {images} ({args.epochs} epochs, 40 % compound, batch {args.batch}, "
          f"{args.img_size} px, {torch.get_num_threads()} threads)")
    print(f"data set set-up (read labels, decode every image once): {setup:.1f} s")
    print(f"trainer end to end : {trainer_ips:8.1f} images/s")
    print(f"bare fwd/bwd loop  : {bare_ips:8.1f} images/s")
    print(f"ratio trainer/bare : {trainer_ips / bare_ips:.3f}   (goal >= 0.9)")


if __name__ == "__main__":
    main()
