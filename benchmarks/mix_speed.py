"""Speed of compound synthesis: augment.CompoundSynthesizer against timm.data.Mixup, one run.

Same batch for both: N float images [N, 3, S, S] with 6-class labels. Ours draws N pairs (each row
with a random partner) and mixes half of them with Mixup, half with CutMix, each pair with its own
weight or box, and returns union multi-hot targets. timm (mixup_alpha=0.8, cutmix_alpha=1.0,
label_smoothing=0) takes integer targets and pairs the batch with its own flip; it is timed in its
default "batch" mode (one weight or box for the whole batch, switched per call) and in "elem" mode
(one per sample, as ours). timm works in place, so its input is restored before each call, untimed
(ours gets the same refresh, so all start with the same cache state); calls are interleaved.
Then the script shows what timm does with an odd batch and with multi-hot targets.

    python benchmarks/mix_speed.py --batch 96 --size 112 --repeats 50
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from timm.data import Mixup

from augment import CUTMIX, MIXUP, CompoundSynthesizer

NUM_CLASSES = 6


class _Method:
    """One contender: ``prepare`` (untimed) then ``step`` (timed)."""

    def __init__(
        self, name: str, step: Callable[[], object], prepare: Callable[[], None] = lambda: None
    ):
        self.name, self.step, self.prepare = name, step, prepare
        self.times_ms: list[float] = []


def _ours(images: torch.Tensor, labels: torch.Tensor) -> _Method:
    n = images.shape[0]
    synth = CompoundSynthesizer(mixup_alpha=0.8, cutmix_mode="beta", cutmix_alpha=1.0)
    generator = torch.Generator(device=images.device).manual_seed(0)
    rows = torch.arange(n, device=images.device)
    ops = torch.where(rows % 2 == 0, MIXUP, CUTMIX)  # half Mixup, half CutMix
    work = images.clone()  # same untimed refresh as timm gets, so caches start alike

    def step() -> object:
        # Drawing the pairs is part of the work (timm's pairing, the flip, is inside its call too).
        partner = torch.randperm(n, generator=generator, device=images.device)
        return synth(work, labels, torch.stack([rows, partner], dim=1), ops, generator=generator)

    name = "ours: CompoundSynthesizer (per-pair lam/box, union labels)"
    return _Method(name, step, lambda: work.copy_(images))


def _timm(images: torch.Tensor, targets: torch.Tensor, mode: str, note: str) -> _Method:
    mixer = Mixup(
        mixup_alpha=0.8, cutmix_alpha=1.0, label_smoothing=0.0, num_classes=NUM_CLASSES, mode=mode
    )
    work = images.clone()  # timm mixes in place: restore its input before each call, untimed
    name = f"timm Mixup mode={mode!r} ({note})"
    return _Method(name, lambda: mixer(work, targets), lambda: work.copy_(images))


def _measure(methods: list[_Method], repeats: int, device: torch.device) -> None:
    """Times the methods in rotation, so that load from other processes hits all of them alike."""
    for i in range(repeats + 3):  # 3 warm-up rounds
        for method in methods:
            method.prepare()
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            start = time.perf_counter()
            method.step()
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            if i >= 3:
                method.times_ms.append((time.perf_counter() - start) * 1e3)


def _timm_limits(device: torch.device) -> list[str]:
    """Runs timm on the inputs ours accepts and says what happens."""
    mixer = Mixup(mixup_alpha=0.8, cutmix_alpha=1.0, label_smoothing=0.0, num_classes=NUM_CLASSES)
    lines = []
    try:
        mixer(
            torch.rand(5, 3, 8, 8, device=device),
            torch.randint(0, NUM_CLASSES, (5,), device=device),
        )
        lines.append("odd batch (5): accepted")
    except AssertionError as error:
        lines.append(f"odd batch (5): {type(error).__name__}: {error}")
    multi_hot = torch.zeros(4, NUM_CLASSES, device=device)
    multi_hot[torch.arange(4), torch.tensor([0, 1, 2, 3])] = 1.0
    multi_hot[0, 5] = 1.0  # row 0 is already a compound: surprise + anger
    _, mixed = mixer(torch.rand(4, 3, 8, 8, device=device), multi_hot)
    lines.append(
        f"multi-hot targets [4, {NUM_CLASSES}], default mode: no error, targets come back "
        f"with shape {list(mixed.shape)} (each 0/1 entry read as a class index)"
    )
    soft = Mixup(
        mixup_alpha=0.8,
        cutmix_alpha=1.0,
        label_smoothing=0.0,
        num_classes=NUM_CLASSES,
        multi_label=True,
    )
    _, mixed = soft(torch.rand(4, 3, 8, 8, device=device), multi_hot)
    lines.append(
        f"multi-hot targets with multi_label=True: lam-weighted, not the union; row 0 = "
        f"{[round(v, 3) for v in mixed[0].tolist()]} (ours: max of the pair's labels, all 0/1)"
    )
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--batch", type=int, default=96, help="images per batch (timm needs it even)"
    )
    parser.add_argument("--size", type=int, default=112, help="image side in pixels")
    parser.add_argument(
        "--repeats", type=int, default=50, help="timed calls per method (median taken)"
    )
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads (default: torch's)"
    )
    args = parser.parse_args(argv)
    if args.batch % 2:
        parser.error("--batch must be even so that timm can run on the same batch")

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    images = torch.rand(args.batch, 3, args.size, args.size, device=device)
    targets = torch.randint(0, NUM_CLASSES, (args.batch,), device=device)
    labels = torch.nn.functional.one_hot(targets, NUM_CLASSES).float()

    methods = [
        _ours(images, labels),
        _timm(images, targets, "batch", "one lam/box per batch"),
        _timm(images, targets, "elem", "per-sample lam/box"),
    ]
    _measure(methods, args.repeats, device)
    ours = statistics.median(methods[0].times_ms)
    print(
        f"batch {args.batch} x 3 x {args.size} x {args.size} float32, {NUM_CLASSES} classes, "
        f"device {device}, torch threads {torch.get_num_threads()}, "
        f"median of {args.repeats} calls each, interleaved"
    )
    print(f"{'method':<62}{'ms/batch':>10}{'images/s':>11}{'timm/ours':>11}")
    for method in methods:
        ms = statistics.median(method.times_ms)
        ratio = "" if method is methods[0] else f"{ms / ours:.2f}"
        print(f"{method.name:<62}{ms:>10.2f}{args.batch / ms * 1e3:>11.0f}{ratio:>11}")
    print("\nWhat timm does with what ours accepts:")
    for line in _timm_limits(device):
        print(f"  {line}")


if __name__ == "__main__":
    main()
