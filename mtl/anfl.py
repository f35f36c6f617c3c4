"""AU relation graph head: Action-unit Node Feature Learning (ANFL) of ME-GraphAU (Luo et al. 2022),
as paper 004 uses it for AU detection (sec. 3.1, eqs. 1-3).

- Node features (eq. 1): one FC + ReLU per AU over the frame feature, ``v_i = ReLU(W_i x + b_i)``.
- Facial graph (eq. 2): edge weights are the dot products ``v_i . v_j``; each node keeps its ``k``
  most similar *other* nodes (exactly ``k`` in-edges, self excluded: the residual carries a node's
  own feature). One GCN layer over the normalised adjacency refines the node features.
- AU probability (eq. 3): ``p_i = cos(ReLU(v_i'), ReLU(s_i))`` with a learnable ``s_i`` per AU; both
  vectors are non-negative, so ``p_i`` lies in [0, 1] and the head outputs probabilities, not logits.

The graph functions are pure and shape-generic (``[N, A, C]``: N frames, A AUs, C channels), so the
graph and the GCN can be tested apart from the per-AU layers.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def knn_adjacency(nodes: torch.Tensor, k: int) -> torch.Tensor:
    """``[N, A, A]`` 0/1 adjacency: row ``i`` marks the ``k`` nodes ``j != i`` of largest ``v_i . v_j``.

    ``topk`` picks exactly ``k`` distinct columns even on ties. The choice is discrete, so the
    similarities are computed without gradient (as in ME-GraphAU).
    """
    a = nodes.shape[-2]
    if not 1 <= k < a:
        raise ValueError(f"k = {k} nearest neighbours of {a} nodes: need 1 <= k <= {a - 1} (self is excluded)")
    with torch.no_grad():
        sim = nodes @ nodes.transpose(-1, -2)  # [N, A, A]
        self_loop = torch.eye(a, dtype=torch.bool, device=nodes.device)
        sim = sim.masked_fill(self_loop, float("-inf"))
        neighbours = sim.topk(k, dim=-1).indices  # [N, A, k]
    return torch.zeros_like(sim).scatter_(-1, neighbours, 1.0)


def normalise_adjacency(adj: torch.Tensor) -> torch.Tensor:
    """``D^-1/2 A D^-1/2`` with ``D`` the out-degrees (ME-GraphAU's digraph normalisation); with the
    ``k`` edges of every row of :func:`knn_adjacency` this is ``A / k``, the mean over the neighbours."""
    scale = adj.sum(-1).clamp(min=1.0).rsqrt()  # [N, A]
    return scale.unsqueeze(-1) * adj * scale.unsqueeze(-2)


class GraphConv(nn.Module):
    """One GCN layer, ``v' = ReLU(v + LN(Â V(v) + U(v)))`` (ME-GraphAU's layer).

    ME-GraphAU normalises with a BatchNorm over each node; a LayerNorm shared by all nodes keeps the
    layer a function of the graph alone (relabelling the nodes relabels the output) and needs no
    statistics across the frames of a batch.
    """

    def __init__(self, dim: int):
        super().__init__()
        self.neighbours = nn.Linear(dim, dim)  # V
        self.own = nn.Linear(dim, dim)         # U
        self.norm = nn.LayerNorm(dim)

    def forward(self, nodes: torch.Tensor, adj: torch.Tensor) -> torch.Tensor:  # [N, A, C], [N, A, A]
        aggregate = normalise_adjacency(adj) @ self.neighbours(nodes)
        return F.relu(nodes + self.norm(aggregate + self.own(nodes)))


class ANFL(nn.Module):
    """Frame features ``[N, D]`` -> AU probabilities ``[N, A]`` (eqs. 1-3).

    Args:
        dim: width D of the frame feature; the node features have the same width (as ME-GraphAU).
        num_aus: A.
        k: neighbours per node in the facial graph (ME-GraphAU's default is 4; 004 gives none).
    """

    def __init__(self, dim: int, num_aus: int, k: int):
        super().__init__()
        if not 1 <= k < num_aus:
            raise ValueError(f"anfl_k = {k}: need 1 <= k <= {num_aus - 1} neighbours among {num_aus} AUs")
        self.num_aus, self.k = num_aus, k
        # The A per-AU layers W_i of eq. 1 as one Linear whose output is split into A blocks.
        self.node_layers = nn.Linear(dim, num_aus * dim)
        self.gcn = GraphConv(dim)
        self.centres = nn.Parameter(torch.empty(num_aus, dim))  # s_i of eq. 3
        nn.init.xavier_uniform_(self.centres)

    def nodes(self, x: torch.Tensor) -> torch.Tensor:
        """Eq. 1: ``[N, D]`` -> ``[N, A, D]`` AU-specific features."""
        return F.relu(self.node_layers(x)).unflatten(-1, (self.num_aus, -1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = self.nodes(x)
        refined = self.gcn(nodes, knn_adjacency(nodes, self.k))
        p = F.cosine_similarity(F.relu(refined), F.relu(self.centres), dim=-1, eps=1e-8)  # [N, A]
        return p.clamp(0.0, 1.0)  # only float rounding can leave [0, 1]
