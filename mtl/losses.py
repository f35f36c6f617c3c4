"""Masked losses of the MTL tasks (paper 002, sec. 3.4, eqs. 2-5).

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
    if weights is not None:
        per_label = per_label * weights.to(per_label.device, per_label.dtype)
    return per_label[mask].sum() / mask.sum()


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
