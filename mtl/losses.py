"""Masked losses of the MTL tasks (paper 002, sec. 3.4, eqs. 2-5; paper 004, sec. 3.3, eq. 9; paper 003,
sec. 3.2, eq. 9).

Each takes a boolean mask of the labels that exist: a frame without an EXPR label (-1) or without
V/A (-5) adds nothing to that task's loss and gets exactly zero gradient from it, while its other
labels still train. Missing targets may hold any finite placeholder; they are never read through
the mask (``0 * nan`` would poison the gradient, so they are replaced, not multiplied). A batch with
no valid label for a task gives a loss of exactly 0 that is still attached to the graph.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

EPS = 1e-8


def _nothing(pred: torch.Tensor) -> torch.Tensor:
    """A zero loss attached to ``pred``'s graph (gradient exactly 0), for batches without labels."""
    return pred.sum() * 0.0


def masked_bce(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor,
               weights: torch.Tensor | None = None) -> torch.Tensor:
    """Eq. 2: per-label binary cross-entropy, each AU scaled by its weight, averaged over valid labels.

    Args:
        logits: [N, A] raw scores.
        targets: [N, A] 0/1 (anything finite where ``mask`` is False).
        mask: [N, A] bool, which labels exist.
        weights: [A] per-AU weights (``au_weights``), or None.
    """
    mask = mask.bool()
    if not mask.any():
        return _nothing(logits)
    safe = torch.where(mask, targets.float(), torch.zeros_like(logits, dtype=torch.float32))
    per_label = F.binary_cross_entropy_with_logits(logits.float(), safe, reduction="none")
    return _weighted_mean(per_label, mask, weights)


def _weighted_mean(per_label: torch.Tensor, mask: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    """``per_label`` [N, A] scaled by the per-AU ``weights`` [A], averaged over the valid labels."""
    if weights is not None:
        per_label = per_label * weights.to(per_label.device, per_label.dtype)
    return per_label[mask].sum() / mask.sum()


def au_log_likelihoods(out: torch.Tensor, probabilities: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(p, log p, log(1 - p))`` of AU head outputs, in float32.

    Logits go through ``logsigmoid`` (exact for any logit). Probabilities (ANFL's cosine similarities,
    which reach exactly 0) are clamped at ``EPS`` inside the logs, as ME-GraphAU's loss does: the loss
    stays finite, and a clamped entry gets no gradient from that term.
    """
    out = out.float()
    if not probabilities:
        return torch.sigmoid(out), F.logsigmoid(out), F.logsigmoid(-out)
    # 1 - p computed before clamping: 1 - EPS rounds to 1 in float32
    return out, torch.log(out.clamp(min=EPS)), torch.log((1.0 - out).clamp(min=EPS))


def masked_au_loss(out: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor, weights: torch.Tensor | None = None,
                   probabilities: bool = False, asymmetric: bool = False) -> torch.Tensor:
    """The AU loss of either head: weighted BCE (eq. 2 of 002) or weighted asymmetric loss (eq. 9 of 004)
    ``-w_i [y log p + (1 - y) p log(1 - p)]``, averaged over the valid labels.

    The asymmetric loss scales a negative label's term by ``p`` itself (gradient included, as in eq. 9),
    so confidently absent AUs, the bulk of the labels, contribute little.

    Args:
        out: [N, A] logits, or probabilities when ``probabilities``.
        targets, mask, weights: as :func:`masked_bce` (the weights of eq. 10 of 004 are ``au_weights``).
    """
    if not probabilities and not asymmetric:
        return masked_bce(out, targets, mask, weights)  # torch's fused BCE-with-logits, as before
    mask = mask.bool()
    if not mask.any():
        return _nothing(out)
    safe = torch.where(mask, targets.float(), torch.zeros_like(out, dtype=torch.float32))
    p, log_p, log_not_p = au_log_likelihoods(out, probabilities)
    negative = p * log_not_p if asymmetric else log_not_p
    return _weighted_mean(-(safe * log_p + (1.0 - safe) * negative), mask, weights)


def masked_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor,
                         weights: torch.Tensor | None = None) -> torch.Tensor:
    """Eq. 3: class-weighted cross-entropy over the valid samples (weighted mean, as torch's
    ``cross_entropy(weight=...)``).

    Args:
        logits: [N, K].
        targets: [N] class indices (anything in range where ``mask`` is False).
        mask: [N] bool.
        weights: [K] class weights (``class_weights``), or None.
    """
    mask = mask.bool()
    if not mask.any():
        return _nothing(logits)
    w = None if weights is None else weights.to(logits.device, torch.float32)
    return F.cross_entropy(logits[mask].float(), targets[mask].long(), weight=w)


def masked_focal_loss(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor,
                      weights: torch.Tensor | None = None, gamma: float = 2.0) -> torch.Tensor:
    """Eq. 9 of 003: focal loss ``-alpha_t (1 - p_t)^gamma log p_t`` over the valid samples.

    ``alpha_t`` is the class weight of the sample's class (``class_weights``, as in eq. 3), and the
    sum is divided by the valid samples' ``alpha_t`` as :func:`masked_cross_entropy` divides it: at
    ``gamma = 0`` the two are the same loss, and ``gamma`` only shrinks the share of samples the
    model already gets right (``p_t`` near 1).

    Args:
        logits, targets, mask, weights: as :func:`masked_cross_entropy`.
        gamma: the focusing exponent (003 allows [0, 5] and gives no value).
    """
    mask = mask.bool()
    if not mask.any():
        return _nothing(logits)
    log_p = F.log_softmax(logits[mask].float(), dim=-1)  # [M, K]
    classes = targets[mask].long()
    log_pt = log_p.gather(1, classes[:, None]).squeeze(1)  # [M]
    # -expm1 is 1 - p_t without cancellation; the floor keeps the gradient of x^gamma finite (gamma < 1)
    # where p_t rounds to 1, and changes nothing there (-log p_t is itself ~0)
    modulation = (-torch.expm1(log_pt)).clamp(min=EPS) ** gamma
    alpha = torch.ones_like(log_pt) if weights is None else weights.to(logits.device, torch.float32)[classes]
    return (alpha * modulation * -log_pt).sum() / alpha.sum()


def ccc_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Eqs. 4-5: ``1 - CCC`` over the valid entries, with population statistics.

    Fewer than two valid entries carry no concordance to learn from: the loss is then 0.

    Args:
        pred, target, mask: tensors of one shape (e.g. [N]); ``mask`` bool.
    """
    mask = mask.bool()
    if int(mask.sum()) < 2:
        return _nothing(pred)
    p, t = pred[mask].float(), target[mask].float()
    mp, mt = p.mean(), t.mean()
    cov = ((p - mp) * (t - mt)).mean()
    denom = p.var(unbiased=False) + t.var(unbiased=False) + (mp - mt) ** 2
    return 1.0 - 2.0 * cov / (denom + EPS)
