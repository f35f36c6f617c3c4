"""The config of an MTL run. The defaults train the compact ViT on the built-in synthetic Aff-Wild2
set on a CPU in about ten minutes; every ``mtl train`` option is one of these keys.

The values of paper 002 where the defaults differ: an MAE ViT-B/16 at 224 px (``model.name``,
``model.img_size``, ``model.checkpoint``); sequences S = W = 30 for VA, 5 for EXPR, 1 for AU.
Paper 004's heads and AU loss are switches, off by default (002's linear heads and BCE); 004 sets
``model.au_head=anfl``, ``model.va_head=bn_tanh``, ``model.cross_attention=true``, ``loss.au=asymmetric``.
Paper 003's focal expression loss (eq. 9) is a switch too, off by default: ``loss.expr=focal``;
``mtl/overlays/paper_003.yaml`` sets it with 003's optimiser, EMA, clipping and early stopping.
The temporal module is 002's LSTM by default; ``model.temporal=transformer`` is the transformer
fusion of 001 (sec. 3.2) and 003 (sec. 3.1), its encoder in ``model.transformer``, its extra per-frame
streams (e.g. audio) in ``fuse.extra``; ``mtl/overlays/transformer_fusion.yaml`` sets the papers' values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Literal

from cer.data.source import DataSource
from cer.taxonomy import AFFWILD2_AUS
from cer.train_config import BackboneConfig, ImageDataConfig, RunConfig
from mtl.affect_tasks import parse_tasks, selection_metric
from mtl.extra_features import ExtraFeaturesConfig
from mtl.temporal_transformer import TransformerConfig


@dataclass
class TrainingSource(DataSource):
    """A further training source (``data.extra_train``): a data source and the tasks its labels train."""

    # comma-separated (au, expr, v, a; va = v,a): its labels of other tasks are masked (AffectNet's
    # V/A when it should only add expressions); null: every label the data set has
    tasks: str | None = None

    def __post_init__(self) -> None:
        if self.tasks is not None:
            parse_tasks(self.tasks)  # raises naming the valid tasks


@dataclass
class DataConfig(ImageDataConfig):
    # s-Aff-Wild2 annotation files (reader aff-wild2-mtl; aff-wild2-tracks reads the per-video layout)
    train: DataSource = field(default_factory=lambda: DataSource("aff-wild2-mtl", None, {"split": "train"}))
    val: DataSource | None = field(default_factory=lambda: DataSource("aff-wild2-mtl", None, {"split": "validation"}))
    # More training data beside data.train (002 sec. 4.1, "Extra Data": RAF-DB and AffectNet for
    # expressions, BP4D for AUs); each source trains only the tasks it labels (mtl/sources.py). A
    # separate list, not a list in data.train, so --data and data.train.path=... keep setting the
    # main source key by key. Extra sources only train: data.folds never holds them out.
    extra_train: list[TrainingSource] = field(default_factory=list)
    splits_folds: ClassVar[bool] = True  # data.folds: mtl.task splits data.train by video, data.val is not read


@dataclass
class TasksConfig:
    joint: str = "au,expr,va"      # trained tasks: au, expr, v, a; va = v,a (eq. 6 sums their losses)
    select: str | None = None      # the task whose validation metric picks the best epoch; null: P_MTL
    weights: dict[str, float] = field(default_factory=dict)  # lambda per task (eq. 6); absent: 1
    au_threshold: float | Literal["tune"] = 0.5  # AU threshold of the selecting metric; tune: per-AU on validation

    def __post_init__(self) -> None:
        tasks = parse_tasks(self.joint)
        selection_metric(self.select, tasks, self.au_threshold)  # raises on a task not trained
        unknown = [k for k in self.weights if k not in tasks]
        if unknown:
            raise ValueError(f"tasks.weights names {', '.join(unknown)}, not among the trained tasks "
                             f"({', '.join(tasks)}); give one weight per trained task (v and a separately)")
        if self.au_threshold != "tune" and not 0 < self.au_threshold < 1:
            raise ValueError(f"tasks.au_threshold must be in (0, 1) or 'tune', got {self.au_threshold}")


@dataclass
class SequenceConfig:
    length: int = 1                # S: frames per sequence; 1 = single frames, no temporal module
    stride: int | None = None      # W: frames between sequence starts within a video; null: S

    def __post_init__(self) -> None:
        if self.length < 1 or (self.stride is not None and self.stride < 1):
            raise ValueError(f"sequence length and stride must be >= 1, got {self.length} and {self.stride}")


@dataclass
class FuseConfig:
    # earlier runs whose frozen features are fused in: run folders, or task names (au, v, va, ...)
    # standing for the best finished run under `search` that trained that task
    runs: list[str] = field(default_factory=list)
    search: str = "runs"           # where task names are looked up
    live: bool = False             # recompute the frozen features every step instead of caching them (slow)
    batch_size: int = 256          # frames per forward pass when extracting features
    # precomputed per-frame streams (e.g. audio; 001 sec. 3.2), each {path: DIR, name: NAME}, DIR holding
    # one <video>.npy or <video>.csv per video (mtl/extra_features.py); concatenated to the fused
    # visual feature of each frame before the temporal module
    extra: list[ExtraFeaturesConfig] = field(default_factory=list)

    def __post_init__(self) -> None:
        names = [e.name for e in self.extra]
        if len(set(names)) != len(names):
            raise ValueError(f"fuse.extra names a stream twice ({', '.join(names)}); give each its own name")


@dataclass
class ModelConfig(BackboneConfig):
    fusion_dropout: float = 0.3    # official code of 002
    # the module over the S frames of a sequence (S > 1): 002's LSTM, or 001's and 003's transformer
    temporal: Literal["lstm", "transformer"] = "lstm"
    lstm_hidden: int | None = None  # LSTM width; null: the backbone's
    leaky_slope: float = 0.1       # LeakyReLU after the LSTM (official code of 002)
    # A head option applies when its task is trained, so one overlay serves single-task runs too.
    au_head: Literal["linear", "anfl"] = "linear"  # 004 uses anfl: AU graph (k-NN, GCN), cosine to s_i (sec. 3.1)
    anfl_k: int = 4                # neighbours per AU in ANFL's graph; 004 gives none, ME-GraphAU uses 4
    va_head: Literal["linear", "bn_tanh"] = "linear"  # 004 uses bn_tanh: FC + BatchNorm + tanh (eq. 4, Table 3)
    cross_attention: bool = False  # 004 uses true: AU predictions re-weight the EXPR logits (eqs. 6-8); needs au, expr
    attention_dim: int = 64        # hidden width of that additive attention; 004 gives none
    # model.checkpoint may also name a finished MTL run: staged training (004 sec. 4.3) loads all of it (mtl/staged.py)
    freeze_backbone: bool = False  # 004's frozen backbone: no gradients, eval mode; only fusion/temporal/heads train
    # with freeze_backbone, read the backbone's features from a cache made once (cer cache folder,
    # mtl-backbone-features/, keyed by the weights and image size) instead of computing them every step;
    # null: cache unless augment.hflip > 0 mirrors the images (their features then change from epoch to
    # epoch; the run logs why it computes them live); true: cache, refusing augment.hflip > 0; false: live
    cache_features: bool | None = None
    transformer: TransformerConfig = field(default_factory=TransformerConfig)  # its layers, heads, dropout, width

    def __post_init__(self) -> None:
        if not 1 <= self.anfl_k < len(AFFWILD2_AUS):
            raise ValueError(f"model.anfl_k must be in 1..{len(AFFWILD2_AUS) - 1} (neighbours among "
                             f"{len(AFFWILD2_AUS)} AUs, self excluded), got {self.anfl_k}")
        if self.attention_dim < 1:
            raise ValueError(f"model.attention_dim must be >= 1, got {self.attention_dim}")


@dataclass
class LossConfig:
    au: Literal["bce", "asymmetric"] = "bce"  # 004 uses asymmetric (eq. 9), weighted by occurrence (eq. 10)
    expr: Literal["ce", "focal"] = "ce"  # 003 uses focal (eq. 9), alpha_t = the class weights of eq. 3
    # focal's gamma; 003 allows [0, 5] without naming one: 2 is the focal-loss paper's (Lin et al. 2017)
    focal_gamma: float = 2.0

    def __post_init__(self) -> None:
        if not 0 <= self.focal_gamma <= 5:
            raise ValueError(f"loss.focal_gamma must be in [0, 5] (003, eq. 9; 0 is cross-entropy), "
                             f"got {self.focal_gamma}")


@dataclass
class AugmentConfig:
    # probability of mirroring a whole sequence (fused, extra features stay unmirrored); MTL's only image
    # augmentation, so with augment.hflip=0 a frozen backbone's features are the same every epoch
    hflip: float = 0.5


@dataclass
class MTLConfig(RunConfig):
    epochs: int = 8
    data: DataConfig = field(default_factory=DataConfig)
    tasks: TasksConfig = field(default_factory=TasksConfig)
    sequence: SequenceConfig = field(default_factory=SequenceConfig)
    fuse: FuseConfig = field(default_factory=FuseConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    # optim (inherited, cer.train_config): its batch_size counts frames: each step takes
    # max(1, batch_size // S) sequences, so runs with different S see the same frames per step

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        trained = parse_tasks(self.tasks.joint)
        if self.model.temporal == "transformer" and self.sequence.length == 1:
            raise ValueError("model.temporal=transformer attends over the frames of a clip, but sequence.length is 1 "
                             "(single frames, no temporal module): give the clip length, e.g. --seq 100 (001's k), "
                             "or leave model.temporal at lstm")
        if self.model.cache_features and not self.model.freeze_backbone:
            raise ValueError("model.cache_features=true caches the features of a frozen backbone, but "
                             "model.freeze_backbone is false (a trained backbone's features change every step): "
                             "set model.freeze_backbone=true, or leave model.cache_features unset")
        if self.model.cache_features and self.augment.hflip > 0:
            raise ValueError(f"model.cache_features=true, but augment.hflip={self.augment.hflip} mirrors the images, "
                             "so the frozen backbone's features differ between epochs and cached ones would be "
                             "wrong: set augment.hflip=0 to cache them, or model.cache_features=false to compute "
                             "them every step")
        if self.model.cross_attention and not {"au", "expr"} <= set(trained):
            raise ValueError(f"model.cross_attention attends from the AU predictions to the EXPR logits, so it "
                             f"needs both au and expr trained; tasks.joint is {self.tasks.joint}: add them "
                             "(--joint au,expr,...) or set model.cross_attention=false")
