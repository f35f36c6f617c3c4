"""The optimiser and lr schedule switches of paper 003: Adam (optim.name=adam, also under SAM) and a
constant lr (optim.schedule=constant), against updates worked by hand on a toy loss."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from toy_task import HalfSquaredNorm, LeastSquares, constant_lr, train

from cer.schedule import warmup_constant, warmup_cosine
from cer.train_config import LoopConfig, OptimConfig


def test_one_adam_step_is_the_hand_worked_update(tmp_path):
    # loss 0.5 ||w||^2, gradient w = (3, 4). Adam's first step: m = 0.1 g, v = 0.001 g^2, bias-corrected
    # to g and g^2, so each weight moves by lr * g / (|g| + 1e-8) = 0.1: (2.9, 3.9). SGD moves by lr g.
    adam = train(tmp_path / "adam", 1, constant_lr("adam"), task=HalfSquaredNorm([3.0, 4.0]))
    assert adam["w"].tolist() == pytest.approx([2.9, 3.9], abs=1e-6)
    sgd = train(tmp_path / "sgd", 1, constant_lr("sgd"), task=HalfSquaredNorm([3.0, 4.0]))
    assert sgd["w"].tolist() == pytest.approx([2.7, 3.6], abs=1e-6)


def test_sam_steps_with_adam_when_it_is_the_base(tmp_path):
    from cer.trainer import Trainer

    trainer = Trainer(LeastSquares(4), OptimConfig(name="sam", sam_base="adam"), LoopConfig(progress=False), tmp_path,
                      config={})
    trainer._build()
    assert type(trainer.optimizer.optimizer) is torch.optim.Adam and trainer.sam is not None


def test_constant_schedule_is_the_warmup_then_the_lr():
    np.testing.assert_array_equal(warmup_constant(6, 0.1, 0), np.full(6, 0.1))
    np.testing.assert_allclose(warmup_constant(6, 0.1, 2), [0.0, 0.05, 0.1, 0.1, 0.1, 0.1])
    # its warmup is the cosine schedule's, step for step
    np.testing.assert_array_equal(warmup_constant(6, 0.1, 3)[:3], warmup_cosine(6, 0.1, 1e-6, 3)[:3])


@pytest.mark.parametrize("warmup_epochs, lrs", [(0, [0.1] * 5), (2, [0.0, 0.05, 0.1, 0.1, 0.1])])
def test_constant_schedule_keeps_the_lr_of_every_step(tmp_path, warmup_epochs, lrs):
    # SGD on 0.5 ||w||^2, one step per epoch: each step multiplies w by (1 - lr_t), so the final w is the
    # product of the lrs actually used; min_lr 1e-6 would pull a cosine far below 0.1 by step 5
    optim = constant_lr("sgd", schedule="constant", min_lr=1e-6, warmup_epochs=warmup_epochs)
    w = train(tmp_path / "constant", 1, optim, task=HalfSquaredNorm([3.0, 4.0], epochs=5))["w"]
    factor = float(np.prod([1 - lr for lr in lrs]))
    assert w.tolist() == pytest.approx([3.0 * factor, 4.0 * factor], rel=1e-6)
    logged = [json.loads(line)["lr"] for line in (tmp_path / "constant" / "metrics.jsonl").read_text().splitlines()]
    assert logged == pytest.approx(lrs)  # each epoch's (single) step
    cosine = train(tmp_path / "cosine", 1, constant_lr("sgd", min_lr=1e-6), task=HalfSquaredNorm([3.0, 4.0], epochs=5))
    assert cosine["w"][0].item() > 3.0 * 0.9 ** 5 + 1e-3  # the cosine decays: the lr of later steps is smaller


def test_default_schedule_is_the_cosine():
    assert OptimConfig().schedule == "cosine" and OptimConfig().name == "adamw"
