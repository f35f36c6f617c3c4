"""MAE pretraining as a task of the shared trainer: masked-patch reconstruction of face images;
the validation reconstruction loss selects the best epoch."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from cer.data.source import DataSource
from cer.models.backbone import VIT_MEAN, VIT_STD, normalise
from cer.pretrain.config import PretrainConfig
from cer.task import EvalData, TrainData

log = logging.getLogger("cer.pretrain")
MEAN, STD = VIT_MEAN, VIT_STD


class _Faces(Dataset):
    def __init__(self, bank: Any, pipeline: Any, seed: int):
        self.bank, self.pipeline, self.seed, self.epoch = bank, pipeline, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch  # seeds the augmentation with the image

    def __len__(self) -> int:
        return len(self.bank)

    def __getitem__(self, i: int) -> torch.Tensor:
        img = self.bank[i]
        if self.pipeline is not None:
            from augment.pipelines import reseed
            from cer.data.image_bank import stable_seed

            reseed(self.pipeline, stable_seed(self.seed, self.epoch, i))
            img = self.pipeline(image=img)["image"]
        return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)


class MAETask:
    """MAE pretraining as a :class:`cer.task.Task`: the metric is the validation reconstruction loss."""

    metric = "val_loss"
    greater_is_better = False

    def __init__(self, cfg: PretrainConfig):
        from augment.pipelines import train_pipeline
        from cer.data.image_bank import ImageBank
        from cer.synth.sources import read_data

        self.cfg = cfg
        d, size = cfg.data, cfg.model.img_size

        def read(src: DataSource):
            return read_data(src, d, cfg.train.seed)

        train = [r for s in d.train for r in read(s)]
        if not train:
            raise ValueError("data.train holds no image: give at least one source with faces")
        pipeline = train_pipeline(size, hflip=cfg.hflip, color_jitter=0, crop_scale=tuple(cfg.crop_scale), cutout=0)
        self.train_set = _Faces(ImageBank(train, size, d.cache_images, "faces"), pipeline, cfg.train.seed)
        self.val_set = _Faces(ImageBank(read(d.val), size, d.cache_images, "validation faces"), None, 0) \
            if d.val is not None else None
        n_val = len(self.val_set) if self.val_set else 0
        log.info(f"data: {len(self.train_set)} training faces, {n_val} validation faces")

    def build_model(self) -> nn.Module:
        from cer.models.mae import MaskedAutoencoderViT

        m = self.cfg.model
        return MaskedAutoencoderViT(m.name, m.img_size, decoder_embed_dim=m.decoder_embed_dim,
                                    decoder_depth=m.decoder_depth, decoder_num_heads=m.decoder_num_heads,
                                    mask_ratio=m.mask_ratio, norm_pix_loss=m.norm_pix_loss)

    def num_epochs(self) -> int:
        return self.cfg.epochs

    def train_data(self, rank: int, world_size: int) -> TrainData:
        from cer.shuffle_sampler import ShuffleSampler

        sampler = ShuffleSampler(len(self.train_set), self.cfg.train.seed, world_size, rank)
        return TrainData(self.train_set, sampler, self.cfg.optim.batch_size)

    def val_data(self) -> EvalData | None:
        return EvalData(self.val_set, self.cfg.optim.batch_size * 2) if self.val_set is not None else None

    def training_step(self, model: nn.Module, batch: torch.Tensor,
                      generator: torch.Generator) -> dict[str, torch.Tensor]:

        out = model(normalise(batch, MEAN, STD), generator=generator)
        return {"loss": out["loss"], "mae_loss": out["loss"].detach()}

    def evaluate(self, model: nn.Module, loader: Any, accelerator: Any) -> dict[str, Any]:

        # The same masks every epoch, so the validation loss moves only with the model.
        generator = torch.Generator(device=accelerator.device).manual_seed(12345)
        losses = []
        for batch in loader:
            x = normalise(batch, MEAN, STD)
            loss = model(x, generator=generator)["loss"].float().reshape(1).repeat(len(x))
            losses.append(accelerator.gather_for_metrics(loss).cpu())
        self._last_val_batch = batch[:8].cpu() if losses else None
        return {"val_loss": float(torch.cat(losses).mean())} if losses else {}

    def epoch_info(self, epoch: int) -> dict[str, Any]:
        return {"mask_ratio": self.cfg.model.mask_ratio}

    def export(self, model: nn.Module, folder: Path) -> None:
        from dataclasses import asdict

        from cer.config import to_dict
        from cer.models.trained import save_trained

        m = self.cfg.model
        # The folder's model.safetensors is the whole MAE; encoder.safetensors is what fine-tuning
        # loads (model.checkpoint=RUN/best/encoder.safetensors).
        save_trained(model, folder, "mae", asdict(m), {"name": m.name, "img_size": m.img_size, "prefix": "encoder."},
                     {"mean": list(MEAN), "std": list(STD), "config": to_dict(self.cfg)},
                     extra_weights={"encoder.safetensors": model.encoder_state_dict()})
        self._model = model  # the report shows this model's reconstructions

    def report(self, run_dir: Path, history: list[dict[str, Any]], last_eval: dict[str, Any]) -> None:
        from cer.models.mae import mae_reconstruction_grid
        from cer.plots import pyplot

        folder = run_dir / "report"
        folder.mkdir(parents=True, exist_ok=True)
        plt = pyplot()
        fig, ax = plt.subplots(figsize=(6, 3.5))
        epochs = [r["epoch"] + 1 for r in history]
        ax.plot(epochs, [r.get("train_loss") for r in history], "o-", label="train")
        ax.plot(epochs, [r.get("val_loss") for r in history], "s-", label="validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel("masked-patch L2")
        ax.legend()
        fig.tight_layout()
        fig.savefig(folder / "loss.png", dpi=120)
        plt.close(fig)
        batch = getattr(self, "_last_val_batch", None)
        model = getattr(self, "_model", None)
        if batch is not None and model is not None:
            mae_reconstruction_grid(model.cpu(), normalise(batch, MEAN, STD), folder / "reconstructions.png",
                                    mean=MEAN, std=STD, generator=torch.Generator().manual_seed(0))
