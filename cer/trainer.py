"""The one training loop, for every task (CE, MTL, MAE pretraining).

It owns what is the same for all of them: accelerate (devices, processes, precision), AdamW, Adam or
SGD (any of them under SAM, ``cer.sam``) with optional layer-wise lr decay, the per-step warmup + cosine
(or constant) schedule, gradient accumulation and clipping, EMA, ``torch.compile``, evaluation, best-model
export, early stopping, checkpoints and resume, the metrics log and the progress bar. A :class:`cer.task.Task`
owns everything else.

Determinism: every epoch starts by seeding all RNGs from (seed, epoch, rank), and on-device
randomness gets a generator seeded from (seed, step), so an epoch's numbers do not depend on what
ran before it; resuming at an epoch boundary therefore reproduces an uninterrupted run exactly.
A mid-epoch resume restores the RNG states that accelerate saved with the checkpoint.
"""

from __future__ import annotations

import logging
import math
import os
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.utils import send_to_device, set_seed

from cer.checkpoints import (
    Progress,
    complete_checkpoints,
    read_progress,
    save_checkpoint,
)
from cer.run_log import RunLog, improves
from cer.sam import SharpnessAwarePerturbation, batchnorm_stats_frozen
from cer.schedule import warmup_constant, warmup_cosine
from cer.task import Task, data_loader
from cer.train_config import LoopConfig, OptimConfig

log = logging.getLogger("cer.trainer")


def cpu_only() -> bool:
    """Whether torch has no accelerator (GPU, MPS, ...) to train on here.

    accelerate must then be told ``cpu=True``: without it, the processes of ``torchrun`` on a CPU
    machine do not form a process group, and each one trains alone on all the data.
    """
    accelerator = getattr(torch, "accelerator", None)  # torch >= 2.6: one check for every device type
    return not (accelerator.is_available() if accelerator is not None else torch.cuda.is_available())


def cpu_threads(setting: int | None, local_processes: int) -> int:
    """Torch threads for one training process on a machine without an accelerator.

    ``setting`` (``train.threads``) wins when given. Otherwise the cores this process may run on are
    shared among the processes of this machine: ``accelerate launch`` with no config exports
    ``OMP_NUM_THREADS=1`` on CPU, which would leave all cores but one idle in a single-process run
    (measured here: the built-in curriculum at half speed on two cores).
    """
    if setting is not None:
        return max(1, setting)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // max(1, local_processes))


def resolve_precision(precision: str) -> str:
    if precision != "auto":
        return precision
    if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return "bf16"
    return "no"  # bf16 autocast on CPU is slower than fp32 for these models


class Trainer:
    """Runs ``task`` for its epochs under ``optim`` and ``loop``, writing into ``run_dir``.

    Args:
        task: what to train (model, data, loss, metrics).
        optim: optimiser and schedule settings.
        loop: seed, precision, EMA, checkpoints, workers.
        run_dir: the run folder (shared by all processes).
        config: the resolved config, stored in every checkpoint.
    """

    def __init__(self, task: Task, optim: OptimConfig, loop: LoopConfig, run_dir: Path, config: dict[str, Any]):
        self.task, self.optim, self.loop, self.run_dir, self.config = task, optim, loop, Path(run_dir), config
        # Gradient accumulation is done by hand (see `_train_epoch`): accelerate's `accumulate`
        # finds epoch ends through a prepared DataLoader, and ours must stay unprepared because the
        # task's sampler shards across processes itself.
        precision = resolve_precision(loop.precision)
        if optim.name == "sam" and precision == "fp16":
            # fp16's loss scaler unscales gradients once per step; SAM needs them unscaled twice
            raise ValueError("optim.name=sam does not run with train.precision=fp16: use bf16 or no")
        self.accelerator = Accelerator(cpu=cpu_only(), mixed_precision=precision)
        self.ckpt_dir = self.run_dir / "checkpoints"
        self.is_main = self.accelerator.is_main_process
        self.run_log = RunLog(self.run_dir, enabled=self.is_main)

    # --- set-up -----------------------------------------------------------------------------

    def _build(self) -> None:
        import timm.optim

        acc = self.accelerator
        set_seed(self.loop.seed)
        model = self.task.build_model()
        if self.loop.channels_last:
            model = model.to(memory_format=torch.channels_last)
        base = self.optim.base_optimizer()
        # timm's "momentum" is plain heavy-ball SGD (its "sgd" would be Nesterov's)
        extra = {"betas": tuple(self.optim.betas)} if base != "sgd" else {"momentum": self.optim.momentum}
        optimizer = timm.optim.create_optimizer_v2(
            model, {"adamw": "adamw", "adam": "adam", "sgd": "momentum"}[base], lr=self.optim.lr,
            weight_decay=self.optim.weight_decay, layer_decay=self.optim.layer_decay, **extra,
        )
        self.sam = SharpnessAwarePerturbation(self.optim.sam_rho) if self.optim.name == "sam" else None
        for group in optimizer.param_groups:
            group.setdefault("lr_scale", 1.0)
        self.model, self.optimizer = acc.prepare(model, optimizer)
        self.train_data = self.task.train_data(acc.process_index, acc.num_processes)
        workers = self.loop.loader_workers()
        self.train_loader = data_loader(self.train_data, workers)
        val = self.task.val_data()
        # one loader, or one per named validation set (the task's evaluate gets the same shape)
        if isinstance(val, dict):
            self.val_loader = {name: acc.prepare(data_loader(v, workers)) for name, v in val.items()} or None
        else:
            self.val_loader = acc.prepare(data_loader(val, workers)) if val is not None else None
        self.ema = None
        if self.loop.ema:
            from timm.utils import ModelEmaV3

            self.ema = ModelEmaV3(acc.unwrap_model(self.model), decay=self.loop.ema_decay)
            acc.register_for_checkpointing(self.ema)
        self.forward_model = torch.compile(self.model) if self.loop.compile else self.model
        # The lr schedule is indexed by optimiser step over the whole run (all stages).
        self.batches_per_epoch = [math.ceil(self.train_data.sampler.epoch_length(e) / self.train_data.batch_size)
                                  for e in range(self.task.num_epochs())]
        self.steps_per_epoch = [math.ceil(n / self.optim.accumulate) for n in self.batches_per_epoch]
        warmup = round(self.optim.warmup_epochs * self.steps_per_epoch[0])
        total = sum(self.steps_per_epoch)
        if self.optim.schedule == "constant":
            self.lr = warmup_constant(total, self.optim.lr, warmup)
        else:
            self.lr = warmup_cosine(total, self.optim.lr, self.optim.min_lr, warmup)

    def _resume(self, checkpoint: Path | None) -> Progress:
        if checkpoint is None:
            return Progress(config=self.config)
        progress = read_progress(checkpoint)
        self.accelerator.load_state(str(checkpoint))
        self.run_log.truncate(before_epoch=progress.epoch)
        if self.is_main:
            print(f"resumed from {checkpoint} (epoch {progress.epoch + 1}, "
                  f"{progress.batches_done} batches into it)", flush=True)
        return progress

    # --- the loop -----------------------------------------------------------------------------

    def fit(self, resume_from: Path | None = None) -> dict[str, Any]:
        """Train all epochs (from ``resume_from`` when given); returns the last evaluation."""
        self._build()
        progress = self._resume(resume_from)
        if self.loop.early_stop_patience is not None and self.val_loader is None:
            log.warning("train.early_stop_patience is set but there is no validation data: every epoch is trained")
        last_eval: dict[str, Any] = {}
        for epoch in range(progress.epoch, self.task.num_epochs()):
            if self._patience_spent(progress):  # before the epoch: a run resumed after its stop stays stopped
                break
            started = time.time()
            mid_epoch = progress.batches_done > 0
            if not mid_epoch:  # a mid-epoch resume keeps the RNG states it restored
                set_seed(self.loop.seed * 1000 + epoch, device_specific=True)
            train_loss = self._train_epoch(epoch, progress)
            last_eval = self._evaluate()
            row = {"epoch": epoch, **self.task.epoch_info(epoch), "train_loss": train_loss,
                   "lr": float(self.optimizer.param_groups[0]["lr"]), "step": progress.global_step,
                   "processes": self.accelerator.num_processes,
                   **{k: v for k, v in last_eval.items() if isinstance(v, (int, float))},
                   "seconds": round(time.time() - started, 2)}
            self._track_best(progress, epoch, last_eval)
            self.run_log.write(row, progress.global_step)
            if self.is_main:
                shown = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                 for k, v in row.items() if "/" not in k and k != "epoch")
                print(f"epoch {epoch + 1}/{self.task.num_epochs()}: {shown}", flush=True)
            progress.epoch, progress.batches_done = epoch + 1, 0
            save_checkpoint(self.accelerator, self.ckpt_dir, progress, self.loop.keep_checkpoints)
        if not last_eval:  # resumed from the final checkpoint: nothing left to train
            last_eval = self._evaluate()
        if progress.best_epoch is None:
            self._export_last(last_eval)
        if self.is_main:
            self.task.report(self.run_dir, self.run_log.history(), last_eval)
        self.run_log.close()
        self.accelerator.wait_for_everyone()
        return last_eval

    def _train_epoch(self, epoch: int, progress: Progress) -> float:
        acc, data = self.accelerator, self.train_data
        data.sampler.set_epoch(epoch)
        done_batches = progress.batches_done
        if done_batches:  # mid-epoch resume: the items of the batches trained before are left out
            data.sampler.load_state_dict({"epoch": epoch, "start": done_batches * data.batch_size})
        total_batches = self.batches_per_epoch[epoch]
        self.model.train()
        bar = None
        if self.loop.progress and self.is_main:
            from tqdm.auto import tqdm

            # disable=None: no bar when the output is not a terminal (CI logs, nohup)
            bar = tqdm(total=total_batches, initial=done_batches, desc=f"epoch {epoch + 1}", leave=False,
                       disable=None)
        loss_sum = torch.zeros((), device=acc.device)
        count = torch.zeros((), device=acc.device)
        k = self.optim.accumulate
        for i, batch in enumerate(self.train_loader, start=done_batches):
            batch = send_to_device(batch, acc.device, non_blocking=True)
            seed = self.loop.seed * 1_000_003 + progress.global_step * 101 + i % k + 7919 * acc.process_index
            generator = torch.Generator(device=acc.device)
            generator.manual_seed(seed)
            last_micro = (i + 1) % k == 0 or i + 1 == total_batches
            # Gradients are all-reduced only on the micro-batch that ends an optimiser step.
            sync = nullcontext() if last_micro else acc.no_sync(self.model)
            with sync:
                with acc.autocast():
                    out = self.task.training_step(self.forward_model, batch, generator)
                acc.backward(out["loss"] / k)
            if self.sam is not None:  # accumulate is 1 (OptimConfig checks): every batch is a step
                self._sam_second_pass(batch, seed)
            if last_micro:
                if self.optim.clip_grad:
                    acc.clip_grad_norm_(self.model.parameters(), self.optim.clip_grad)
                lr = float(self.lr[min(progress.global_step, len(self.lr) - 1)])
                for group in self.optimizer.param_groups:
                    group["lr"] = lr * group["lr_scale"]
                self.optimizer.step()
                self.optimizer.zero_grad(set_to_none=True)
                progress.global_step += 1
                if self.ema is not None:
                    self.ema.update(acc.unwrap_model(self.model), step=progress.global_step)
            loss_sum += out["loss"].detach().float()
            count += 1
            progress.batches_done = i + 1
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{out['loss'].item():.4f}")
            every = self.loop.checkpoint_every
            if every and last_micro and progress.global_step % every == 0 and i + 1 < total_batches:
                save_checkpoint(acc, self.ckpt_dir, progress, self.loop.keep_checkpoints)
        if bar is not None:
            bar.close()
        loss_sum, count = acc.reduce(loss_sum, "sum"), acc.reduce(count, "sum")
        return float(loss_sum / count.clamp(min=1))

    def _sam_second_pass(self, batch: Any, seed: int) -> None:
        """Replace the gradients at ``w`` by those at ``w + e`` (see ``cer.sam``); the same generator
        seed gives the task the same on-device randomness (e.g. the same synthesised compounds)."""
        self.sam.ascend(self.model.parameters())
        self.optimizer.zero_grad(set_to_none=True)
        generator = torch.Generator(device=self.accelerator.device)
        generator.manual_seed(seed)
        with batchnorm_stats_frozen(self.model), self.accelerator.autocast():
            second = self.task.training_step(self.forward_model, batch, generator)
        self.accelerator.backward(second["loss"])
        self.sam.restore()

    def _evaluate(self) -> dict[str, Any]:
        if self.val_loader is None:
            return {}
        model = self.ema.module if self.ema is not None else self.model
        model.eval()
        with torch.no_grad(), self.accelerator.autocast():
            return self.task.evaluate(model, self.val_loader, self.accelerator)

    def _track_best(self, progress: Progress, epoch: int, metrics: dict[str, Any]) -> None:
        value = metrics.get(self.task.metric)
        if value is None:
            return
        if improves(value, progress.best_metric, self.task.greater_is_better):
            progress.best_metric, progress.best_epoch = float(value), epoch
            if self.is_main:
                self.task.export(self._model_to_export(), self.run_dir / "best")

    def _patience_spent(self, progress: Progress) -> bool:
        """Whether the epochs validated since the best one (``progress`` holds it, across resumes) have
        reached ``train.early_stop_patience``; says so once, on the main process, when they have."""
        patience = self.loop.early_stop_patience
        if patience is None or progress.best_epoch is None:
            return False
        stale = progress.epoch - 1 - progress.best_epoch  # epochs finished after the best one
        if stale < patience:
            return False
        if self.is_main:
            print(f"early stop after epoch {progress.epoch}/{self.task.num_epochs()}: {self.task.metric} has not "
                  f"improved for {stale} epochs (best {progress.best_metric:.4g} at epoch {progress.best_epoch + 1}; "
                  f"train.early_stop_patience={patience})", flush=True)
        return True

    def _export_last(self, metrics: dict[str, Any]) -> None:
        """No epoch was validated on the task's metric (e.g. no validation data): ``best/`` gets the
        model of the last epoch, so the run still leaves a model to use."""
        if self.val_loader is not None:
            log.warning("validation gave no %r (it gave %s): best/ holds the last epoch's model", self.task.metric,
                        ", ".join(sorted(metrics)) or "nothing")
        if self.is_main:
            self.task.export(self._model_to_export(), self.run_dir / "best")

    def _model_to_export(self) -> torch.nn.Module:
        return self.ema.module if self.ema is not None else self.accelerator.unwrap_model(self.model)


def find_resume_checkpoint(run_dir: Path) -> Path | None:
    """The newest complete checkpoint of ``run_dir``, or None."""
    found = complete_checkpoints(Path(run_dir) / "checkpoints")
    return found[-1] if found else None


