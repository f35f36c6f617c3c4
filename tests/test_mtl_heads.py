"""The heads and AU loss of paper 004 (ANFL's AU graph, cross attention, BatchNorm VA head, weighted
asymmetric loss): their defining properties on tiny tensors, a saved model that rebuilds the same,
and one `mtl train` epoch with all four switches on."""

from __future__ import annotations

import json
import math

import pytest
import torch
from click.testing import CliRunner
from tiny_mtl import TINY_MTL, as_set_options

from cer.config import ConfigError, load_config
from mtl.affect_tasks import AFFECT_TASKS, au_weights, task_registry
from mtl.anfl import ANFL, GraphConv, knn_adjacency
from mtl.config import MTLConfig
from mtl.cross_attention import CrossAttention
from mtl.losses import masked_au_loss, masked_bce
from mtl.model import BatchNormHead, MTLArchitecture, PerFrame, build_model

TASKS = ["au", "expr", "v", "a"]
PAPER_004 = {"au_head": "anfl", "va_head": "bn_tanh", "cross_attention": True}


def paper_arch(**changes) -> MTLArchitecture:
    return MTLArchitecture(backbone="vit_face_tiny", img_size=32, tasks=TASKS,
                           head_sizes=[AFFECT_TASKS[t].outputs for t in TASKS], **{**PAPER_004, **changes})


# --- ANFL ------------------------------------------------------------------------------------------

def test_anfl_gives_one_probability_per_au():
    torch.manual_seed(0)
    head = ANFL(dim=16, num_aus=12, k=4)
    p = head(torch.randn(5, 16) * 3)
    assert p.shape == (5, 12)
    assert (p >= 0).all() and (p <= 1).all()
    p.sum().backward()  # the probabilities train the per-AU layers and the centres
    assert head.node_layers.weight.grad.abs().sum() > 0 and head.centres.grad.abs().sum() > 0


def test_knn_graph_keeps_the_k_most_similar_other_nodes():
    # dot products (self excluded): row 0: v1 2, v2 0, v3 1 | row 1: v0 2, v2 1, v3 4
    #                               row 2: v0 0, v1 1, v3 2 | row 3: v0 1, v1 4, v2 2
    nodes = torch.tensor([[[1.0, 0.0], [2.0, 1.0], [0.0, 1.0], [1.0, 2.0]]])
    expected = torch.tensor([[[0.0, 1, 0, 1], [1, 0, 0, 1], [0, 1, 0, 1], [0, 1, 1, 0]]])
    assert torch.equal(knn_adjacency(nodes, 2), expected)  # v1, v3 are closest to themselves: excluded
    # exactly k edges per node, never to itself, ties included
    for x in (torch.randn(3, 12, 8), torch.ones(2, 12, 8)):
        for k in (1, 4, 11):
            adj = knn_adjacency(x, k)
            assert (adj.sum(-1) == k).all() and (adj.diagonal(dim1=-2, dim2=-1) == 0).all()
    with pytest.raises(ValueError, match="1 <= k <= 11"):
        knn_adjacency(torch.randn(1, 12, 8), 12)


def test_gcn_over_the_knn_graph_follows_a_relabelling_of_the_nodes():
    torch.manual_seed(1)
    gcn = GraphConv(8)
    nodes = torch.randn(2, 12, 8)
    order = torch.randperm(12)
    out = gcn(nodes, knn_adjacency(nodes, 4))
    relabelled = gcn(nodes[:, order], knn_adjacency(nodes[:, order], 4))
    torch.testing.assert_close(relabelled, out[:, order])


def test_gcn_mixes_a_node_with_its_graph_neighbours_only():
    torch.manual_seed(2)
    gcn = GraphConv(8)
    nodes = torch.randn(1, 6, 8)
    adj = knn_adjacency(nodes, 2)
    before = gcn(nodes, adj)
    for j in range(6):
        moved = nodes.clone()
        moved[0, j] += 5.0
        changed = (gcn(moved, adj) - before).abs().sum(-1)[0] > 1e-6  # [A]
        expected = adj[0, :, j].bool()
        expected[j] = True  # its own output changes too (residual)
        assert torch.equal(changed, expected), j


# --- cross attention, BatchNorm VA head ------------------------------------------------------------

def test_cross_attention_changes_expression_logits_only_through_au_predictions():
    torch.manual_seed(3)
    attend = CrossAttention(num_aus=12, num_expressions=8, dim=16)
    expr = torch.randn(4, 8)
    au = torch.rand(4, 12)
    out = attend(au, expr)
    torch.testing.assert_close(attend(au.clone(), expr), out, rtol=0, atol=0)
    other = au.clone()
    other[:, 3] = 1.0 - other[:, 3]
    assert (attend(other, expr) - out).abs().sum(-1).min() > 0  # every frame's logits move
    weights = attend.weights(au, expr)
    torch.testing.assert_close(weights.sum(-1), torch.ones(4))
    torch.testing.assert_close(out, weights * expr)


def test_model_expression_output_moves_with_the_au_head_not_with_other_heads():
    torch.manual_seed(4)
    model = build_model(paper_arch()).eval()
    images = torch.randn(2, 1, 3, 32, 32)
    expr = model(images)["expr"]
    with torch.no_grad():
        model.heads["v"].module.fc.weight.add_(1.0)
    torch.testing.assert_close(model(images)["expr"], expr, rtol=0, atol=0)
    with torch.no_grad():
        model.heads["au"].module.centres.add_(torch.linspace(-1, 1, 192))
    assert not torch.allclose(model(images)["expr"], expr)


def test_batchnorm_va_head_normalises_over_all_frames_and_decodes_into_the_open_interval():
    torch.manual_seed(5)
    head = PerFrame(BatchNormHead(16, 1)).train()
    out = head(torch.randn(3, 4, 16) * 100 + 50)  # [B, S, D]: statistics over the 12 frames
    assert out.shape == (3, 4, 1)
    assert out.mean().item() == pytest.approx(0.0, abs=1e-5)
    assert out.var(unbiased=False).item() == pytest.approx(1.0, abs=1e-3)
    values = AFFECT_TASKS["v"].decode(out)
    assert values.shape == (3, 4) and (values > -1).all() and (values < 1).all()
    assert head(torch.randn(1, 1, 16)).shape == (1, 1, 1)  # a lone training frame: running statistics


# --- the AU loss -----------------------------------------------------------------------------------

def test_asymmetric_loss_is_eq_9_with_the_weights_of_eq_10():
    # eq. 10: occurrence rates 3/4 and 1/4 -> w = 2 (1/r_i) / (4/3 + 4) = 0.5 and 1.5
    labels = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    w = torch.from_numpy(au_weights(labels.numpy(), labels.numpy() >= 0))
    torch.testing.assert_close(w, torch.tensor([0.5, 1.5]))
    p = torch.tensor([[0.9, 0.2], [0.5, 0.1]])
    y = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    everything = torch.ones(2, 2, dtype=torch.bool)
    # -w_i [y log p + (1 - y) p log(1 - p)], term by term: -log 0.9 = 0.10536052, -log 0.8 = 0.22314355,
    # -log 0.5 = 0.69314718, -log 0.1 = 2.30258509
    terms = [0.5 * 0.10536052, 1.5 * 0.2 * 0.22314355, 0.5 * 0.5 * 0.69314718, 1.5 * 2.30258509]
    loss = masked_au_loss(p, y, everything, w, probabilities=True, asymmetric=True)
    assert loss.item() == pytest.approx(sum(terms) / 4, rel=1e-6)
    without_last = torch.tensor([[True, True], [True, False]])
    assert masked_au_loss(p, y, without_last, w, True, True).item() == pytest.approx(sum(terms[:3]) / 3, rel=1e-6)
    # a linear head's logits of the same probabilities give the same loss
    logits = torch.log(p / (1 - p))
    assert masked_au_loss(logits, y, everything, w, False, True).item() == pytest.approx(sum(terms) / 4, rel=1e-5)
    # BCE on probabilities (ANFL with loss.au=bce): the negatives are not scaled by p
    bce = [0.5 * 0.10536052, 1.5 * 0.22314355, 0.5 * 0.69314718, 1.5 * 2.30258509]
    assert masked_au_loss(p, y, everything, w, True, False).item() == pytest.approx(sum(bce) / 4, rel=1e-6)


def test_default_au_loss_is_the_old_bce_to_the_last_bit_and_probability_losses_survive_0_and_1():
    torch.manual_seed(6)
    logits, y = torch.randn(6, 12), (torch.rand(6, 12) > 0.5).float()
    mask, w = torch.rand(6, 12) > 0.3, torch.rand(12) + 0.5
    assert torch.equal(AFFECT_TASKS["au"].loss(logits, y, mask, w), masked_bce(logits, y, mask, w))
    p = torch.tensor([[0.0, 1.0, 0.0, 1.0, 0.3]], requires_grad=True)
    y = torch.tensor([[1.0, 0.0, 0.0, 1.0, -1.0]])  # two certain mistakes, two certain hits, a missing label
    mask = y >= 0
    for asymmetric in (False, True):
        task = task_registry(au_probabilities=True, au_loss="asymmetric" if asymmetric else "bce")["au"]
        loss = task.loss(p, y, mask, None)
        assert math.isfinite(loss.item()) and loss.item() > 9  # two mistakes of -log(1e-8) = 18.4, over 4
        (grad,) = torch.autograd.grad(loss, p)
        assert torch.isfinite(grad).all() and grad[0, 4] == 0  # the missing label gives no gradient
    assert torch.equal(task.decode(p), p.float())  # probabilities are decoded as they are


# --- architecture round trip, config checks, one training epoch --------------------------------------

def test_saved_paper_004_model_rebuilds_with_the_same_outputs_and_old_model_json_still_loads(tmp_path):
    from mtl.runs import load_mtl, save_mtl

    torch.manual_seed(7)
    arch = paper_arch(anfl_k=3, attention_dim=8)
    model = build_model(arch).train()
    model(torch.randn(4, 2, 3, 32, 32))  # moves the BatchNorm running statistics off their start
    meta = {"mean": [0.5] * 3, "std": [0.5] * 3, "sequence": {"length": 1, "stride": 1}, "fuse": [], "config": {}}
    save_mtl(model, tmp_path / "run" / "best", arch, meta)
    loaded, saved = load_mtl(tmp_path / "run")
    assert saved["architecture"] == arch.to_dict() and loaded.arch == arch
    images = torch.randn(3, 2, 3, 32, 32)
    model.eval()
    expected, got = model(images), loaded(images)
    for t in TASKS:
        torch.testing.assert_close(got[t], expected[t], rtol=0, atol=0)

    # a model.json written before the 004 fields existed: rebuilt with the linear heads of 002
    old = MTLArchitecture(backbone="vit_face_tiny", img_size=32, tasks=["au", "v"], head_sizes=[12, 1])
    save_mtl(build_model(old), tmp_path / "old" / "best", old, meta)
    path = tmp_path / "old" / "best" / "model.json"
    document = json.loads(path.read_text())
    for key in ("au_head", "anfl_k", "va_head", "cross_attention", "attention_dim"):
        del document["architecture"][key]
    path.write_text(json.dumps(document))
    loaded, _ = load_mtl(tmp_path / "old")
    assert loaded.arch == old and isinstance(loaded.heads["au"], torch.nn.Linear) and loaded.cross_attention is None


def test_config_refuses_cross_attention_without_au_and_expr_and_a_k_out_of_range():
    cfg = load_config(MTLConfig, overrides=["model.au_head=anfl", "model.cross_attention=true", "loss.au=asymmetric"])
    assert cfg.model.au_head == "anfl" and cfg.loss.au == "asymmetric"
    assert load_config(MTLConfig).loss.au == "bce" and load_config(MTLConfig).model.au_head == "linear"
    with pytest.raises(ConfigError, match="needs both au and expr trained"):
        load_config(MTLConfig, overrides=["tasks.joint=au,va", "model.cross_attention=true"])
    with pytest.raises(ConfigError, match="anfl_k must be in 1..11"):
        load_config(MTLConfig, overrides=["model.anfl_k=12"])
    with pytest.raises(ConfigError, match="gcn"):
        load_config(MTLConfig, overrides=["model.au_head=gcn"])


def test_mtl_train_with_every_004_switch_runs_an_epoch_and_evaluate_agrees(tiny_synth, tmp_path):
    from mtl.cli import main

    aff, run = tiny_synth / "aff-wild2", tmp_path / "run"
    switches = ["model.au_head=anfl", "model.va_head=bn_tanh", "model.cross_attention=true", "loss.au=asymmetric"]
    tiny = [*TINY_MTL, "optim.name=sam"]  # the paper's optimiser: its second pass runs the BatchNorm head again
    args = ["train", "--joint", "au,expr,va", "--data", str(aff), "--epochs", "1", "-o", str(run),
            *as_set_options(switches + tiny)]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 1
    for key in ("val_f1_au", "val_f1_expr", "val_ccc_v", "val_ccc_a", "val_p_mtl", "train_loss"):
        assert math.isfinite(rows[0][key]), key
    meta = json.loads((run / "best" / "model.json").read_text())
    assert {k: meta["architecture"][k] for k in PAPER_004} == PAPER_004
    # `mtl evaluate` decodes the ANFL probabilities as training did: the same scores
    result = CliRunner().invoke(main, ["evaluate", str(run), "--out", str(tmp_path / "eval")], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    scores = json.loads((tmp_path / "eval" / "metrics.json").read_text())["runs"][str(run)]
    for key in ("f1_au", "f1_au_tuned", "f1_expr", "ccc_v", "ccc_a"):
        assert scores[key] == pytest.approx(meta["metrics"][f"val_{key}"], abs=1e-5), key
