"""The tiny MTL training settings the tests share: a 32 px model from random weights, no progress bar."""

from __future__ import annotations

from collections.abc import Iterable

# random weights: the tests never build the built-in MAE encoder (conftest's no_builtin_encoder guard)
TINY_MTL: tuple[str, ...] = ("model.img_size=32", "model.checkpoint=null", "train.progress=false",
                             "optim.batch_size=32", "model.drop_path=0.0")


def as_set_options(overrides: Iterable[str]) -> list[str]:
    """``--set KEY=VALUE`` for each override, as the mtl and cer commands take them."""
    return [arg for item in overrides for arg in ("--set", item)]


# The tiny settings as command-line options, one epoch.
TINY_MTL_ARGS: tuple[str, ...] = ("--epochs", "1", *as_set_options(TINY_MTL))
