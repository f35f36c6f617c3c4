"""Config sections every training run has, whatever the task (the trainer reads these)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass
class OptimConfig:
    batch_size: int = 96           # per process; paper 002: 96
    lr: float = 1e-3               # peak lr; paper 002 fine-tunes a pretrained MAE ViT-B at 1e-5
    min_lr: float = 1e-6           # end of the cosine
    weight_decay: float = 0.05     # paper 002: AdamW, wd 0.05
    betas: tuple[float, float] = (0.9, 0.999)
    warmup_epochs: float = 1.0     # linear warmup, in epochs of the first stage
    layer_decay: float | None = None  # layer-wise lr decay (MAE fine-tuning uses 0.65-0.75)
    clip_grad: float | None = 1.0  # max gradient norm; null = no clipping
    accumulate: int = 1            # micro-batches per optimiser step


@dataclass
class LoopConfig:
    seed: int = 0
    precision: Literal["auto", "no", "bf16", "fp16"] = "auto"  # auto: bf16 on a GPU that has it, else fp32
    ema: bool = False              # evaluate and export an exponential moving average of the weights
    ema_decay: float = 0.999
    compile: bool = False          # torch.compile the model
    channels_last: bool = False    # memory format for conv stems on GPU
    num_workers: int | None = None  # DataLoader workers; null: 0 on CPU (the model needs both cores), 4 on GPU
    checkpoint_every: int | None = None  # also checkpoint every N optimiser steps (mid-epoch resume)
    keep_checkpoints: int = 2      # newest N kept
    progress: bool = True          # progress bar on the main process


@dataclass
class OutputConfig:
    dir: str | None = None         # run folder; null: runs/<config name>/<timestamp>
    name: str | None = None        # config name in the default run folder; null: the first config file's stem
