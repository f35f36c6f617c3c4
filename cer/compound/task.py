"""The CE task of paper 002: a multi-label ViT over the 6 basic expressions, trained through a
curriculum from single to compound expressions, evaluated with constrained inference.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from augment.mixing import CUTMIX, MIXUP, CompoundSynthesizer
from augment.pipelines import train_pipeline
from cer.compound.config import CEConfig
from cer.compound.curriculum import CurriculumSampler
from cer.compound.data import CurriculumDataset, LabelledImages, collate_recipes, compound_targets
from cer.compound.evaluate import basic_metrics, evaluate_compound
from cer.config import to_dict
from cer.data.folds import group_of, held_out_mask
from cer.data.image_bank import ImageBank
from cer.data.record import FaceRecord
from cer.data.source import DataSource
from cer.models.backbone import VIT_MEAN, VIT_STD, normalise
from cer.models.trained import save_classifier
from cer.synth.face_geometry import aligned_template
from cer.synth.sources import read_data
from cer.task import EvalData, TrainData
from cer.taxonomy import CE_BASIC, ConstraintSet, constraint_set

log = logging.getLogger("cer.compound")

_OPS = {"mixup": MIXUP, "cutmix": CUTMIX}
MEAN, STD = VIT_MEAN, VIT_STD
BASIC = constraint_set("basic")  # the 6 basic expressions as classes, for the held-out basic faces


def balanced_mse_loss(probs: torch.Tensor, targets: torch.Tensor, noise_var: float) -> torch.Tensor:
    """Balanced MSE (Ren et al., CVPR 2022, batch-based Monte-Carlo form) over label vectors: each
    prediction must be closer to its own target than to the batch's other targets."""
    dist = torch.cdist(probs.float(), targets.float()).pow(2)  # [N, N]
    logits = -dist / (2 * noise_var)
    return F.cross_entropy(logits, torch.arange(len(probs), device=probs.device)) * (2 * noise_var)


def split_pools(records: list[FaceRecord]) -> tuple[list[FaceRecord], np.ndarray, list[FaceRecord], np.ndarray]:
    """Single-expression faces (one CE basic label) and compound faces (two), with multi-hot labels;
    everything else (neutral, contempt, other, unlabelled) is left out, as in 002."""
    singles, single_labels, compounds, compound_labels = [], [], [], []
    for r in records:
        hot = r.ce_multi_hot()
        if hot is None:
            continue
        if hot.sum() == 1:
            singles.append(r)
            single_labels.append(hot)
        elif hot.sum() == 2:
            compounds.append(r)
            compound_labels.append(hot)
    k = len(CE_BASIC)
    return (singles, np.asarray(single_labels, np.float32).reshape(-1, k),
            compounds, np.asarray(compound_labels, np.float32).reshape(-1, k))


def source_name(source: DataSource) -> str:
    return f"{source.reader} {source.path or '(synthetic)'}"


def read_source(cfg: CEConfig, source: DataSource) -> list[FaceRecord]:
    """The records of one source, read as the run reads them (its data settings and seed)."""
    return read_data(source, cfg.data, cfg.train.seed)


def read_pools(cfg: CEConfig) -> tuple[list[FaceRecord], np.ndarray, list[FaceRecord], np.ndarray]:
    """The single-expression and real compound pools of ``cfg.data`` with their multi-hot labels."""
    def read(sources: list[DataSource]) -> list[FaceRecord]:
        return [r for s in sources for r in read_source(cfg, s)]

    singles, single_labels, extra_compounds, extra_labels = split_pools(read(cfg.data.single))
    _, _, compounds, compound_labels = split_pools(read(cfg.data.compound))
    # compound faces found among the "single" sources still count as compounds
    return (singles, single_labels, extra_compounds + compounds,
            np.concatenate([extra_labels, compound_labels]))


def split_fold(compounds: list[FaceRecord], labels: np.ndarray,
               cfg: CEConfig) -> tuple[list[FaceRecord], np.ndarray, list[FaceRecord]]:
    """Fold ``data.fold`` of the real compound pool: ``(training faces, their labels, held-out
    faces)``, split by subject where the reader knows one, else by image (RAF-DB publishes no
    identities, so its folds are split by image; cer.data.folds). The held-out faces replace
    ``data.val``; the single pool trains whole, since validation measures compounds only."""
    data = cfg.data
    if not compounds:
        raise ValueError(f"data.folds={data.folds} splits the real compound faces (data.compound, and compound "
                         "faces among data.single), and these sources hold none: give data.compound a compound "
                         "set (e.g. reader raf-db-compound) or set data.folds and data.fold to null")
    held = held_out_mask(compounds, data.folds, data.fold, data.fold_seed)
    by = "image" if any(group_of(r).startswith("face:") for r in compounds) else "subject or video"
    log.info(f"fold {data.fold} of {data.folds} (fold_seed {data.fold_seed}, split by {by}): "
             f"{int(held.sum())} of {len(compounds)} real compound faces held out for validation")
    return [r for r, h in zip(compounds, held) if not h], labels[~held], [r for r, h in zip(compounds, held) if h]


def held_out_faces(cfg: CEConfig) -> list[FaceRecord]:
    """The compound faces a fold run (``data.folds`` set) validated on, read again from its config."""
    _, _, compounds, labels = read_pools(cfg)
    return split_fold(compounds, labels, cfg)[2]


class CompoundTask:
    """CE as a :class:`cer.task.Task`; all data is read and decoded when it is built."""

    metric = "val_f1"
    greater_is_better = True

    def __init__(self, cfg: CEConfig):
        self.cfg = cfg
        self.cset = constraint_set(cfg.data.constrain)
        size = cfg.model.img_size
        singles, single_labels, compounds, compound_labels = read_pools(cfg)
        held_out = None
        if cfg.data.folds is not None:
            compounds, compound_labels, held_out = split_fold(compounds, compound_labels, cfg)
        if not singles:
            raise ValueError("the single-expression pool is empty: data.single must hold faces labelled "
                             f"with one of {', '.join(CE_BASIC.classes)}")
        cache = cfg.data.cache_images
        self.single_bank = ImageBank(singles, size, cache, "single-expression faces")
        self.compound_bank = ImageBank(compounds, size, cache, "compound faces")
        self.single_index = single_labels.argmax(1)
        aug = cfg.augment
        pipeline = train_pipeline(size, hflip=aug.hflip, color_jitter=aug.color_jitter,
                                  crop_scale=tuple(aug.crop_scale), cutout=aug.cutout)
        self.dataset = CurriculumDataset(self.single_bank, single_labels, self.compound_bank,
                                         compound_labels, pipeline, seed=cfg.train.seed)
        self.schedule = cfg.curriculum.schedule()
        syn = cfg.synthesis
        self.synthesizer = CompoundSynthesizer(mixup_alpha=syn.mixup_alpha, mixup_weight=syn.mixup_weight,
                                               cutmix_mode=syn.cutmix_mode, cutmix_alpha=syn.cutmix_alpha)
        self.counts = self._sampler(0, 1)  # what each epoch holds, for the log
        if held_out is not None:
            self.val_set = self._val_images(held_out, f"held-out fold {cfg.data.fold}", self.cset, size)
        elif cfg.data.val is not None:
            self.val_set = self._val_images(self._read(cfg.data.val), source_name(cfg.data.val), self.cset, size)
        else:
            self.val_set = None
        basic_val = cfg.data.resolved_basic_val()
        self.basic_val_set = (self._val_images(self._read(basic_val), source_name(basic_val), BASIC, size)
                              if basic_val is not None else None)
        log.info(f"data: {len(singles)} single-expression faces, {len(compounds)} real compound faces, "
                 f"{len(self.val_set) if self.val_set else 0} validation faces ({self.cset.name}), "
                 f"{len(self.basic_val_set) if self.basic_val_set else 0} held-out basic faces")

    # --- data -----------------------------------------------------------------------------------

    def _read(self, source: DataSource) -> list[FaceRecord]:
        return read_source(self.cfg, source)

    def _val_images(self, records: list[FaceRecord], where: str, cset: ConstraintSet, size: int) -> LabelledImages:
        records, targets, dropped = compound_targets(records, cset)
        # neutral faces of a basic set are expected to drop out of the 6 basic classes
        if dropped and cset is not BASIC:
            log.warning("validation: %d faces whose label is not a class of %s were left out", dropped, cset.name)
        if not records:
            raise ValueError(f"the validation set {where} has no face labelled with a class of {cset.name}")
        return LabelledImages(ImageBank(records, size, self.cfg.data.cache_images, f"{cset.name} validation faces"),
                              targets)

    def _sampler(self, rank: int, world: int) -> CurriculumSampler:
        c = self.cfg
        return CurriculumSampler(
            self.single_index, len(self.compound_bank), self.schedule, self.cset.allowed_pairs(),
            synthetic=c.synthesis.synthetic, ops=[_OPS[o] for o in c.synthesis.ops],
            epoch_size=c.curriculum.epoch_size if self.schedule.mode == "mix" else None,
            seed=c.train.seed, num_replicas=world, rank=rank)

    def num_epochs(self) -> int:
        return self.schedule.total_epochs

    def train_data(self, rank: int, world_size: int) -> TrainData:
        return TrainData(self.dataset, self._sampler(rank, world_size), self.cfg.optim.batch_size, collate_recipes)

    def val_data(self) -> dict[str, EvalData]:
        sets = {"compound": self.val_set, "basic": self.basic_val_set}
        return {name: EvalData(s, self.cfg.optim.batch_size * 2) for name, s in sets.items() if s is not None}

    def epoch_info(self, epoch: int) -> dict[str, Any]:
        counts = self.counts.global_counts(epoch)  # the whole epoch's, over all processes
        return {"stage": self.schedule.stage_of(epoch) + 1, "compound_fraction": self.schedule.fraction(epoch),
                **{f"n_{k}": v for k, v in counts.items()}}

    # --- model, step, evaluation ------------------------------------------------------------------

    def build_model(self) -> nn.Module:
        from cer.models.backbone import create_backbone

        m = self.cfg.model
        model = create_backbone(m.name, m.img_size, len(CE_BASIC), drop_path=m.drop_path)
        if m.checkpoint:
            from cer.builtin_checkpoint import resolve_checkpoint
            from cer.models.checkpoint import load_backbone_weights

            path = resolve_checkpoint(m.checkpoint, m.name, m.img_size)
            load_backbone_weights(model, path, allow_mismatch=m.allow_mismatch)  # logs what it loaded
        if m.head_init_std is not None:
            head = model.get_classifier()
            if m.head_init_std > 0:
                nn.init.trunc_normal_(head.weight, std=m.head_init_std)
            else:
                nn.init.zeros_(head.weight)
            nn.init.zeros_(head.bias)
        return model

    def training_step(self, model: nn.Module, batch: dict[str, torch.Tensor],
                      generator: torch.Generator) -> dict[str, torch.Tensor]:
        images = batch["images"].float().div_(255)
        labels = batch["labels"]
        direct = batch["direct"]
        synth, synth_labels = self.synthesizer(images, labels, batch["pairs"], batch["ops"], generator)
        x = normalise(torch.cat([images[direct], synth]), MEAN, STD)
        y = torch.cat([labels[direct], synth_labels])
        logits = model(x)
        if self.cfg.model.loss == "bce":
            loss = F.binary_cross_entropy_with_logits(logits.float(), y)
            return {"loss": loss, "bce_loss": loss.detach()}
        loss = balanced_mse_loss(torch.sigmoid(logits.float()), y, self.cfg.model.bmse_noise)
        return {"loss": loss, "bmse_loss": loss.detach()}

    def evaluate(self, model: nn.Module, loaders: dict[str, Any], accelerator: Any) -> dict[str, Any]:
        """Compound metrics as ``val_*`` (``val_f1`` picks the best epoch), held-out basic ones as ``basic_*``."""
        def run(name: str, cset: ConstraintSet) -> dict[str, Any]:
            return evaluate_compound(model, loaders[name], cset, MEAN, STD, accelerator.gather_for_metrics,
                                     accelerator.device)

        result = run("compound", self.cset) if "compound" in loaders else {}
        if "basic" in loaders:
            result.update(basic_metrics(run("basic", BASIC)))
        return result

    def export(self, model: nn.Module, folder: Path) -> None:
        m = self.cfg.model
        save_classifier(model, folder, m.name, m.img_size, {
            "label_space": CE_BASIC.name, "classes": list(CE_BASIC.classes), "mean": list(MEAN),
            "std": list(STD), "constrain": self.cset.name, "face_margin": self.cfg.data.resolved_face_margin(),
            # the landmarks' place in the built-in aligned crops, for cer predict --align (real data
            # sets do not publish the template of their alignment)
            "face_template": [list(p) for p in aligned_template()] if self.cfg.data.builtin_only() else None,
            "config": to_dict(self.cfg),
        })

    def report(self, run_dir: Path, history: list[dict[str, Any]], last_eval: dict[str, Any]) -> None:
        from cer.compound.report import write_report

        write_report(run_dir / "report", history, last_eval)
