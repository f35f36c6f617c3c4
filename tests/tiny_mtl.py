"""The tiny MTL training settings the tests share (a 32 px model from random weights, no progress
bar), and the helpers that drive the ``mtl`` command line with them."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

# random weights: the tests never build the built-in MAE encoder (conftest's no_builtin_encoder guard)
TINY_MTL: tuple[str, ...] = ("model.img_size=32", "model.checkpoint=null", "train.progress=false",
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
