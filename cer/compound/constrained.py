"""Constrained inference (paper 002, sec. 3.3): sigmoid, sum the probabilities of each class's
component expressions, argmax over the classes the constraint set allows.

A class with one component (the ``basic`` set) scores its component's probability, so the same
function serves single-expression prediction.
"""

from __future__ import annotations

import numpy as np
import torch

from cer.taxonomy import ConstraintSet


def constrained_scores(probs: torch.Tensor | np.ndarray, cset: ConstraintSet) -> torch.Tensor | np.ndarray:
    """[N, C] class scores = the sum of each class's component probabilities.

    Args:
        probs: [N, 6] sigmoid probabilities of the CE basic expressions.
        cset: the allowed classes.
    """
    matrix = cset.component_matrix()  # [C, 6]
    if isinstance(probs, torch.Tensor):
        return probs @ torch.as_tensor(matrix, dtype=probs.dtype, device=probs.device).T
    return np.asarray(probs) @ matrix.T


def constrained_argmax(probs: torch.Tensor | np.ndarray, cset: ConstraintSet) -> torch.Tensor | np.ndarray:
    """[N] index of the best class of ``cset`` for each row of basic probabilities."""
    scores = constrained_scores(probs, cset)
    return scores.argmax(-1) if isinstance(scores, torch.Tensor) else np.argmax(scores, axis=-1)
