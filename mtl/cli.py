"""The ``mtl`` command line: one sub-command per module, imported on use."""

from __future__ import annotations

import click

from cer import __version__
from cer.lazy_group import LazyGroup

COMMANDS: dict[str, str] = {
    "train": "mtl.train:train",
    "extract": "mtl.extract:extract",
    "evaluate": "mtl.evaluate:evaluate",
    "predict": "mtl.predict:predict",
}


@click.group(cls=LazyGroup, lazy_commands=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mtl")
def main() -> None:
    """Multi-task affect analysis: AU detection, expression, valence/arousal (ABAW MTL)."""


if __name__ == "__main__":
    main()
