"""MTL losses: masking of missing labels (every combination), the CCC loss against closed forms, and the
focal expression loss (eq. 9 of 003) against numbers worked by hand."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from cer.config import ConfigError, load_config
from cer.metrics import ccc
from mtl.affect_tasks import AFFECT_TASKS, task_registry
from mtl.config import MTLConfig
from mtl.losses import ccc_loss, masked_bce, masked_cross_entropy, masked_focal_loss
from mtl.model import MTLArchitecture, build_model

TASKS = ("au", "expr", "v", "a")


def every_combination_batch(seed: int = 0):
    """16 samples: sample i lacks the labels of the tasks whose bit is set in i. Missing targets hold
    garbage (NaN for V/A, -1 for EXPR and AU), as a careless reader might leave them."""
    rng = np.random.default_rng(seed)
    combos = list(itertools.product([False, True], repeat=len(TASKS)))  # True: missing
    n = len(combos)
    missing = {t: torch.tensor([c[k] for c in combos]) for k, t in enumerate(TASKS)}
    targets = {
        "au": torch.from_numpy(rng.integers(0, 2, (n, 12)).astype(np.float32)),
        "expr": torch.from_numpy(rng.integers(0, 8, n)),
        "v": torch.from_numpy(rng.uniform(-1, 1, n).astype(np.float32)),
        "a": torch.from_numpy(rng.uniform(-1, 1, n).astype(np.float32)),
    }
    masks = {}
    for t in TASKS:
        gone = missing[t]
        if t == "au":
            targets[t][gone] = -1.0
            masks[t] = ~gone[:, None].expand(n, 12)
        elif t == "expr":
            targets[t][gone] = -1
            masks[t] = ~gone
        else:
            targets[t][gone] = float("nan")
            masks[t] = ~gone
    return missing, targets, masks


def test_every_combination_of_missing_labels_gives_finite_losses_and_no_gradient_from_missing_parts():
    torch.manual_seed(0)
    missing, targets, masks = every_combination_batch()
    weights = {t: AFFECT_TASKS[t].loss_weights(targets[t].numpy(), masks[t].numpy()) for t in TASKS}
    for t in TASKS:
        task = AFFECT_TASKS[t]
        out = torch.randn(16, task.outputs, requires_grad=True)
        w = None if weights[t] is None else torch.from_numpy(weights[t])
        loss = task.loss(out, targets[t], masks[t], w)
        assert torch.isfinite(loss), t
        loss.backward()
        grad = out.grad
        assert torch.isfinite(grad).all(), t
        assert (grad[missing[t]] == 0).all(), f"{t}: a sample without its label got a gradient"
        assert (grad[~missing[t]].abs().sum(1) > 0).all(), f"{t}: a labelled sample got no gradient"


def test_a_batch_without_any_label_of_a_task_gives_zero_loss_and_zero_gradient():
    for t in TASKS:
        task = AFFECT_TASKS[t]
        out = torch.randn(5, task.outputs, requires_grad=True)
        target = torch.zeros(5, 12) if t == "au" else torch.zeros(5, dtype=torch.long if t == "expr" else torch.float32)
        mask = torch.zeros_like(target, dtype=torch.bool)
        loss = task.loss(out, target, mask, None)
        loss.backward()
        assert loss.item() == 0.0 and (out.grad == 0).all(), t


def test_model_gives_frames_without_labels_no_gradient():
    """Through a whole single-frame model: an image all of whose labels are missing gets exactly zero
    gradient; the others train."""
    torch.manual_seed(0)
    arch = MTLArchitecture(backbone="vit_face_tiny", img_size=32, tasks=list(TASKS),
                           head_sizes=[AFFECT_TASKS[t].outputs for t in TASKS])
    model = build_model(arch).eval()  # eval: no drop-path randomness across samples
    missing, targets, masks = every_combination_batch(1)
    images = torch.randn(16, 1, 3, 32, 32, requires_grad=True)
    out = model(images)
    total = sum(AFFECT_TASKS[t].loss(out[t].flatten(0, 1), targets[t], masks[t], None) for t in TASKS)
    assert torch.isfinite(total)
    total.backward()
    all_missing = torch.stack([missing[t] for t in TASKS]).all(0)
    per_image = images.grad.abs().flatten(1).sum(1)
    assert all_missing.sum() == 1
    assert per_image[all_missing].item() == 0.0
    assert (per_image[~all_missing] > 0).all()


def test_weighted_bce_and_ce_match_their_definitions():
    torch.manual_seed(1)
    logits = torch.randn(6, 3)
    targets = (torch.rand(6, 3) > 0.5).float()
    mask = torch.rand(6, 3) > 0.3
    w = torch.tensor([0.5, 1.0, 2.0])
    per = torch.nn.functional.binary_cross_entropy_with_logits(logits, targets, reduction="none") * w
    assert masked_bce(logits, targets, mask, w).item() == pytest.approx((per[mask].sum() / mask.sum()).item(), rel=1e-6)
    classes = torch.randint(0, 3, (6,))
    rows = torch.tensor([True, False, True, True, False, True])
    nll = -torch.log_softmax(logits, 1)[torch.arange(6), classes]
    expected = (w[classes] * nll)[rows].sum() / w[classes][rows].sum()
    assert masked_cross_entropy(logits, classes, rows, w).item() == pytest.approx(expected.item(), rel=1e-6)


def test_ccc_loss_matches_closed_forms():
    rng = np.random.default_rng(0)
    t = torch.from_numpy(rng.normal(0, 0.4, 500))
    t = t - t.mean()
    var = t.var(unbiased=False).item()
    everyone = torch.ones(500, dtype=torch.bool)
    # pred = target + c: CCC = 2 var / (2 var + c^2)
    for c in (0.0, 0.1, 0.5):
        expected = 1 - 2 * var / (2 * var + c * c)
        assert ccc_loss(t + c, t, everyone).item() == pytest.approx(expected, abs=1e-6)
    # pred = k * target: CCC = 2k var / (var + k^2 var)
    for k in (0.5, 2.0, -1.0):
        assert ccc_loss(k * t, t, everyone).item() == pytest.approx(1 - 2 * k / (1 + k * k), abs=1e-6)
    # and it is 1 - the metric on arbitrary data, masked entries left out
    p = torch.from_numpy(rng.normal(0.2, 0.3, 500))
    mask = torch.from_numpy(rng.random(500) > 0.4)
    garbage = torch.where(mask, t, torch.full_like(t, 1e6))
    expected = 1 - ccc(t[mask].numpy(), p[mask].numpy())
    assert ccc_loss(p, garbage, mask).item() == pytest.approx(expected, abs=1e-6)  # float32


def test_au_and_expression_weights_follow_training_frequencies():
    from mtl.affect_tasks import au_weights, class_weights

    targets = np.array([[1, 0], [1, 0], [1, 1], [0, 0]], dtype=np.float32)
    mask = np.ones_like(targets, dtype=bool)
    w = au_weights(targets, mask)  # rates 3/4 and 1/4: the rare AU weighs 3x more, mean 1
    assert w[1] / w[0] == pytest.approx(3.0) and w.mean() == pytest.approx(1.0)
    classes = np.array([0, 0, 0, 1, 5])
    cw = class_weights(classes, np.ones(5, bool), 8)
    assert cw[1] == pytest.approx(3 * cw[0]) and cw[2] == 0.0 and cw[5] == cw[1]


# --- the focal expression loss (003, eq. 9) -----------------------------------------------------------

def test_focal_loss_is_eq_9_worked_by_hand():
    # logits = log p, so softmax gives p back: the targets' p_t are 0.5, 0.1 and 0.2; the third row's
    # label is missing (garbage -1, NaN logits: never read). alpha_t = class weights (2, 1, 0.5).
    p = torch.tensor([[0.5, 0.25, 0.25], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4], [0.2, 0.2, 0.6]])
    logits = torch.log(p)
    logits[2] = float("nan")
    targets = torch.tensor([0, 2, -1, 1])
    mask = targets >= 0
    w = torch.tensor([2.0, 1.0, 0.5])
    # gamma 2: -alpha_t (1 - p_t)^2 log p_t = 2 * 0.5^2 * log 2, 0.5 * 0.9^2 * log 10, 1 * 0.8^2 * log 5,
    # = 0.34657359 + 0.93254696 + 1.03004039, divided by the alphas' sum 3.5
    assert masked_focal_loss(logits, targets, mask, w, gamma=2.0).item() == pytest.approx(0.65976023, rel=1e-6)
    # unweighted: (0.25 log 2 + 0.81 log 10 + 0.64 log 5) / 3
    assert masked_focal_loss(logits, targets, mask, None, gamma=2.0).item() == pytest.approx(1.02280699, rel=1e-6)
    # gamma 1: 2 * 0.5 * log 2 + 0.5 * 0.9 * log 10 + 0.8 * log 5 = 0.69314718 + 1.03616329 + 1.28755033
    assert masked_focal_loss(logits, targets, mask, w, gamma=1.0).item() == pytest.approx(3.0168608 / 3.5, rel=1e-6)


def test_focal_loss_at_gamma_0_is_the_class_weighted_cross_entropy():
    torch.manual_seed(2)
    logits = 3 * torch.randn(40, 8)
    targets = torch.randint(0, 8, (40,))
    mask = torch.rand(40) > 0.25
    w = torch.rand(8) + 0.2
    for weights in (w, None):
        focal = masked_focal_loss(logits, targets, mask, weights, gamma=0.0)
        assert focal.item() == pytest.approx(masked_cross_entropy(logits, targets, mask, weights).item(), rel=1e-6)
    # gamma > 0 down-weights the well-classified samples: strictly below CE on the same batch
    assert masked_focal_loss(logits, targets, mask, w, 2.0) < masked_cross_entropy(logits, targets, mask, w)


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
def test_focal_expression_task_masks_missing_labels_like_the_other_losses(gamma):
    missing, targets, masks = every_combination_batch(2)
    expr = task_registry(expr_loss="focal", focal_gamma=gamma)["expr"]
    weights = torch.from_numpy(expr.loss_weights(targets["expr"].numpy(), masks["expr"].numpy()))
    out = torch.randn(16, 8)
    out[0, targets["expr"][0]] = 40.0  # sample 0 has every label: its p_t rounds to 1 (0^gamma's gradient)
    out.requires_grad_(True)
    loss = expr.loss(out, targets["expr"], masks["expr"], weights)
    (grad,) = torch.autograd.grad(loss, out)
    assert torch.isfinite(loss) and torch.isfinite(grad).all()
    assert (grad[missing["expr"]] == 0).all(), "a sample without its label got a gradient"
    empty = expr.loss(out, targets["expr"], torch.zeros(16, dtype=torch.bool), weights)
    (grad,) = torch.autograd.grad(empty, out)
    assert empty.item() == 0.0 and (grad == 0).all()


def test_expression_loss_switch_defaults_to_ce_and_checks_gamma():
    cfg = load_config(MTLConfig, overrides=["loss.expr=focal", "loss.focal_gamma=1.5"])
    assert (cfg.loss.expr, cfg.loss.focal_gamma) == ("focal", 1.5)
    assert load_config(MTLConfig).loss.expr == "ce"
    assert task_registry()["expr"].focal_gamma is None  # the default task trains with CE, as before
    assert task_registry(expr_loss="focal", focal_gamma=1.5)["expr"].focal_gamma == 1.5
    with pytest.raises(ConfigError, match=r"focal_gamma must be in \[0, 5\]"):
        load_config(MTLConfig, overrides=["loss.focal_gamma=-1"])
    with pytest.raises(ValueError, match="ce or focal"):
        task_registry(expr_loss="dice")
