"""The transformer temporal module (model.temporal=transformer; 001 sec. 3.2, 003 sec. 3.1): its
shape, its position code, that it sees frame order, the causal switch, padding that no frame attends
to, and the config switch that selects it beside the default LSTM."""

from __future__ import annotations

import math

import pytest
import torch

from cer.config import ConfigError, load_config
from mtl.affect_tasks import AFFECT_TASKS
from mtl.config import MTLConfig
from mtl.model import MTLArchitecture, TemporalModule, build_model
from mtl.temporal_transformer import TemporalTransformer, TransformerConfig, sinusoidal_positions
from mtl.train import run_name

TASKS = ["au", "v"]


def module(causal: bool = False, in_dim: int = 12, width: int = 16) -> TemporalTransformer:
    torch.manual_seed(0)
    return TemporalTransformer(in_dim, width, TransformerConfig(layers=2, heads=4, dropout=0.1, causal=causal)).eval()


def test_output_shape_is_batch_frames_width():
    m = module(in_dim=12, width=16)
    assert m(torch.randn(3, 7, 12)).shape == (3, 7, 16)
    assert len(m.encoder.layers) == 2 and m.encoder.layers[0].self_attn.num_heads == 4
    assert m.encoder.layers[0].linear1.out_features == 64  # feed-forward 4 x width


def test_sinusoidal_positions_are_those_of_vaswani():
    codes = sinusoidal_positions(3, 5)
    assert codes.shape == (3, 5)
    for pos in range(3):  # rates 10000^(-0/5), 10000^(-2/5), 10000^(-4/5); odd last column: the sine
        rates = [1.0, 10000 ** -0.4, 10000 ** -0.8]
        expected = [math.sin(pos * rates[0]), math.cos(pos * rates[0]), math.sin(pos * rates[1]),
                    math.cos(pos * rates[1]), math.sin(pos * rates[2])]
        assert codes[pos].tolist() == pytest.approx(expected, abs=1e-6)


def test_the_module_sees_frame_order():
    m = module()
    x = torch.randn(2, 6, 12)
    order = torch.tensor([3, 0, 5, 1, 4, 2])
    with torch.no_grad():
        permuted = m(x[:, order])
        out = m(x)
        # without position codes self-attention is permutation-equivariant: the encoder alone follows
        # the permutation exactly, so the difference below is the position code's doing
        plain = m.encoder(m.embed(x))
        torch.testing.assert_close(m.encoder(m.embed(x[:, order])), plain[:, order], rtol=1e-4, atol=1e-5)
    assert (permuted - out[:, order]).abs().max() > 1e-2


def test_causal_frames_do_not_see_later_frames_bidirectional_ones_do():
    x = torch.randn(1, 6, 12)
    later_changed = x.clone()
    later_changed[:, 4:] += 3.0
    with torch.no_grad():
        for causal in (True, False):
            m = module(causal=causal)
            diff = (m(later_changed) - m(x)).abs().amax(-1)[0]  # [S]
            assert (diff[4:] > 1e-3).all()
            if causal:
                assert diff[:4].max() < 1e-5
            else:
                assert (diff[:4] > 1e-3).all()


def test_padding_is_not_attended_to():
    """A video of 3 frames padded to S = 5 gives the outputs of the 3 frames alone."""
    x = torch.randn(1, 3, 12)
    padded = torch.cat([x, x[:, -1:].expand(1, 2, 12)], dim=1)  # padded with its last frame, as mtl.sequences
    valid = torch.tensor([[True, True, True, False, False]])
    with torch.no_grad():
        for causal in (False, True):
            m = module(causal=causal)
            torch.testing.assert_close(m(padded, valid)[:, :3], m(x), rtol=1e-4, atol=1e-5)
            if not causal:  # without the mask the repeated last frame weighs in
                assert (m(padded)[:, :3] - m(x)).abs().max() > 1e-3


def arch(temporal_module: str, **transformer) -> MTLArchitecture:
    return MTLArchitecture(backbone="vit_face_tiny", img_size=32, tasks=TASKS, temporal=True,
                           head_sizes=[AFFECT_TASKS[t].outputs for t in TASKS], temporal_module=temporal_module,
                           transformer=TransformerConfig(**transformer))


def test_the_switch_builds_the_transformer_and_lstm_stays_the_default():
    assert MTLConfig().model.temporal == "lstm" and MTLArchitecture("b", 32, [], []).temporal_module == "lstm"
    lstm = build_model(arch("lstm"))
    assert isinstance(lstm.temporal, TemporalModule)
    model = build_model(arch("transformer", layers=1, heads=2, width=32)).eval()
    assert isinstance(model.temporal, TemporalTransformer) and model.temporal.embed.in_features == 192
    out = model(torch.rand(2, 4, 3, 32, 32), valid=torch.tensor([[True] * 4, [True, True, False, False]]))
    assert out["au"].shape == (2, 4, 12) and model.heads["au"].in_features == 32
    default_width = build_model(arch("transformer", layers=1, heads=8))
    assert default_width.temporal.width == 192  # null: the backbone's width


def test_architecture_round_trips_through_model_json():
    a = arch("transformer", layers=2, heads=4, dropout=0.2, width=64, causal=True)
    again = MTLArchitecture(**a.to_dict())  # what load_mtl does with model.json
    assert again == a and again.transformer.causal and again.transformer.width == 64


def test_config_selects_the_transformer_and_refuses_what_cannot_work(tmp_path):
    cfg = load_config(MTLConfig, overrides=["model.temporal=transformer", "sequence.length=10",
                                            "model.transformer.layers=2", "model.transformer.heads=4"])
    assert cfg.model.temporal == "transformer" and cfg.model.transformer == TransformerConfig(layers=2, heads=4)
    assert run_name(cfg) == "mtl-au-expr-v-a_s10-transformer"  # told apart from an LSTM run's folder
    with pytest.raises(ConfigError, match="sequence.length is 1"):
        load_config(MTLConfig, overrides=["model.temporal=transformer"])
    with pytest.raises(ConfigError, match=r"transformer.width is 30: .* multiple of model.transformer.heads \(8\)"):
        load_config(MTLConfig, overrides=["model.transformer.width=30", "sequence.length=10"])
    with pytest.raises(ConfigError, match="dropout must be in"):
        load_config(MTLConfig, overrides=["model.transformer.dropout=1.0"])
    with pytest.raises(ValueError, match=r"model.transformer.width, or the backbone's\) is 192.*heads \(5\)"):
        build_model(arch("transformer", heads=5))
