"""The config of a CE curriculum run: the defaults train the compact model on the built-in
synthetic faces on a CPU; ``curricula/*.yaml`` hold only what differs.

The values of paper 002 where the defaults differ for the CPU run: ViT-B/16 MAE at 224 px,
lr 1e-5 (``curricula/overlays/paper_vit_b.yaml`` sets them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Literal

from cer.compound.curriculum import CurriculumSchedule
from cer.data.source import DataSource
from cer.faces.crop import DEFAULT_MARGIN
from cer.train_config import BackboneConfig, ImageDataConfig, OptimConfig, RunConfig

# The margin around an MTCNN box that frames a synthetic face as the training images frame it
# (``cer.synth.scene.render_image``): there the image side is 1.19x the face box's longer side; on
# the default synthetic C-EXPR-DB videos MTCNN's box is 1.10x the face box (median of 1968 frames),
# its centre within 0.02 face sizes of the image's. 1.19 / 1.10 - 1 = 0.09 (box ratios measured on
# renderer version 2). The built-in model's frame-level F1 on those videos (cer predict, default
# smoothing): version 2, 0.224 with 0.25 and 0.305 with 0.1; version 3 (four_stage seed 0, compound
# F1 0.76 on the still faces), 0.287 with 0.25 and 0.304 with 0.1.
SYNTHETIC_FACE_MARGIN = 0.1


@dataclass
class DataConfig(ImageDataConfig):
    # single-expression pool: records whose label is one of the 6 CE basic expressions (neutral and
    # others are dropped, as in 002 sec. 3.3)
    single: list[DataSource] = field(
        default_factory=lambda: [DataSource("raf-db-basic", None, {"split": "train"})])
    # real compound pool: records labelled with a compound class (empty list: synthesis only)
    compound: list[DataSource] = field(
        default_factory=lambda: [DataSource("raf-db-compound", None, {"split": "train"})])
    # compound validation set, evaluated with constrained inference over `constrain`
    val: DataSource | None = field(
        default_factory=lambda: DataSource("raf-db-compound", None, {"split": "test"}))
    # held-out single-expression faces, scored each epoch over the 6 basic classes (argmax) beside the
    # compound F1: whether the model knows the expressions it composes (null: not scored). Without a
    # path it reads the path of the first single source of the same reader (so a config pointing
    # `single` at a real RAF-DB scores its test split), else the built-in synthetic faces.
    basic_val: DataSource | None = field(
        default_factory=lambda: DataSource("raf-db-basic", None, {"split": "test"}))
    constrain: str = "c-expr"      # constraint set (name or YAML file) of evaluation and pair synthesis
    # context `cer predict` adds around a detector's face box so that its crops are framed as the
    # training faces are (stored in model.json); null: 0.1 when every source is the built-in
    # synthetic data (measured, see SYNTHETIC_FACE_MARGIN), else 0.25
    face_margin: float | None = None
    # data.folds: cer.compound.task splits the real compound faces by subject (else by image) and
    # validates on the held-out part; data.val is not read, the single pool is not split
    splits_folds: ClassVar[bool] = True

    def resolved_basic_val(self) -> DataSource | None:
        source = self.basic_val
        if source is None or source.path is not None:
            return source
        same = next((s for s in self.single if s.reader == source.reader and s.path is not None), None)
        return DataSource(source.reader, same.path, dict(source.options)) if same else source

    def builtin_only(self) -> bool:
        """Whether every face source is the built-in synthetic data (no path given)."""
        return all(s.path is None for s in [*self.single, *self.compound, *([self.val] if self.val else [])])

    def resolved_face_margin(self) -> float:
        if self.face_margin is not None:
            return self.face_margin
        return SYNTHETIC_FACE_MARGIN if self.builtin_only() else DEFAULT_MARGIN


@dataclass
class ModelConfig(BackboneConfig):
    loss: Literal["bce", "balanced_mse"] = "bce"  # multi-label BCE; balanced_mse: the official code's option
    bmse_noise: float = 0.1        # noise variance of Balanced-MSE (Ren et al. 2022)
    # The fresh head's initial weights: a truncated normal of this std, bias 0 (MAE fine-tuning,
    # main_finetune.py: 2e-5, a near-zero head that every seed starts from alike); null: timm's (std 0.02)
    head_init_std: float | None = None

    def __post_init__(self) -> None:
        if self.head_init_std is not None and self.head_init_std < 0:
            raise ValueError(f"model.head_init_std must be >= 0 (0: a zero head), or null for timm's; "
                             f"got {self.head_init_std}")


@dataclass
class CurriculumConfig:
    epochs: list[int] = field(default_factory=lambda: [5, 5, 3, 3])           # epochs per stage (002, Table 6)
    compound: list[float] = field(default_factory=lambda: [0.0, 0.2, 0.4, 1.0])  # compound proportion per stage
    # mix: fraction of compound samples in each epoch; pool: fraction of the compound pool added to
    # the single set (the official code's reading)
    mode: Literal["mix", "pool"] = "mix"
    epoch_size: int | None = None  # mix mode: samples per epoch; null: the size of the single pool

    def __post_init__(self) -> None:
        self.schedule()  # the schedule checks the stages (once, for the config and the API alike)

    def schedule(self) -> CurriculumSchedule:
        return CurriculumSchedule(tuple(self.epochs), tuple(self.compound), self.mode)


@dataclass
class SynthesisConfig:
    synthetic: float = 0.5         # share of compound samples synthesised from single pairs (rest: real)
    ops: list[Literal["mixup", "cutmix"]] = field(default_factory=lambda: ["mixup", "cutmix"])  # 002 Table 4
    mixup_alpha: float | None = None   # Beta(alpha, alpha) mixing weight; null: use mixup_weight
    mixup_weight: float | None = 0.1   # fixed weight of the first face (002, Table 4: "blended weight 0.1")
    cutmix_mode: Literal["half", "beta"] = "half"  # half: upper face from one, lower face from the other
    cutmix_alpha: float = 1.0


@dataclass
class AugmentConfig:
    # Stage-1 augmentation of each face. The defaults suit the compact ViT trained from scratch in a
    # few minutes: measured on the synthetic faces (975 faces, batch 32, 240 steps), flips alone let
    # it leave the label prior within ~100 steps, while random resized crops with colour jitter kept
    # it there for all 240. curricula/overlays/paper_vit_b.yaml turns on the pipeline of 002 (sec. 3.3).
    hflip: float = 0.5
    color_jitter: float = 0.0      # brightness/contrast/saturation strength; 002-style runs: 0.4
    crop_scale: tuple[float, float] = (1.0, 1.0)  # random resized crop area; (1, 1): none; 002-style: (0.8, 1)
    cutout: float = 0.0            # probability of one cutout hole; 002-style: 0.5


@dataclass
class CEConfig(RunConfig):
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    curriculum: CurriculumConfig = field(default_factory=CurriculumConfig)
    synthesis: SynthesisConfig = field(default_factory=SynthesisConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    # batch 32: on 2 CPU cores twice the optimiser steps of 64 in the same time, and the compact ViT
    # leaves the label prior after about as many steps at either size
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(batch_size=32))
