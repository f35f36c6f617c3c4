"""Multi-task cross attention of paper 004 (sec. 3.2, eqs. 6-8): the AU predictions re-weight the
expression logits, after Bahdanau's additive attention.

    h = W_v tanh(W_q y_AU + W_k y~_EX)     (query: AU probabilities; key: unweighted EXPR logits)
    a = softmax(h)                         (one weight per expression)
    y_EX = a * y~_EX                       (value: the same logits)

For given expression logits the output depends on nothing but the AU predictions.
"""

from __future__ import annotations

import torch
from torch import nn


class CrossAttention(nn.Module):
    """``(au [..., A] probabilities, expr [..., E] logits) -> [..., E]`` weighted logits.

    Args:
        num_aus, num_expressions: A and E.
        dim: width of the additive attention's hidden layer (004 does not give it).
    """

    def __init__(self, num_aus: int, num_expressions: int, dim: int):
        super().__init__()
        # One bias inside the tanh is enough: W_q's would add to W_k's.
        self.query = nn.Linear(num_aus, dim, bias=False)        # W_q
        self.key = nn.Linear(num_expressions, dim)               # W_k
        self.score = nn.Linear(dim, num_expressions, bias=False)  # W_v (Bahdanau's v_a, no bias)

    def weights(self, au: torch.Tensor, expr: torch.Tensor) -> torch.Tensor:
        """Eqs. 6-7: the attention weights ``a``, a distribution over the expressions."""
        return torch.softmax(self.score(torch.tanh(self.query(au) + self.key(expr))), dim=-1)

    def forward(self, au: torch.Tensor, expr: torch.Tensor) -> torch.Tensor:
        return self.weights(au, expr) * expr  # eq. 8
