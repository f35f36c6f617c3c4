"""``cer ablate``: each curriculum x seed, tabulated as mean ± std of the compound macro F1 and of the
held-out basic F1 (Tables 4 and 6 of 002), on the shared runner :mod:`cer.sweep`.

Every CONFIG must be a curriculum (set a ``curriculum:`` section); settings shared by all runs (the
paper's ViT-B, a real data set) come with ``--overlay FILE``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import click

from cer.sweep import SweepKind, read_top_level, sweep, sweep_options


def describe(config: Path, overlays: Sequence[Path] = (), overrides: Sequence[str] = ()) -> dict[str, str]:
    """The curriculum and synthesis settings of ``config`` as the table shows them: as run, that is
    with the overlays and overrides every run gets."""
    from cer.compound.config import CEConfig
    from cer.config import load_config

    cfg = load_config(CEConfig, [config, *overlays], overrides)
    return {"epochs": str(list(cfg.curriculum.epochs)), "compound": str(list(cfg.curriculum.compound)),
            "mode": cfg.curriculum.mode, "synthesis": "+".join(cfg.synthesis.ops)}


def check_inputs(configs: Sequence[Path], overlays: Sequence[Path]) -> None:
    """Every CONFIG a curriculum, no overlay one (it would give every run the same schedule)."""
    for config in configs:
        if "curriculum" not in read_top_level(config):
            raise click.UsageError(
                f"{config} sets no 'curriculum:' section, so it is not a curriculum: every run of it would "
                f"train the default schedule. If it holds settings for all runs (model, optim, augment, data), "
                f"give it as --overlay {config}")
    for overlay in overlays:
        if "curriculum" in read_top_level(overlay):
            raise click.UsageError(
                f"--overlay {overlay} sets 'curriculum:', which would replace the schedule of every CONFIG and "
                f"make the runs of all configs the same; give it as a CONFIG instead")


CE_SWEEP = SweepKind(module="cer.train", describe=describe, check=check_inputs,
                     metrics=(("val_f1", "compound macro F1"), ("basic_f1", "held-out basic macro F1")))


@click.command("ablate", context_settings={"help_option_names": ["-h", "--help"]})
@sweep_options("CE", "curricula/overlays/paper_vit_b.yaml or a real-data file")
def ablate(configs: tuple[Path, ...], seeds: int, out: Path, overlays: tuple[Path, ...],
           overrides: tuple[str, ...]) -> None:
    """Train every CONFIG (a curriculum) with every seed, then write OUT/ablation.md and OUT/ablation.csv."""
    sweep(CE_SWEEP, configs, seeds, out, overlays, overrides)
