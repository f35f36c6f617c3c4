"""The ``cer`` command line: one sub-command per module, imported on use."""

from __future__ import annotations

import click

from cer import __version__
from cer.lazy_group import LazyGroup

COMMANDS = {
    "synth": "cer.synth.command:synth",
    "train": "cer.compound.train:train",
    "pretrain": "cer.pretrain.command:pretrain",
    "evaluate": "cer.compound.evaluate:evaluate",
    "ablate": "cer.compound.ablate:ablate",
    "predict": "cer.predict.command:predict",
}


@click.group(cls=LazyGroup, lazy_commands=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="cer")
def main() -> None:
    """Compound facial expression recognition: synthesise data, train, evaluate, predict."""


if __name__ == "__main__":
    main()
