"""MTL as a :class:`cer.task.Task`: any joint set of AU / EXPR / V / A (eq. 6 of paper 002), with the
frozen features of earlier runs fused in and a temporal module over sequences of S frames.

Everything is read, decoded and (for fused runs) extracted when the task is built, the features of
a frozen own backbone when the model is (they depend on its loaded weights); an epoch is the
training windows in a per-epoch shuffled order (:class:`cer.shuffle_sampler.ShuffleSampler`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cer.config import to_dict
from cer.data.folds import fold_split
from cer.data.record import FaceRecord
from cer.data.source import DataSource
from cer.models.backbone import VIT_MEAN, VIT_STD
from cer.shuffle_sampler import ShuffleSampler
from cer.synth.sources import read_data
from cer.task import EvalData, TrainData
from mtl.affect_tasks import AFFECT_TASKS, parse_tasks, selection_metric, task_registry
from mtl.config import MTLConfig
from mtl.data import SplitFrames, WindowDataset, fused_inputs, model_images
from mtl.extra_features import FrameFeatures
from mtl.frozen_backbone import own_backbone_extractor
from mtl.inference import frame_predictions
from mtl.model import MTLArchitecture, MTLModel, build_model
from mtl.runs import FrozenExtractor, resolve_fuse, save_mtl
from mtl.scores import score_frames
from mtl.sequences import evaluation_windows, make_windows
from mtl.sources import log_source_counts, pool_sources, prepare_source, source_counts, source_name
from mtl.staged import is_run_checkpoint, load_mtl_run

log = logging.getLogger("mtl.task")
MEAN, STD = VIT_MEAN, VIT_STD


def train_and_val_records(cfg: MTLConfig) -> tuple[list[FaceRecord], list[FaceRecord] | None]:
    """The training and validation frames of a run of ``cfg``: ``data.train`` and ``data.val``;
    with ``data.folds``, fold ``data.fold`` of ``data.train`` split by video (001 sec. 4.3) instead.
    ``mtl evaluate`` calls it too, to score a fold run on the frames it held out."""
    data = cfg.data

    def read(source: DataSource) -> list[FaceRecord]:
        return read_data(source, data, cfg.train.seed)

    if data.folds is not None:
        return fold_split(read(data.train), data.folds, data.fold, data.fold_seed)
    return read(data.train), (read(data.val) if data.val is not None else None)


def training_sources(cfg: MTLConfig, train_records: list[FaceRecord]) -> list[tuple[str, list[FaceRecord]]]:
    """Each training source's name and frames as MTL trains on them (:func:`mtl.sources.prepare_source`):
    ``data.train``'s ``train_records`` (its training part with ``data.folds``), then each source of
    ``data.extra_train``, read whole (extra sources are never held out)."""
    sources = [(source_name(cfg.data.train), prepare_source(train_records, cfg.data.train))]
    for i, extra in enumerate(cfg.data.extra_train):
        records = read_data(extra, cfg.data, cfg.train.seed)
        if not records:
            raise ValueError(f"data.extra_train[{i}] {source_name(extra)} has no records: check its path and options")
        tasks = None if extra.tasks is None else parse_tasks(extra.tasks)
        sources.append((source_name(extra), prepare_source(records, extra, tasks)))
    return sources


class MTLTask:
    """Joint MTL training as configured by ``cfg`` (see :class:`mtl.config.MTLConfig`)."""

    greater_is_better = True

    def __init__(self, cfg: MTLConfig):
        from mtl.extract import cached_features

        self.cfg = cfg
        self.tasks = parse_tasks(cfg.tasks.joint)
        self.metric = selection_metric(cfg.tasks.select, self.tasks, cfg.tasks.au_threshold)
        self.seq = cfg.sequence.length
        self.stride = cfg.sequence.stride or self.seq
        self.lambdas = {t: float(cfg.tasks.weights.get(t, 1.0)) for t in self.tasks}
        self.fuse_folders = resolve_fuse(cfg.fuse.runs, cfg.fuse.search)  # first: fail before decoding anything
        # one reader per stream for both splits, so their files must agree on the stream's width
        self.extra_streams = [FrameFeatures(e.path, e.name) for e in cfg.fuse.extra]
        size, cache = cfg.model.img_size, cfg.data.cache_images
        train_records, val_records = self._train_and_val_records()
        sources = training_sources(cfg, train_records)
        self.source_counts = [source_counts(name, records, self.tasks) for name, records in sources]
        log_source_counts(self.source_counts)
        self.train_set = SplitFrames(pool_sources(sources), self.tasks, size, cache, "training frames",
                                     self.extra_streams)
        self.val_set = None
        if val_records is not None:
            self.val_set = SplitFrames(val_records, self.tasks, size, cache, "validation frames", self.extra_streams)
        # The effective data of each task (002 sec. 3.2): windows holding a label of a chosen task.
        windows = make_windows(self.train_set.videos.bounds, self.seq, self.stride)
        labelled = self.train_set.labelled()
        self.train_windows = windows.subset((labelled[windows.frames] & windows.valid).any(1))
        if not len(self.train_windows):
            raise ValueError(f"no training frame has a label of {', '.join(self.tasks)}: check data.train "
                             "and data.extra_train")
        extractors = [FrozenExtractor(f) for f in self.fuse_folders]
        self.fused_dims = [e.dim for e in extractors]
        # The tasks' losses and decoding, as the AU head's outputs (logits or probabilities) need them.
        self.affect = task_registry(self.architecture().au_probabilities, cfg.loss.au, cfg.loss.expr,
                                    cfg.loss.focal_gamma)
        self.loss_weights = {}
        for t in self.tasks:
            w = self.affect[t].loss_weights(*self.train_set.labels[t])
            self.loss_weights[t] = None if w is None else torch.from_numpy(w)
        self.fuse_fingerprints = [e.fingerprint for e in extractors]
        self.extractors = extractors if cfg.fuse.live else []
        if not cfg.fuse.live:
            for split in self._splits():
                split.attach_features([cached_features(e, split.records, cfg.fuse.batch_size, cfg.train.progress)
                                       for e in extractors])
        # The own backbone's features come from a cache where nothing varies them between epochs: it is
        # frozen and augment.hflip, MTL's only image augmentation, is off (build_model attaches them).
        m = cfg.model
        self.cache_backbone = m.freeze_backbone and m.cache_features is not False and cfg.augment.hflip == 0
        self.own_extractor = None
        if m.freeze_backbone and not self.cache_backbone:
            why = ("model.cache_features=false" if m.cache_features is False else
                   f"augment.hflip={cfg.augment.hflip} mirrors the images, so their features change between epochs "
                   "(augment.hflip=0 caches them)")
            log.info(f"frozen backbone: its features are computed every step, not cached: {why}")
        self.last_scores: dict[str, Any] = {}
        log.info(f"data: {len(self.train_set)} training frames in {len(self.train_windows)} sequences of {self.seq} "
                 f"(stride {self.stride}), {len(self.val_set) if self.val_set else 0} validation frames; "
                 f"tasks {','.join(self.tasks)}; fused: {', '.join(map(str, self.fuse_folders)) or 'none'}"
                 f"{' (live)' if cfg.fuse.live and extractors else ''}; extra per-frame features: "
                 f"{', '.join(f'{s.name} ({s.dim} from {s.folder})' for s in self.extra_streams) or 'none'}")

    # --- data -----------------------------------------------------------------------------------

    def _splits(self) -> list[SplitFrames]:
        return [s for s in (self.train_set, self.val_set) if s is not None]

    def _train_and_val_records(self) -> tuple[list[FaceRecord], list[FaceRecord] | None]:
        return train_and_val_records(self.cfg)

    @property
    def sequences_per_batch(self) -> int:
        return max(1, self.cfg.optim.batch_size // self.seq)

    def num_epochs(self) -> int:
        return self.cfg.epochs

    def train_data(self, rank: int, world_size: int) -> TrainData:
        sampler = ShuffleSampler(len(self.train_windows), self.cfg.train.seed, world_size, rank)
        return TrainData(WindowDataset(self.train_set, self.train_windows), sampler, self.sequences_per_batch)

    def val_data(self) -> EvalData | None:
        if self.val_set is None:
            return None
        windows = evaluation_windows(self.val_set.videos.bounds, self.seq)
        return EvalData(WindowDataset(self.val_set, windows), max(1, 2 * self.sequences_per_batch))

    def epoch_info(self, epoch: int) -> dict[str, Any]:
        return {"sequences": len(self.train_windows)}

    # --- model, step, evaluation ------------------------------------------------------------------

    def architecture(self) -> MTLArchitecture:
        m = self.cfg.model
        return MTLArchitecture(
            backbone=m.name, img_size=m.img_size, tasks=list(self.tasks),
            head_sizes=[AFFECT_TASKS[t].outputs for t in self.tasks], fused_dims=list(self.fused_dims),
            extra_dims=[s.dim for s in self.extra_streams],
            temporal=self.seq > 1, temporal_module=m.temporal, transformer=m.transformer,
            fusion_dropout=m.fusion_dropout, lstm_hidden=m.lstm_hidden,
            leaky_slope=m.leaky_slope, drop_path=m.drop_path, au_head=m.au_head, anfl_k=m.anfl_k,
            va_head=m.va_head, cross_attention=m.cross_attention, attention_dim=m.attention_dim,
        )

    def build_model(self) -> nn.Module:
        model = build_model(self.architecture())
        m = self.cfg.model
        if m.checkpoint and is_run_checkpoint(m.checkpoint):
            load_mtl_run(model, m.checkpoint, allow_mismatch=m.allow_mismatch)  # staged: the whole model
        elif m.checkpoint:
            from cer.builtin_checkpoint import resolve_checkpoint
            from cer.models.checkpoint import load_backbone_weights

            # A classifier slot lets a fine-tuned checkpoint's head be dropped as "another label space".
            model.backbone.reset_classifier(1)
            path = resolve_checkpoint(m.checkpoint, m.name, m.img_size)
            load_backbone_weights(model.backbone, path, allow_mismatch=m.allow_mismatch)  # logs it
            model.backbone.reset_classifier(0)
        if not m.freeze_backbone:
            return model
        model.freeze_backbone()
        if self.cache_backbone:
            self._attach_backbone_features(model)
        return model

    def _attach_backbone_features(self, model: MTLModel) -> None:
        """Give every frame of both splits its frozen backbone feature, read from the cache of these
        weights at this image size (extracted now where missing), so that training and validation
        never run the backbone. Here, not in ``__init__``: the features depend on the weights, which
        are only known once loaded."""
        from mtl.extract import cached_features

        m, cfg = self.cfg.model, self.cfg
        self.own_extractor = own_backbone_extractor(model.backbone, m.name, m.img_size, MEAN, STD)
        for split in self._splits():
            split.attach_backbone_features(cached_features(self.own_extractor, split.records, cfg.fuse.batch_size,
                                                           cfg.train.progress))
        log.info(f"frozen backbone: the features of {sum(map(len, self._splits()))} frames are read from "
                 f"{self.own_extractor.cache_folder}, not computed every step (model.cache_features=false: live)")

    def training_step(self, model: nn.Module, batch: dict[str, Any],
                      generator: torch.Generator) -> dict[str, torch.Tensor]:
        images = batch["images"]
        fused = fused_inputs(batch, self.extractors)  # from the un-mirrored frames, as cached
        # drawn with cached features too, so that such a run draws what the same run computed live does
        flip = torch.rand(images.shape[0], generator=generator, device=images.device) < self.cfg.augment.hflip
        own = batch.get("backbone")  # cached only with augment.hflip=0: no frame is mirrored
        inputs = None if own is not None else model_images(images, MEAN, STD, flip)
        out = model(inputs, fused, batch["valid"], batch["extra"], features=own)
        total = torch.zeros((), device=images.device)
        parts = {}
        for t in self.tasks:
            task = self.affect[t]
            loss = task.loss(out[t].flatten(0, 1), batch["targets"][t].flatten(0, 1),
                             batch["masks"][t].flatten(0, 1), self.loss_weights[t])
            total = total + self.lambdas[t] * loss
            parts[f"{t}_loss"] = loss.detach()
        return {"loss": total, **parts}

    def evaluate(self, model: nn.Module, loader: Any, accelerator: Any) -> dict[str, Any]:
        preds = frame_predictions(model, loader, self.tasks, len(self.val_set), MEAN, STD, self.extractors,
                                  gather=accelerator.gather_for_metrics, registry=self.affect)
        scores = score_frames(self.tasks, preds, self.val_set.labels, self.cfg.tasks.au_threshold)
        self.last_scores = scores
        return {f"val_{k}": v for k, v in scores.items()}

    def export(self, model: nn.Module, folder: Path) -> None:
        scalars = {f"val_{k}": float(v) for k, v in self.last_scores.items()
                   if isinstance(v, (int, float)) and not isinstance(v, bool)}
        save_mtl(model, folder, self.architecture(), {
            "mean": list(MEAN), "std": list(STD), "sequence": {"length": self.seq, "stride": self.stride},
            "fuse": [{"run": str(f.resolve()), "fingerprint": fp}
                     for f, fp in zip(self.fuse_folders, self.fuse_fingerprints)],
            "extra": [{"name": s.name, "path": str(s.folder.resolve()), "dim": s.dim} for s in self.extra_streams],
            "metrics": scalars, "au_thresholds": self.last_scores.get("au_thresholds"),
            "sources": self.source_counts, "config": to_dict(self.cfg),
        })

    def report(self, run_dir: Path, history: list[dict[str, Any]], last_eval: dict[str, Any]) -> None:
        from mtl.report import write_report

        write_report(run_dir / "report", self.tasks, history, last_eval)
