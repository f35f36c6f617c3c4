"""The config of an MAE pretraining run (``cer pretrain``): every face of the built-in synthetic
RAF-DB look-alike by default (labels unused), the compact ViT, 75 % masking."""

from __future__ import annotations

from dataclasses import dataclass, field

from cer.data.source import DataSource
from cer.train_config import ImageDataConfig, LoopConfig, OptimConfig, OutputConfig


@dataclass
class PretrainDataConfig(ImageDataConfig):
    train: list[DataSource] = field(default_factory=lambda: [
        DataSource("raf-db-basic", None, {"split": "train"}), DataSource("raf-db-compound", None, {"split": "train"})])
    val: DataSource | None = field(default_factory=lambda: DataSource("raf-db-basic", None, {"split": "test"}))


@dataclass
class MAEConfig:
    name: str = "vit_face_tiny"    # the encoder: any timm ViT (paper: vit_base_patch16_224)
    img_size: int = 96
    decoder_embed_dim: int = 128   # MAE paper: 512 wide, 8 deep for ViT-B; small for the compact ViT
    decoder_depth: int = 2
    decoder_num_heads: int = 4
    mask_ratio: float = 0.75       # MAE paper and 001: 75 %
    # Per-patch normalised pixel targets: the MAE paper's better option, and on the built-in faces
    # fine-tuning from them leaves the label prior sooner (README, "The built-in benchmark").
    norm_pix_loss: bool = True


@dataclass
class PretrainConfig:
    data: PretrainDataConfig = field(default_factory=PretrainDataConfig)
    model: MAEConfig = field(default_factory=MAEConfig)
    epochs: int = 20
    hflip: float = 0.5
    crop_scale: tuple[float, float] = (0.6, 1.0)
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=1.5e-3, weight_decay=0.05, betas=(0.9, 0.95)))
    train: LoopConfig = field(default_factory=LoopConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
