"""CE curriculum training: ``accelerate launch -m cer.train curricula/four_stage.yaml``.

Also ``cer train ...``, ``torchrun --nproc_per_node 2 -m cer.train ...``, and :func:`run` from
Python. With no data configured it trains on the built-in synthetic faces.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import click

from cer.launch import run_options


def run(configs: Sequence[str], overrides: Sequence[str] = (), output: str | None = None,
        resume: str | None = None) -> dict[str, Any]:
    """Train CE as configured; returns the final validation metrics."""
    from cer.compound.config import CEConfig
    from cer.compound.task import CompoundTask
    from cer.launch import launch, process_state
    from cer.taxonomy import CE_BASIC

    task, run_dir, metrics = launch(CEConfig, CompoundTask, configs, overrides, output, resume)
    if process_state().is_main_process and "val_f1" in metrics:
        from cer.run_log import RunLog, best_epoch_row

        best = best_epoch_row(RunLog(run_dir, enabled=False).history(), task.metric, task.greater_is_better)
        print(f"validation macro F1 ({task.cset.name}, {len(task.cset)} classes, "
              f"{metrics['val_count']} faces): {metrics['val_f1']:.4f} at the last epoch"
              + (f", {best['val_f1']:.4f} at epoch {best['epoch'] + 1} (kept in best/)" if best else ""), flush=True)
        if "basic_f1" in metrics:
            print(f"held-out basic faces: macro F1 {metrics['basic_f1']:.4f} over the {len(CE_BASIC)} basic "
                  f"expressions ({metrics['basic_count']} faces) at the last epoch", flush=True)
        print(f"run folder: {run_dir}", flush=True)
    return metrics


@click.command("train", context_settings={"help_option_names": ["-h", "--help"]})
@run_options
def train(configs: tuple[str, ...], overrides: tuple[str, ...], output: str | None, resume: str | None) -> None:
    """Train the CE model through a curriculum (paper 002).

    CONFIGS are YAML files merged in order over the defaults (e.g. curricula/four_stage.yaml). With no
    data configured, the built-in synthetic faces are generated once and used.
    """
    from cer.config import ConfigError

    try:
        run(configs, overrides, output, resume)
    except ConfigError as err:
        raise click.UsageError(str(err)) from None


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of ``python -m cer.train``."""
    train.main(args=list(sys.argv[1:] if argv is None else argv), prog_name="cer.train")


if __name__ == "__main__":
    main()
