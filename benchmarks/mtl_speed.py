"""Fused temporal MTL training speed: cached features vs frozen extractors recomputed on the fly.

Both measured in one run, step by step in turn, on the same data, model and batches: sequences/s
of the training step (loader, forward, masked losses, backward, AdamW) with the fused features
read from the ``mtl extract`` cache, and with the fused runs' backbones run on every batch
(``fuse.live``). The fused runs are stand-ins with random weights (their speed does not depend on
the weights), exported as ``mtl train`` would, so nothing needs training first.

    python benchmarks/mtl_speed.py [--scale small | --data PATH] [--seq 10] [--fuse 2] [--steps 20]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch


def stand_in_run(folder: Path, img_size: int, seed: int) -> Path:
    from mtl.model import MTLArchitecture, build_model
    from mtl.runs import save_mtl

    torch.manual_seed(seed)
    arch = MTLArchitecture(backbone="vit_face_tiny", img_size=img_size, tasks=["au"], head_sizes=[12])
    save_mtl(build_model(arch), folder / "best", arch, {
        "mean": [0.5] * 3, "std": [0.5] * 3,
        "sequence": {"length": 1, "stride": 1}, "fuse": [], "metrics": {}, "config": {},
    })
    return folder


class StepTimer:
    """Training steps of one task as the trainer runs them (loader, step, backward, AdamW), timed."""

    def __init__(self, task):
        import timm.optim

        torch.manual_seed(0)
        self.task, self.model = task, task.build_model().train()
        self.optimizer = timm.optim.create_optimizer_v2(self.model, "adamw", lr=1e-4, weight_decay=0.05)
        self.batches, self.epoch, self.seconds, self.sequences = iter(()), 0, [], 0

    def step(self, timed: bool = True) -> None:
        started = time.perf_counter()
        batch = next(self.batches, None)
        if batch is None:
            from cer.task import data_loader

            data = self.task.train_data(0, 1)
            data.sampler.set_epoch(self.epoch)
            self.batches = iter(data_loader(data))
            self.epoch += 1
            batch = next(self.batches)
        out = self.task.training_step(self.model, batch, torch.Generator().manual_seed(len(self.seconds)))
        out["loss"].backward()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        if timed:
            self.seconds.append(time.perf_counter() - started)
            self.sequences = batch["images"].shape[0]

    def sequences_per_second(self) -> float:
        """From the median step: robust to the odd step slowed down by something else on the machine."""
        return self.sequences / statistics.median(self.seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", default="small", choices=["tiny", "small", "default"],
                        help="synthetic Aff-Wild2 scale (generated once into the cache)")
    parser.add_argument("--data", default=None, help="s-Aff-Wild2 root to read instead of the synthetic set")
    parser.add_argument("--seq", type=int, default=10, help="sequence length S")
    parser.add_argument("--fuse", type=int, default=2, help="number of fused runs")
    parser.add_argument("--batch-frames", type=int, default=64, help="frames per step (optim.batch_size)")
    parser.add_argument("--img-size", type=int, default=96)
    parser.add_argument("--steps", type=int, default=20, help="timed training steps per mode")
    args = parser.parse_args()

    from cer.config import load_config
    from mtl.config import MTLConfig
    from mtl.task import MTLTask

    with tempfile.TemporaryDirectory() as tmp:
        runs = [str(stand_in_run(Path(tmp) / f"run{i}", args.img_size, i)) for i in range(args.fuse)]
        timers = {}
        for live in (False, True):
            cfg = load_config(MTLConfig, overrides=[
                f"data.synthetic_scale={args.scale}", "data.val=null", "tasks.joint=au,va,a",
                f"sequence.length={args.seq}", f"fuse.runs={runs}", f"fuse.live={str(live).lower()}",
                f"model.img_size={args.img_size}", f"optim.batch_size={args.batch_frames}", "train.progress=false",
                *([f"data.train.path={args.data}"] if args.data else []),
            ])
            started = time.perf_counter()
            timers[live] = StepTimer(MTLTask(cfg))  # decodes the frames; cached mode extracts features once
            print(f"set-up ({'live' if live else 'cached'}): {time.perf_counter() - started:.1f} s", flush=True)
        for timer in timers.values():
            timer.step(timed=False)  # warm-up
        # Interleaved, so that whatever else runs on the machine slows both modes alike.
        for _ in range(args.steps):
            for timer in timers.values():
                timer.step()
        rates = {live: timer.sequences_per_second() for live, timer in timers.items()}
        for live, rate in rates.items():
            mode = "live extractors" if live else "cached features"
            print(f"{mode:>16}: {rate:7.2f} sequences/s ({rate * args.seq:7.1f} frames/s)")
    print(f"S={args.seq}, {args.fuse} fused runs, {args.batch_frames} frames/step, {args.img_size} px, "
          f"{torch.get_num_threads()} threads: cached / live = {rates[False] / rates[True]:.2f}x")


if __name__ == "__main__":
    main()
