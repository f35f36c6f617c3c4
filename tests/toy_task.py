"""A least-squares task for the trainer's own tests: a linear model on fixed random data, no
randomness in the step, so optimiser runs can be compared number for number.

Run as a script (``torchrun ... tests/toy_task.py OUT BATCH OPTIM``) it trains one epoch and saves
the weights into ``OUT/weights.pt``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import TensorDataset

from cer.shuffle_sampler import ShuffleSampler
from cer.task import EvalData, TrainData
from cer.train_config import LoopConfig, OptimConfig


class LeastSquares:
    metric, greater_is_better = "loss", False

    def __init__(self, batch_size: int, n: int = 64, dim: int = 5, seed: int = 0, epochs: int = 1):
        self.epochs = epochs
        g = torch.Generator().manual_seed(seed)
        x = torch.randn(n, dim, generator=g)
        y = x @ torch.randn(dim, 1, generator=g) + 0.1 * torch.randn(n, 1, generator=g)
        self.data, self.batch_size, self.dim, self.seed = TensorDataset(x, y), batch_size, dim, seed

    def build_model(self) -> nn.Module:
        torch.manual_seed(self.seed)
        return nn.Linear(self.dim, 1)

    def num_epochs(self) -> int:
        return self.epochs

    def train_data(self, rank: int, world_size: int) -> TrainData:
        sampler = ShuffleSampler(len(self.data), seed=self.seed, num_replicas=world_size, rank=rank)
        return TrainData(self.data, sampler, self.batch_size)

    def val_data(self):
        return None

    def training_step(self, model, batch, generator):
        x, y = batch
        return {"loss": F.mse_loss(model(x), y)}

    def evaluate(self, model, loader, accelerator):
        return {}

    def epoch_info(self, epoch):
        return {}

    def export(self, model, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        torch.save({k: v.detach().clone() for k, v in model.state_dict().items()}, folder / "weights.pt")

    def report(self, run_dir, history, last_eval) -> None:
        pass


class HalfSquaredNorm(LeastSquares):
    """Loss ``0.5 * ||w||^2`` of one parameter vector, whatever the batch: its gradient is ``w``, so
    an optimiser's step can be worked out by hand."""

    def __init__(self, start: list[float], epochs: int = 1):
        super().__init__(batch_size=1, n=1, epochs=epochs)  # one step per epoch
        self.start = start

    def build_model(self) -> nn.Module:
        model = nn.Module()
        model.w = nn.Parameter(torch.tensor(self.start))
        return model

    def training_step(self, model, batch, generator):
        return {"loss": 0.5 * (model.w ** 2).sum()}


class StepCounter(LeastSquares):
    """One weight ``w`` with loss ``-w`` (gradient -1): SGD at a constant lr 1 adds exactly 1 per step, so
    after ``t`` steps ``w = t``. Validation reports the ``w`` of the model it is given (``val_w``) and,
    when ``scores`` are given, ``scores[t - 1]`` as ``val_score`` for the model at ``w = t``: a metric
    the test writes out epoch by epoch (``steps_per_epoch`` steps each)."""

    metric, greater_is_better = "val_w", True

    def __init__(self, epochs: int, steps_per_epoch: int = 1, scores: list[float] | None = None):
        super().__init__(batch_size=1, n=steps_per_epoch, epochs=epochs)
        self.scores = scores
        if scores is not None:
            self.metric = "val_score"

    def build_model(self) -> nn.Module:
        model = nn.Module()
        model.w = nn.Parameter(torch.zeros(1))
        return model

    def val_data(self) -> EvalData:
        return EvalData(self.data, batch_size=len(self.data))  # never read: the metric is the weight

    def training_step(self, model, batch, generator):
        return {"loss": -model.w.sum()}

    def evaluate(self, model, loader, accelerator):
        w = float(model.w)
        scores = {} if self.scores is None else {"val_score": self.scores[round(w) - 1]}
        return {"val_w": w, **scores}


def step_counter_sgd() -> OptimConfig:
    """SGD at lr 1 for every step, nothing else: :class:`StepCounter`'s ``w`` counts the steps."""
    return OptimConfig(name="sgd", lr=1.0, schedule="constant", warmup_epochs=0, weight_decay=0.0, momentum=0.0,
                       clip_grad=None)


def train(out: Path, batch_size: int, optim: OptimConfig, task: LeastSquares | None = None,
          loop: LoopConfig | None = None, resume_from: Path | None = None) -> dict[str, torch.Tensor]:
    """Train ``task`` (a :class:`LeastSquares` of ``batch_size`` by default) into ``out``; ``best/``'s weights."""
    from cer.trainer import Trainer

    task = task or LeastSquares(batch_size)
    loop = loop or LoopConfig(progress=False, threads=1, keep_checkpoints=1)
    Trainer(task, optim, loop, out, config={}).fit(resume_from)
    return torch.load(out / "best" / "weights.pt")


def constant_lr(name: str, **kwargs) -> OptimConfig:
    """``name`` at a constant lr 0.1, without weight decay, momentum or clipping (unless given)."""
    return OptimConfig(**{"name": name, "lr": 0.1, "min_lr": 0.1, "warmup_epochs": 0, "weight_decay": 0.0,
                          "momentum": 0.0, "clip_grad": None, **kwargs})


if __name__ == "__main__":
    out, batch, name = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    train(out, batch, constant_lr(name))
