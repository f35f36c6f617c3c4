"""The tiny MTL training settings the tests share (a 32 px model from random weights, no progress
bar), and the helpers that drive the ``mtl`` command line with them."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch

TINY_IMG = 32  # the tiny models' image size

# random weights: the tests never build the built-in MAE encoder (conftest's no_builtin_encoder guard)
TINY_MTL: tuple[str, ...] = (f"model.img_size={TINY_IMG}", "model.checkpoint=null", "train.progress=false",
                             "optim.batch_size=32", "model.drop_path=0.0")


def as_set_options(overrides: Iterable[str]) -> list[str]:
    """``--set KEY=VALUE`` for each override, as the mtl and cer commands take them."""
    return [arg for item in overrides for arg in ("--set", item)]


# The tiny settings as command-line options, and those for one epoch.
TINY_MTL_SET: tuple[str, ...] = tuple(as_set_options(TINY_MTL))
TINY_MTL_ARGS: tuple[str, ...] = ("--epochs", "1", *TINY_MTL_SET)


def mtl_cli(*args: str) -> str:
    """Run ``mtl ARGS`` in-process; fails the test with the command's output unless it exits 0."""
    from click.testing import CliRunner

    from mtl.cli import main

    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def history(run: Path) -> list[dict]:
    """The per-epoch rows of a run's metrics.jsonl."""
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def fake_run(folder: Path, tasks=("au",), seed: int = 0) -> Path:
    """A finished MTL run folder with a random tiny model (what `mtl train` exports into best/)."""
    from mtl.affect_tasks import AFFECT_TASKS
    from mtl.model import MTLArchitecture, build_model
    from mtl.runs import save_mtl

    torch.manual_seed(seed)
    arch = MTLArchitecture(backbone="vit_face_tiny", img_size=TINY_IMG, tasks=list(tasks),
                           head_sizes=[AFFECT_TASKS[t].outputs for t in tasks])
    save_mtl(build_model(arch), folder / "best", arch, {
        "mean": [0.5] * 3, "std": [0.5] * 3,
        "sequence": {"length": 1, "stride": 1}, "fuse": [], "metrics": {"val_f1_au": 0.25}, "config": {},
    })
    return folder


def write_csv(path: Path, rows, header: str | None = "f0,f1,f2") -> Path:
    """A feature table as CSV, an optional header line first."""
    lines = ([header] if header else []) + [",".join(f"{v:g}" if not isinstance(v, str) else v for v in row)
                                             for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_stream(folder: Path, records, dim: int, suffix: str, seed: int) -> Path:
    """An extra feature stream: one file per video of ``records`` (.npy or .csv), row i = frame i."""
    from mtl.sequences import frame_number, video_of

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    by_video: dict[str, int] = {}
    for r in records:
        by_video[video_of(r)] = max(by_video.get(video_of(r), 0), frame_number(r))
    for video, last in by_video.items():
        table = rng.normal(size=(last, dim)).astype(np.float32)
        if suffix == ".npy":
            np.save(folder / f"{video}.npy", table)
        else:
            write_csv(folder / f"{video}.csv", table.tolist(), header=",".join(f"c{i}" for i in range(dim)))
    return folder
