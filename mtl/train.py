"""``mtl train``: single-task, joint and fused temporal MTL runs on the shared trainer.

    mtl train --joint au                                    # step 1 of 002: single-task runs
    mtl train --joint au,va,a                               # joint training (eq. 6)
    mtl train --task v --joint au,v,a --fuse au,v --seq 20 --window 20   # fused, temporal

Also ``python -m mtl.train ...`` (e.g. under ``accelerate launch`` or ``torchrun``) and :func:`run`
from Python. With no data option it trains on the built-in synthetic Aff-Wild2 set.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import click

from cer.config import Override
from cer.launch import launch, process_state, run_options


def run(configs: Sequence[str] = (), overrides: Sequence[str] = (), output: str | None = None,
        resume: str | None = None) -> dict[str, Any]:
    """Train MTL as configured; returns the final validation metrics."""
    from mtl.config import MTLConfig
    from mtl.scores import p_mtl_parts
    from mtl.task import MTLTask

    task, run_dir, metrics = launch(MTLConfig, MTLTask, configs, overrides, output, resume, run_name)
    if process_state().is_main_process and metrics:
        from cer.run_log import RunLog, best_epoch_row

        def parts(row: dict[str, Any]) -> str:
            return "  ".join(f"{k}={v:.4f}" for k, v in p_mtl_parts(row).items())

        print(f"validation ({','.join(task.tasks)}; {len(task.val_set)} frames), last epoch: {parts(metrics)}",
              flush=True)
        best = best_epoch_row(RunLog(run_dir, enabled=False).history(), task.metric, task.greater_is_better)
        if best is not None:
            print(f"best epoch by {task.metric} ({best['epoch'] + 1}, kept in best/): {parts(best)}", flush=True)
        print(f"run folder: {run_dir}", flush=True)
    return metrics


def option_overrides(task: str | None, joint: str | None, fuse: str | None, seq: int | None, window: int | None,
                     data: str | None, epochs: int | None, au_thresholds: str | None) -> list[Override]:
    """The config values the command-line options stand for (applied before ``--set``), typed as
    given: each is checked against the config like a value from a file, errors naming the option."""
    given = [("tasks.select", task, "--task"), ("tasks.joint", joint, "--joint"),
             ("fuse.runs", None if fuse is None else [f.strip() for f in fuse.split(",") if f.strip()], "--fuse"),
             ("sequence.length", seq, "--seq"), ("sequence.stride", window, "--window"),
             ("data.train.path", data, "--data"), ("data.val.path", data, "--data"), ("epochs", epochs, "--epochs"),
             ("tasks.au_threshold", None if au_thresholds is None else
              (au_thresholds if au_thresholds == "tune" else float(au_thresholds)), "--au-thresholds")]
    shown = {"--fuse": fuse, "--au-thresholds": au_thresholds}
    return [Override(key, value, f"{option} {shown.get(option, value)}") for key, value, option in given
            if value is not None]


def run_name(cfg: Any) -> str:
    """``runs/<name>/<timestamp>`` name from the resolved config, e.g. ``mtl-au-v-a_fuse-au-v_s20``."""
    from mtl.affect_tasks import parse_tasks

    name = "mtl-" + "-".join(parse_tasks(cfg.tasks.joint))
    if cfg.fuse.runs:
        name += "_fuse-" + "-".join(f.strip().rstrip("/").split("/")[-1] for f in cfg.fuse.runs)
    if cfg.sequence.length > 1:
        name += f"_s{cfg.sequence.length}" + ("-transformer" if cfg.model.temporal == "transformer" else "")
    return name


def _au_thresholds(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None or value == "tune":
        return value
    try:
        if 0 < float(value) < 1:
            return value
    except ValueError:
        pass
    raise click.BadParameter(f"{value!r}: give a threshold in (0, 1), e.g. 0.5, or 'tune'")


@click.command("train", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--task", default=None, metavar="T",
              help="Task whose validation metric selects the best epoch: au, expr, v, a or va (default: P_MTL).")
@click.option("--joint", default=None, metavar="TASKS",
              help="Tasks trained together, comma-separated: au, expr, v, a; va = v,a (default: au,expr,va).")
@click.option("--fuse", default=None, metavar="RUNS",
              help="Fuse the frozen features of earlier runs: run folders, or task names (au, v, ...) meaning "
                   "the best finished run of that task under fuse.search (default runs/).")
@click.option("--seq", type=click.IntRange(min=1), default=None,
              help="Sequence length S; S > 1 adds the temporal module (model.temporal: 2-layer LSTM, or "
                   "transformer). Default 1.")
@click.option("--window", type=click.IntRange(min=1), default=None,
              help="Stride W between training sequences within a video (default: S).")
@click.option("--data", type=click.Path(exists=True, file_okay=False), default=None,
              help="s-Aff-Wild2 root (annotation files + cropped_aligned/); default: the built-in synthetic set.")
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="Epochs to train (default 8).")
@click.option("--au-thresholds", default=None, callback=_au_thresholds, metavar="0.5|tune",
              help="AU threshold of the selecting metric: a fixed value or 'tune' (per AU, on validation). "
                   "Both are always reported.")
@run_options
def train(configs: tuple[str, ...], task: str | None, joint: str | None, fuse: str | None, seq: int | None,
          window: int | None, data: str | None, epochs: int | None, au_thresholds: str | None,
          overrides: tuple[str, ...], output: str | None, resume: str | None) -> None:
    """Train AU / EXPR / valence / arousal, alone or jointly, optionally with fused features of earlier
    runs and a temporal module (paper 002, sec. 3.2).

    CONFIGS are YAML files merged in order over the defaults (mtl.config.MTLConfig); the options
    override them and --set overrides everything. Each option is a config key: --task tasks.select,
    --joint tasks.joint, --fuse fuse.runs, --seq sequence.length, --window sequence.stride,
    --data data.train.path and data.val.path, --epochs epochs, --au-thresholds tasks.au_threshold.
    """
    from cer.config import ConfigError
    from mtl.runs import RunNotFoundError

    extra = option_overrides(task, joint, fuse, seq, window, data, epochs, au_thresholds)
    try:
        run(configs, [*extra, *overrides], output, resume)
    except (ConfigError, RunNotFoundError) as err:
        raise click.UsageError(str(err)) from None


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of ``python -m mtl.train``."""
    train.main(args=list(sys.argv[1:] if argv is None else argv), prog_name="mtl.train")


if __name__ == "__main__":
    main()
