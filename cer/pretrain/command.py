"""``cer pretrain CONFIG``: MAE self-supervised pretraining on face images (papers 001/002).

Its ``best/`` model folder is what a fine-tuning run loads with ``--set model.checkpoint=RUN``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from cer.launch import run_options


def run(configs: Sequence[str], overrides: Sequence[str] = (), output: str | None = None,
        resume: str | None = None) -> dict[str, Any]:
    """Pretrain as configured; returns the final validation metrics."""
    from cer.launch import launch
    from cer.pretrain.config import PretrainConfig
    from cer.pretrain.task import MAETask

    _, run_dir, metrics = launch(PretrainConfig, MAETask, configs, overrides, output, resume, default_name="pretrain")
    if "val_loss" in metrics:
        print(f"validation reconstruction loss: {metrics['val_loss']:.4f}\n"
              f"encoder for fine-tuning: {run_dir / 'best' / 'encoder.safetensors'}", flush=True)
    return metrics


@click.command("pretrain", context_settings={"help_option_names": ["-h", "--help"]})
@run_options
@click.option("--builtin", is_flag=True,
              help="Build (or find) the cached built-in encoder that model.checkpoint=builtin-mae loads, for the "
                   "backbone of --set model.name / model.img_size; print its path. Takes no CONFIGS.")
@click.option("--write-path", type=click.Path(dir_okay=False), default=None, hidden=True,
              help="With --builtin: also write the encoder's path to this file (how a run asks for it).")
def pretrain(configs: tuple[str, ...], overrides: tuple[str, ...], output: str | None, resume: str | None,
             builtin: bool, write_path: str | None) -> None:
    """MAE self-supervised pretraining on face images (75 % masking, pixel L2).

    CONFIGS are optional YAML files over the defaults (built-in synthetic faces, compact ViT). Fine-tune
    from the result with: cer train ... --set model.checkpoint=RUN/best/encoder.safetensors
    """
    from cer.config import ConfigError

    try:
        if builtin:
            path = _builtin(configs, overrides, output, resume)
            print(path, flush=True)
            if write_path:
                Path(write_path).write_text(path)
            return
        run(configs, overrides, output, resume)
    except ConfigError as err:
        raise click.UsageError(str(err)) from None


def _builtin(configs: Sequence[str], overrides: Sequence[str], output: str | None, resume: str | None) -> str:
    from cer.config import load_config
    from cer.pretrain.builtin import builtin_encoder
    from cer.pretrain.config import PretrainConfig

    if configs or output or resume:
        raise click.UsageError("--builtin builds the cache's own encoder: give only --set model.name / model.img_size")
    unknown = [o for o in overrides if o.split("=", 1)[0] not in ("model.name", "model.img_size")]
    if unknown:
        raise click.UsageError(f"--builtin takes only model.name and model.img_size, not {', '.join(unknown)}")
    model = load_config(PretrainConfig, overrides=list(overrides)).model
    return str(builtin_encoder(model.name, model.img_size))
