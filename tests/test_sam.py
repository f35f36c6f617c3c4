"""SAM in the trainer: one step against the hand-worked update, and data parallelism (2 gloo
processes) against one process on the same global batch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from toy_task import HalfSquaredNorm, constant_lr, train

from cer.sam import SharpnessAwarePerturbation, batchnorm_stats_frozen
from cer.train_config import OptimConfig


def test_one_sam_step_through_the_trainer_is_the_hand_worked_update(tmp_path):
    # loss 0.5 ||w||^2, gradient w. At w = (3, 4): ||g|| = 5, e = rho g / ||g|| = 0.5 (3, 4) / 5 =
    # (0.3, 0.4); the gradient at w + e is (3.3, 4.4); SGD at lr 0.1 from w: (3 - 0.33, 4 - 0.44).
    weights = train(tmp_path / "sam", 1, constant_lr("sam", sam_rho=0.5), task=HalfSquaredNorm([3.0, 4.0]))
    assert weights["w"].tolist() == pytest.approx([2.67, 3.56], abs=1e-6)
    plain = train(tmp_path / "sgd", 1, constant_lr("sgd"), task=HalfSquaredNorm([3.0, 4.0]))
    assert plain["w"].tolist() == pytest.approx([2.7, 3.6], abs=1e-6)  # w - 0.1 w: SAM's step differs


def test_sam_on_two_gloo_processes_equals_one_process_on_the_global_batch(tmp_path):
    one = train(tmp_path / "one", 16, constant_lr("sam"))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    toy = Path(__file__).with_name("toy_task.py")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", str(toy), str(tmp_path / "two"),
           "8", "sam"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    two = torch.load(tmp_path / "two" / "best" / "weights.pt")
    plain = train(tmp_path / "sgd", 16, constant_lr("sgd"))
    for key in one:
        assert torch.allclose(one[key], two[key], atol=1e-6), key
    assert not torch.allclose(one["weight"], plain["weight"], atol=1e-3)  # 4 steps of SAM are not SGD's


def test_ascend_then_restore_returns_the_weights_and_keeps_the_new_gradients():
    p = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    p.grad = torch.tensor([0.0, 2.0])
    sam = SharpnessAwarePerturbation(rho=0.1)
    assert sam.ascend([p]) == pytest.approx(2.0)
    assert p.tolist() == pytest.approx([1.0, -1.9])
    with pytest.raises(RuntimeError, match="twice"):
        sam.ascend([p])
    p.grad = torch.tensor([5.0, 5.0])
    sam.restore()
    assert p.tolist() == pytest.approx([1.0, -2.0]) and p.grad.tolist() == [5.0, 5.0]


def test_second_pass_leaves_batchnorm_statistics_alone():
    bn = torch.nn.BatchNorm1d(2).train()
    with batchnorm_stats_frozen(bn):
        bn(torch.randn(8, 2) + 3)
    assert bn.running_mean.tolist() == [0.0, 0.0] and bn.momentum == 0.1


def test_sam_config_errors_say_what_to_change():
    with pytest.raises(ValueError, match="optim.accumulate=1"):
        OptimConfig(name="sam", accumulate=2)
    with pytest.raises(ValueError, match="sam_rho"):
        OptimConfig(name="sam", sam_rho=0.0)


def test_sam_refuses_fp16_before_building_anything(tmp_path):
    from toy_task import LeastSquares

    from cer.train_config import LoopConfig
    from cer.trainer import Trainer

    with pytest.raises(ValueError, match="bf16 or no"):
        Trainer(LeastSquares(4), OptimConfig(name="sam"), LoopConfig(precision="fp16"), tmp_path, config={})
