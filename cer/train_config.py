"""Config sections every training run has, whatever the task (the trainer reads ``optim``,
``train`` and ``output``), and the parts of the ``data`` and ``model`` sections that CE and MTL
share: their own sections extend these, so a key means the same thing in every run."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Literal

from cer.builtin_checkpoint import BUILTIN_MAE


@dataclass
class OptimConfig:
    # The defaults train the compact ViT from scratch on 2 CPU cores (curricula/overlays/paper_vit_b.yaml
    # holds the paper's values: batch 96, lr 1e-5 for fine-tuning an MAE ViT-B). Measured on the
    # synthetic faces (batch 64, constant lr): vit_face_tiny stays at the label prior for all of 150
    # steps at lr 1e-3, and leaves it after ~100 at 3e-4.
    # adamw (002); adam (003: torch's Adam, weight_decay an L2 term in the gradient, not decoupled);
    # sgd; sam: sharpness-aware minimisation around `sam_base` (004: SAM, rho 0.05)
    name: Literal["adamw", "adam", "sgd", "sam"] = "adamw"
    sam_base: Literal["adamw", "adam", "sgd"] = "sgd"  # the optimiser SAM steps with (SAM paper and 004: SGD)
    sam_rho: float = 0.05          # SAM's neighbourhood radius
    momentum: float = 0.9          # SGD's (plain and under SAM)
    batch_size: int = 64           # per process (CE sets 32); paper 002: 96
    lr: float = 3e-4               # peak lr; paper 002: 1e-5 (fine-tuning)
    # cosine: warmup, then cosine from lr to min_lr over the run; constant: warmup, then lr to the end
    # (003's fixed lr: with warmup_epochs=0 every step gets lr; min_lr is not used)
    schedule: Literal["cosine", "constant"] = "cosine"
    min_lr: float = 1e-6           # end of the cosine
    weight_decay: float = 0.05     # paper 002: AdamW, wd 0.05
    betas: tuple[float, float] = (0.9, 0.999)
    warmup_epochs: float = 1.0     # linear warmup, in epochs of the first stage
    layer_decay: float | None = None  # layer-wise lr decay (MAE fine-tuning uses 0.65-0.75)
    clip_grad: float | None = 1.0  # max gradient norm; null = no clipping
    accumulate: int = 1            # micro-batches per optimiser step

    def __post_init__(self) -> None:
        if self.name == "sam" and self.accumulate != 1:
            raise ValueError("optim.name=sam takes its two passes on one batch: set optim.accumulate=1 "
                             "(raise optim.batch_size or the processes instead)")
        if self.name == "sam" and self.sam_rho <= 0:
            raise ValueError(f"optim.sam_rho must be > 0, got {self.sam_rho}")

    def base_optimizer(self) -> str:
        """The optimiser that applies the gradients: ``name``, or SAM's ``sam_base``."""
        return self.sam_base if self.name == "sam" else self.name


@dataclass
class LoopConfig:
    seed: int = 0
    precision: Literal["auto", "no", "bf16", "fp16"] = "auto"  # auto: bf16 on a GPU that has it, else fp32
    # Validate, pick best/ with and export an exponential moving average of the weights (003: decay 0.99);
    # checkpoints hold it beside the trained weights, so a resumed run goes on averaging where it was.
    # timm's ModelEmaV3: the first optimiser step copies the weights, each later one does
    # ema = decay * ema + (1 - decay) * weights.
    ema: bool = False
    ema_decay: float = 0.999
    # Stop once the task's selection metric (the one best/ follows) has not improved for this many
    # validated epochs (003: 15); null: train every epoch. Decided from the best epoch the checkpoint
    # records, so a resumed run stops where the uninterrupted one did.
    early_stop_patience: int | None = None
    compile: bool = False          # torch.compile the model
    channels_last: bool = False    # memory format for conv stems on GPU
    num_workers: int | None = None  # DataLoader workers; null: 0 on CPU (the model needs both cores), 4 on GPU
    checkpoint_every: int | None = None  # also checkpoint every N optimiser steps (mid-epoch resume)
    keep_checkpoints: int = 2      # newest N kept
    progress: bool = True          # progress bar on the main process
    threads: int | None = None     # torch threads per process on CPU; null: this machine's cores shared among processes

    def __post_init__(self) -> None:
        if not 0 < self.ema_decay < 1:
            raise ValueError(f"train.ema_decay must be in (0, 1) (the share of the average each step keeps), "
                             f"got {self.ema_decay}")
        if self.early_stop_patience is not None and self.early_stop_patience < 1:
            raise ValueError(f"train.early_stop_patience must be >= 1 epoch, or null to train every epoch; "
                             f"got {self.early_stop_patience}")

    def loader_workers(self) -> int:
        """``num_workers``, or its default: 0 on CPU, where the model needs every core; 4 on a GPU."""
        if self.num_workers is not None:
            return self.num_workers
        import torch

        return 4 if torch.cuda.is_available() else 0


@dataclass
class OutputConfig:
    dir: str | None = None         # run folder; null: runs/<config name>/<timestamp>
    name: str | None = None        # config name in the default run folder; null: the first config file's stem


@dataclass
class ImageDataConfig:
    """What every task's ``data`` section has: where images come from when a source has no path,
    how many to read, and how they are held in memory."""

    synthetic_scale: Literal["tiny", "small", "default"] = "default"  # scale of the built-in synthetic data
    synthetic_seed: int = 0
    cache_images: bool = True      # decode every image once into memory (fast epochs; ~27 KB per image at 96 px)
    limit: int | None = None       # cap each source at this many records (a seeded random subset, in order)
    # K-fold cross-validation on the training records, split by video (or subject; cer/data/folds.py):
    # fold k validates on group part k and trains on the rest, in place of the val source. null: off
    folds: int | None = None
    fold: int | None = None        # the held-out part, 0 .. folds-1
    fold_seed: int = 0             # shuffles the groups into parts; kept apart from train.seed so seeds share folds
    # Whether the task reading this section splits folds; one that does not refuses data.folds
    # rather than silently training on its usual split.
    splits_folds: ClassVar[bool] = False

    def __post_init__(self) -> None:
        from cer.data.folds import check_fold

        check_fold(self.folds, self.fold)
        if self.folds is not None and not self.splits_folds:
            raise ValueError(f"data.folds: the task of this config ({type(self).__module__}) does not split its "
                             "data into folds (mtl train and cer train do); set data.folds and data.fold to null")


@dataclass
class BackboneConfig:
    """The ViT being trained and the weights it starts from."""

    name: str = "vit_face_tiny"    # any timm ViT; paper 002: an MAE ViT-B/16 (vit_base_patch16_224)
    img_size: int = 96             # paper 002: 224
    drop_path: float = 0.1
    # local MAE (.pth with a 'model' key), timm or safetensors weights; builtin-mae: an MAE encoder
    # pretrained on the built-in synthetic faces, built once into the cache (cer/pretrain/builtin.py),
    # the default because 001 and 002 start from a face MAE and the compact ViT learns the built-in
    # faces far more steadily from it (README, "The built-in benchmark"); null: random weights
    checkpoint: str | None = BUILTIN_MAE
    allow_mismatch: bool = False   # load a checkpoint whose keys differ unexpectedly (reported, not silent)


@dataclass
class RunConfig:
    """The sections the trainer reads (``cer.launch.launch`` needs them); a task's config extends
    it with its own sections (data, model, ...) and may change these defaults."""

    optim: OptimConfig = field(default_factory=OptimConfig)
    train: LoopConfig = field(default_factory=LoopConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
