"""Start or resume a training run of any task: config files + overrides -> run folder -> Trainer.

Shared by ``cer.train`` (CE) and ``mtl train``: both get the same strict configs, run folders,
resume rules and multi-process handling.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from cer.train_config import RunConfig

C = TypeVar("C", bound=RunConfig)


def resolve_run_dir(output: str | None, name: str, resume: str | None) -> tuple[Path, Path | None]:
    """The run folder and the checkpoint to resume from (None: a fresh start).

    ``resume``: None (fresh), ``auto`` (the newest complete checkpoint of ``output``, or of the
    newest run folder of ``runs/<name>/`` that has one), or a checkpoint / run folder path.
    """
    from cer.trainer import find_resume_checkpoint

    if resume not in (None, "auto"):
        path = Path(resume)
        ckpt = find_resume_checkpoint(path) if (path / "checkpoints").is_dir() else path
        if ckpt is None or not (ckpt / "progress.json").is_file():
            raise click.BadParameter(f"{resume} is neither a run folder with a complete checkpoint nor a "
                                     "checkpoint folder", param_hint="--resume")
        run_dir = Path(output) if output else ckpt.parent.parent
        return run_dir, ckpt
    if output:
        run_dir = Path(output)
        return run_dir, find_resume_checkpoint(run_dir) if resume == "auto" else None
    parent = Path("runs") / name
    if resume == "auto" and parent.is_dir():
        for run_dir in sorted((p for p in parent.iterdir() if p.is_dir()), reverse=True):
            ckpt = find_resume_checkpoint(run_dir)
            if ckpt is not None:
                return run_dir, ckpt
    return parent / time.strftime("%Y%m%d-%H%M%S"), None


class _MessageFormatter(logging.Formatter):
    """Information as plain lines (what a run reports as it goes); warnings and errors with their
    level and logger, so they stand out."""

    def format(self, record: logging.LogRecord) -> str:
        if record.levelno <= logging.INFO:
            return record.getMessage()
        return f"{record.levelname} {record.name}: {record.getMessage()}"


def configure_logging(is_main_process: bool) -> None:
    """The project's loggers (``cer.*``, ``mtl.*``) report information on the main process only, so a
    multi-process run prints each line once; warnings come from every process."""
    logging.basicConfig(level=logging.WARNING)
    for handler in logging.getLogger().handlers:
        handler.setFormatter(_MessageFormatter())
    for name in ("cer", "mtl"):
        logging.getLogger(name).setLevel(logging.INFO if is_main_process else logging.WARNING)


def process_state() -> Any:
    """This process's ``accelerate.PartialState``: one gloo process per ``torchrun`` rank on a machine
    without an accelerator (see ``cer.trainer.cpu_only``), else accelerate's own choice."""
    from accelerate import PartialState

    from cer.trainer import cpu_only

    return PartialState(cpu=cpu_only())


def _agree(value: Any) -> Any:
    """The main process's ``value`` on every process (run folder names include a timestamp)."""
    from accelerate.utils import broadcast_object_list

    if process_state().num_processes == 1:
        return value
    box = [value]
    broadcast_object_list(box, from_process=0)
    return box[0]


def launch(schema: type[C], build_task: Callable[[C], Any], configs: Sequence[str], overrides: Sequence[str] = (),
           output: str | None = None, resume: str | None = None,
           default_name: str | Callable[[C], str] = "default") -> tuple[Any, Path, dict[str, Any]]:
    """Load the config, make (or find) the run folder, build the task and train it.

    Args:
        schema: the config dataclass, a :class:`cer.train_config.RunConfig` (its ``optim``,
            ``train`` and ``output`` sections drive the trainer).
        build_task: config -> task (``cer.task.Task``).
        configs, overrides: YAML files merged in order, then ``key=value`` overrides.
        output: run folder (default: the config's ``output.dir``, else ``runs/<name>/<timestamp>``).
        resume: None, ``auto`` or a run / checkpoint folder.
        default_name: the run name when no config file is given, or a function of the resolved
            config giving it (so that a value set in a file or by ``--set`` names the run too).

    Returns:
        the task, the run folder and the final validation metrics.
    """
    import torch

    from cer.config import dump_yaml, load_config, to_dict
    from cer.trainer import Trainer, cpu_only, cpu_threads

    cfg = load_config(schema, configs, overrides)
    state = process_state()
    if cpu_only():
        local = int(os.environ.get("LOCAL_WORLD_SIZE", state.num_processes))
        torch.set_num_threads(cpu_threads(cfg.train.threads, local))
    configure_logging(state.is_main_process)
    derived = default_name(cfg) if callable(default_name) else default_name
    name = cfg.output.name or (Path(configs[0]).stem if configs else derived)
    run_dir, ckpt = _agree(resolve_run_dir(output or cfg.output.dir, name, resume))
    if state.is_main_process:
        run_dir.mkdir(parents=True, exist_ok=True)
        dump_yaml(cfg, run_dir / "config.yaml")
        print(f"run folder: {run_dir}" + (f" (resuming from {ckpt.name})" if ckpt else ""), flush=True)
    state.wait_for_everyone()
    task = build_task(cfg)
    metrics = Trainer(task, cfg.optim, cfg.train, run_dir, to_dict(cfg)).fit(resume_from=ckpt)
    return task, run_dir, metrics


def run_options(command: Callable) -> Callable:
    """The arguments every training command shares: CONFIGS, ``--set``, ``--output``, ``--resume``."""
    command = click.option("--resume", default=None, metavar="auto|PATH",
                           help="Resume: 'auto' picks the newest complete checkpoint of --output, or of the "
                                "newest run under runs/<name>/; or give a run folder or checkpoint folder.")(command)
    command = click.option("--output", "-o", type=click.Path(file_okay=False), default=None,
                           help="Run folder (default: runs/<name>/<timestamp>; name: output.name, else the "
                                "first config file's name, else the command's own).")(command)
    command = click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
                           help="Override a config key, value parsed as YAML, e.g. --set optim.lr=3e-4. "
                                "Repeatable.")(command)
    return click.argument("configs", nargs=-1, type=click.Path(exists=True, dir_okay=False))(command)
