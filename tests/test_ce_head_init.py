"""``model.head_init_std``: the CE head starts as MAE fine-tuning starts it (a near-zero truncated
normal, bias 0), zero, or as timm builds it; a negative std is refused."""

from __future__ import annotations

import pytest
import torch
from tiny_ce import tiny_ce_config

from cer.compound.config import CEConfig
from cer.compound.task import CompoundTask
from cer.config import ConfigError, from_dict


def head_of(raf, std) -> torch.nn.Linear:
    cfg = tiny_ce_config(raf, [1], [0.0])
    cfg["model"]["head_init_std"] = std
    torch.manual_seed(0)
    return CompoundTask(from_dict(CEConfig, cfg)).build_model().get_classifier()


def test_head_init_std_sets_the_fresh_heads_spread_and_zeroes_its_bias(tiny_synth):
    raf = tiny_synth / "raf-db"
    timm_head, mae_head, zero_head = head_of(raf, None), head_of(raf, 2e-5), head_of(raf, 0.0)
    assert 0.01 < timm_head.weight.std().item() < 0.03  # timm's std 0.02
    assert 1e-5 < mae_head.weight.std().item() < 3e-5
    assert torch.count_nonzero(zero_head.weight) == 0
    assert torch.count_nonzero(mae_head.bias) == 0 and torch.count_nonzero(zero_head.bias) == 0


def test_a_negative_head_init_std_is_refused_by_name(tiny_synth):
    cfg = tiny_ce_config(tiny_synth / "raf-db", [1], [0.0])
    cfg["model"]["head_init_std"] = -1.0
    with pytest.raises((ConfigError, ValueError), match="model.head_init_std must be >= 0"):
        from_dict(CEConfig, cfg)
