"""Sharpness-aware minimisation (Foret et al., ICLR 2021) around any base optimiser, as the trainer
runs it (``optim.name: sam``; paper 004 trains its MTL heads with it).

One SAM step is two forward/backward passes on the same batch: the gradient ``g`` at the weights
``w`` gives the ascent ``e = rho * g / ||g||`` (one norm over all parameters); the gradient at
``w + e`` is the one the base optimiser applies, at ``w``. Under data parallelism both backward
passes all-reduce, so every process computes the same ``||g||`` and the same ``e`` and the update
equals one process on the global batch.

This module holds the weight perturbation only; the trainer does the passes (so accelerate's
gradient sync, autocast and clipping apply to them as to any step).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import torch
from torch import nn


class SharpnessAwarePerturbation:
    """``ascend`` moves the weights to ``w + e`` from their current gradients; ``restore`` moves them back.

    Args:
        rho: radius of the neighbourhood (SAM paper: 0.05 for SGD on CIFAR; 004: 0.05).
    """

    def __init__(self, rho: float):
        if rho <= 0:
            raise ValueError(f"SAM's rho must be > 0, got {rho}")
        self.rho = float(rho)
        self._moved: list[tuple[torch.Tensor, torch.Tensor]] = []

    @torch.no_grad()
    def ascend(self, params: Iterable[torch.Tensor]) -> float:
        """Add ``e`` to every parameter that has a gradient; returns ``||g||``."""
        if self._moved:
            raise RuntimeError("ascend() twice without restore(): the weights are already perturbed")
        with_grad = [p for p in params if p.grad is not None]
        if not with_grad:
            return 0.0
        norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad.float()) for p in with_grad]))
        scale = self.rho / (norm + 1e-12)
        for p in with_grad:
            e = (p.grad.float() * scale).to(p.dtype)
            p.add_(e)
            self._moved.append((p, e))
        return float(norm)

    @torch.no_grad()
    def restore(self) -> None:
        """Take every parameter back to ``w`` (their gradients, now those at ``w + e``, stay)."""
        for p, e in self._moved:
            p.sub_(e)
        self._moved = []


@contextmanager
def batchnorm_stats_frozen(model: nn.Module) -> Iterator[None]:
    """BatchNorm running statistics left as they are (momentum 0) during SAM's second pass, which
    sees the same batch again at perturbed weights and should not count it twice."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.momentum is not None]
    saved = [m.momentum for m in norms]
    for m in norms:
        m.momentum = 0.0
    try:
        yield
    finally:
        for m, momentum in zip(norms, saved):
            m.momentum = momentum
