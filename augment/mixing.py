"""Compound-expression synthesis: batched Mixup and CutMix with union multi-hot labels.

Papers:
    mixup: Beyond Empirical Risk Minimization - https://arxiv.org/abs/1710.09412
    CutMix: Regularization Strategy to Train Strong Classifiers with Localizable Features
        - https://arxiv.org/abs/1905.04899
    Compound expression synthesis with both, for a curriculum from single to compound expressions:
        paper 002 of this project (sec. 3.3, Table 4).

A synthetic compound face shows BOTH source expressions, so its target is the union (element-wise
max) of the two multi-hot labels, not the lam-weighted soft label that timm's ``Mixup`` produces.
Unlike timm's ``Mixup`` (integer targets, one even batch paired with its own flip), the caller says
which rows to pair (``pairs``) and how to mix each pair (``ops``), so any number of outputs can be
drawn, odd or zero, and only allowed compound pairs need be formed. The pixel work runs batched on
the images' device, with no Python loop over samples; only the few random numbers per row are drawn
on the generator's device (Beta draws through NumPy on the CPU) and then moved.

Conventions: a pair is ``(a, b)``. ``mixup`` weights ``a`` by ``lam``; ``cutmix`` pastes ``b`` into
``a`` inside the box. With ``cutmix_mode="half"`` the box is the lower half, so ``a`` gives the
upper face (brows, eyes) and ``b`` the lower face (mouth): order each pair accordingly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

MIXUP = 1  # op code: blend the pair, a weighted by lam
CUTMIX = 2  # op code: paste b into a inside a box

CUTMIX_MODES = ("beta", "half")


def _generator_device(generator: torch.Generator | None) -> torch.device:
    return generator.device if generator is not None else torch.device("cpu")


def _sample_beta(n: int, alpha: float, generator: torch.Generator | None) -> torch.Tensor:
    """Draws n values from Beta(alpha, alpha) as float32 on the CPU.

    torch's Beta sampler accepts no generator, so the draw goes through NumPy, seeded from the
    torch generator (or torch's global RNG): same generator state, same values.
    """
    device = _generator_device(generator)
    seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=device).item())
    values = np.random.default_rng(seed).beta(alpha, alpha, size=n)
    return torch.from_numpy(values).float()


def sample_mixup_lambda(
    n: int,
    alpha: float | None = 1.0,
    fixed: float | None = None,
    generator: torch.Generator | None = None,
    *,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Samples the per-row Mixup weight of ``a``.

    Args:
        n: Number of rows.
        alpha: Beta(alpha, alpha) concentration; used when ``fixed`` is None.
        fixed: A constant weight in [0, 1] for every row (paper 002 used 0.1); overrides ``alpha``.
        generator: Source of randomness; None uses torch's global RNG.
        device: Where the result lives (default CPU).

    Returns:
        Float32 tensor [n] of weights in [0, 1].
    """
    if fixed is not None:
        if not 0.0 <= fixed <= 1.0:
            raise ValueError(f"fixed Mixup weight must lie in [0, 1], got {fixed}")
        return torch.full((n,), float(fixed), device=device)
    if alpha is None or alpha <= 0:
        raise ValueError(f"Mixup needs alpha > 0 or a fixed weight, got alpha={alpha}, fixed=None")
    return _sample_beta(n, alpha, generator).to(device)


def sample_cutmix_boxes(
    n: int,
    height: int,
    width: int,
    mode: str = "beta",
    alpha: float = 1.0,
    generator: torch.Generator | None = None,
    *,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Samples one CutMix box per row.

    Args:
        n: Number of rows.
        height: Image height H.
        width: Image width W.
        mode: ``"beta"``: the box's area ratio r ~ Beta(alpha, alpha) before clipping, sides
            sqrt(r) * (H, W), a uniformly random centre, clipped to the image (CutMix paper), so the
            clipped area is on average smaller than r. ``"half"``: the lower half, rows H//2..H, all
            columns (the official code of paper 002); no randomness.
        alpha: Beta concentration for ``"beta"``.
        generator: Source of randomness; None uses torch's global RNG.
        device: Where the result lives (default CPU).

    Returns:
        Int64 tensor [n, 4] of (y0, y1, x0, x1), half-open: rows y0..y1-1, columns x0..x1-1.
    """
    if mode == "half":
        box = torch.tensor([height // 2, height, 0, width], dtype=torch.long, device=device)
        return box.expand(n, 4).clone()
    if mode != "beta":
        raise ValueError(f"cutmix mode must be one of {CUTMIX_MODES}, got {mode!r}")
    if alpha <= 0:
        raise ValueError(f"CutMix needs alpha > 0, got {alpha}")
    side = _sample_beta(n, alpha, generator).sqrt()  # [n] side ratio = sqrt(area ratio)
    cut_h = (side * height).long()
    cut_w = (side * width).long()
    gen_device = _generator_device(generator)
    cy = torch.randint(0, height, (n,), generator=generator, device=gen_device).cpu()
    cx = torch.randint(0, width, (n,), generator=generator, device=gen_device).cpu()
    y0 = (cy - cut_h // 2).clamp(0, height)
    x0 = (cx - cut_w // 2).clamp(0, width)
    y1 = (cy - cut_h // 2 + cut_h).clamp(0, height)
    x1 = (cx - cut_w // 2 + cut_w).clamp(0, width)
    return torch.stack([y0, y1, x0, x1], dim=1).to(device)


def box_mask(boxes: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Turns boxes [M, 4] (y0, y1, x0, x1) into a bool mask [M, 1, H, W], True inside the box."""
    rows = torch.arange(height, device=boxes.device).view(1, height, 1)
    cols = torch.arange(width, device=boxes.device).view(1, 1, width)
    y0, y1, x0, x1 = (boxes[:, i].view(-1, 1, 1) for i in range(4))
    inside = (rows >= y0) & (rows < y1) & (cols >= x0) & (cols < x1)  # [M, H, W]
    return inside.unsqueeze(1)


def blend(a: torch.Tensor, b: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Returns ``weight * a + (1 - weight) * b``, broadcasting ``weight`` over a and b.

    Float inputs are blended in their own dtype; integer inputs (uint8 images) are blended in
    float32 and rounded to the nearest integer. A weight of exactly 0 or 1 returns b or a exactly.
    """
    if a.is_floating_point():
        return torch.lerp(b, a, weight.to(a.dtype))
    mixed = torch.lerp(b.float(), a.float(), weight.float())
    return mixed.round_().to(a.dtype)


def mixup(a: torch.Tensor, b: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
    """Mixup of two batches [M, C, H, W] with per-row weights lam [M] on ``a``."""
    return blend(a, b, lam.view(-1, 1, 1, 1))


def cutmix(a: torch.Tensor, b: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """CutMix of two batches [M, C, H, W]: each row of b pasted into a inside its box [M, 4]."""
    return torch.where(box_mask(boxes, a.shape[-2], a.shape[-1]), b, a)


def _weight_of_b(
    lam: torch.Tensor,
    boxes: torch.Tensor,
    is_mixup: torch.Tensor,
    height: int,
    width: int,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """Per-pixel weight of b [M, 1, H, W]: 1 - lam for Mixup rows, 1 inside the box for CutMix rows.

    Both are outer products of a row factor [M, H] and a column factor [M, W] (Mixup: 1 - lam and
    1; CutMix: the box's row and column indicators), so only one op touches M x H x W values.
    ``out``, if given, is a float32 [M, 1, H, W] buffer to write into.
    """
    rows = torch.arange(height, device=boxes.device)
    cols = torch.arange(width, device=boxes.device)
    in_rows = ((rows >= boxes[:, 0:1]) & (rows < boxes[:, 1:2])).float()  # [M, H]
    in_cols = ((cols >= boxes[:, 2:3]) & (cols < boxes[:, 3:4])).float()  # [M, W]
    mix = is_mixup.view(-1, 1)
    row_factor = torch.where(mix, (1.0 - lam).view(-1, 1), in_rows)
    col_factor = torch.where(mix, torch.ones_like(in_cols), in_cols)
    if out is None:
        out = torch.empty(lam.shape[0], 1, height, width, device=boxes.device)
    torch.mul(row_factor.unsqueeze(2), col_factor.unsqueeze(1), out=out.view(-1, height, width))
    return out


def _blend_b_into(a: torch.Tensor, b: torch.Tensor, weight_b: torch.Tensor) -> torch.Tensor:
    """``(1 - weight_b) * a + weight_b * b``, in place in ``a`` for float ``a`` (see ``blend``)."""
    if a.is_floating_point():
        return a.lerp_(b, weight_b.to(a.dtype))
    mixed = a.float().lerp_(b.float(), weight_b.float())
    return mixed.round_().to(a.dtype)


def union_labels(la: torch.Tensor, lb: torch.Tensor) -> torch.Tensor:
    """Label of a face showing both expressions: the element-wise max of two multi-hot labels."""
    return torch.maximum(la, lb)


@dataclass
class CompoundSynthesizer:
    """Synthesises compound-expression faces from pairs of faces, batched, on the images' device.

    Paper 002's setting is ``CompoundSynthesizer(mixup_weight=0.1, cutmix_mode="half")``.
    Outputs carry no autograd history. An instance keeps scratch buffers between calls, so give each
    thread its own (DataLoader worker processes are separate copies already).

    Example:
        >>> synth = CompoundSynthesizer(mixup_weight=0.1, cutmix_mode="half")
        >>> pairs = torch.tensor([[0, 3], [2, 1], [4, 0]])  # (upper face, lower face) rows
        >>> ops = torch.tensor([MIXUP, CUTMIX, CUTMIX])
        >>> faces, targets = synth(images, labels, pairs, ops, generator=g)  # 3 outputs
    """

    mixup_alpha: float | None = 1.0  # Beta(alpha, alpha) for the Mixup weight, as in mixup paper
    mixup_weight: float | None = None  # fixed Mixup weight of a; overrides mixup_alpha when set
    cutmix_mode: str = "beta"  # "beta": random box (CutMix paper); "half": lower half from b
    cutmix_alpha: float = 1.0  # Beta(alpha, alpha) for the box area in "beta" mode
    # Reused buffers for the internal b rows and weight map: fresh batch-sized CPU allocations
    # page-fault on every call and made a 96 x 3 x 112^2 call about 3x slower (31 vs 11 ms).
    _workspace: dict[str, torch.Tensor] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if self.mixup_weight is None and (self.mixup_alpha is None or self.mixup_alpha <= 0):
            raise ValueError("CompoundSynthesizer needs mixup_alpha > 0 or a fixed mixup_weight")
        if self.mixup_weight is not None and not 0.0 <= self.mixup_weight <= 1.0:
            raise ValueError(f"mixup_weight must lie in [0, 1], got {self.mixup_weight}")
        if self.cutmix_mode not in CUTMIX_MODES:
            raise ValueError(f"cutmix_mode must be one of {CUTMIX_MODES}, got {self.cutmix_mode!r}")
        if self.cutmix_mode == "beta" and self.cutmix_alpha <= 0:
            raise ValueError(f"cutmix_alpha must be > 0, got {self.cutmix_alpha}")

    @torch.no_grad()
    def __call__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        pairs: torch.Tensor,
        ops: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Synthesises one face per pair.

        Args:
            images: [N, C, H, W], any device, float or uint8.
            labels: [N, K] multi-hot labels of ``images``.
            pairs: [M, 2] int64 row indices (a, b) into ``images``; M may be 0 or odd.
            ops: [M] op codes, ``MIXUP`` or ``CUTMIX``, one per pair.
            generator: Source of randomness (CPU or the images' device); None uses torch's global
                RNG. The same generator state gives the same output.

        Returns:
            faces [M, C, H, W] (dtype and device of ``images``) and targets [M, K], the union of
            each pair's labels.
        """
        self._check_inputs(images, labels, pairs, ops)
        m = pairs.shape[0]
        height, width = images.shape[-2:]
        device = images.device
        pairs = pairs.to(device)
        ops = ops.to(device)
        # Draw for every row whatever its op: the draws then depend only on M and the generator,
        # and no device sync is needed to split rows by op.
        lam = sample_mixup_lambda(m, self.mixup_alpha, self.mixup_weight, generator, device=device)
        boxes = sample_cutmix_boxes(
            m, height, width, self.cutmix_mode, self.cutmix_alpha, generator, device=device
        )
        weight_b = _weight_of_b(
            lam,
            boxes,
            ops == MIXUP,
            height,
            width,
            out=self._buffer("weight_b", (m, 1, height, width), torch.float32, device),
        )
        # index_select, not images[idx]: a plain copy kernel, several times faster on the CPU.
        a = images.index_select(0, pairs[:, 0])  # [M, C, H, W], returned, so blended in place
        b_buffer = self._buffer("b", (m, *images.shape[1:]), images.dtype, device)
        b = torch.index_select(images, 0, pairs[:, 1], out=b_buffer)
        faces = _blend_b_into(a, b, weight_b)
        label_pairs = pairs.to(labels.device)
        targets = union_labels(labels[label_pairs[:, 0]], labels[label_pairs[:, 1]])
        return faces, targets

    def _buffer(
        self, name: str, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device
    ) -> torch.Tensor:
        """A scratch tensor of this shape, reused while shape, dtype and device stay the same."""
        buffer = self._workspace.get(name)
        if (
            buffer is None
            or buffer.shape != shape
            or buffer.dtype != dtype
            or buffer.device != device
        ):
            buffer = self._workspace[name] = torch.empty(shape, dtype=dtype, device=device)
        return buffer

    @staticmethod
    def _check_inputs(
        images: torch.Tensor, labels: torch.Tensor, pairs: torch.Tensor, ops: torch.Tensor
    ) -> None:
        if images.dim() != 4:
            raise ValueError(f"images must be [N, C, H, W], got shape {tuple(images.shape)}")
        n = images.shape[0]
        if labels.dim() != 2 or labels.shape[0] != n:
            raise ValueError(
                f"labels must be [N, K] with N = {n} (one multi-hot row per image), "
                f"got shape {tuple(labels.shape)}"
            )
        if pairs.dim() != 2 or pairs.shape[1] != 2 or pairs.dtype not in (torch.int64, torch.int32):
            raise ValueError(
                f"pairs must be an integer tensor [M, 2] of row indices, "
                f"got {pairs.dtype} of shape {tuple(pairs.shape)}"
            )
        if ops.shape != (pairs.shape[0],):
            raise ValueError(f"ops must be [M] = [{pairs.shape[0]}], got shape {tuple(ops.shape)}")
        if pairs.shape[0] == 0:
            return
        # One host sync for both checks; out-of-range indices would otherwise be a device assert.
        bad_pairs = ((pairs < 0) | (pairs >= n)).any()
        bad_ops = ((ops != MIXUP) & (ops != CUTMIX)).any().to(bad_pairs.device)
        bad_pairs, bad_ops = torch.stack([bad_pairs, bad_ops]).tolist()
        if bad_pairs:
            raise ValueError(f"pairs hold row indices outside [0, {n}); they index rows of images")
        if bad_ops:
            raise ValueError(f"ops must hold only MIXUP ({MIXUP}) or CUTMIX ({CUTMIX})")
