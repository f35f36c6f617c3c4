"""Tests for augment.mixing: union labels, exact pixel maths, boxes, any M, uint8, determinism."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch

from augment.mixing import (
    CUTMIX,
    MIXUP,
    CompoundSynthesizer,
    box_mask,
    cutmix,
    mixup,
    sample_cutmix_boxes,
    sample_mixup_lambda,
    union_labels,
)


def _batch(
    n: int = 4, k: int = 6, size: int = 8, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    images = torch.rand(n, 3, size, size, generator=g)
    labels = torch.zeros(n, k)
    labels[torch.arange(n), torch.arange(n) % k] = 1.0
    return images, labels


def test_union_labels_is_elementwise_max_of_multi_hot():
    la = torch.tensor([[1.0, 0, 0, 0, 0, 0], [1, 1, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0]])
    lb = torch.tensor([[0.0, 0, 1, 0, 0, 0], [0, 1, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0]])
    expected = torch.tensor([[1.0, 0, 1, 0, 0, 0], [1, 1, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0]])
    assert torch.equal(union_labels(la, lb), expected)


def test_mixup_exact_pixel_values():
    a = torch.tensor([10.0, 20.0, -4.0, 1.0]).view(1, 1, 2, 2).repeat(3, 1, 1, 1)
    b = torch.tensor([0.0, 40.0, 4.0, 1.0]).view(1, 1, 2, 2).repeat(3, 1, 1, 1)
    lam = torch.tensor([0.25, 1.0, 0.0])
    out = mixup(a, b, lam)
    assert torch.equal(out[0].flatten(), torch.tensor([2.5, 35.0, 2.0, 1.0]))
    assert torch.equal(out[1], a[1])  # lam = 1: a exactly
    assert torch.equal(out[2], b[2])  # lam = 0: b exactly


def test_mixup_uint8_rounds_to_nearest_and_keeps_dtype():
    a = torch.tensor([0, 255, 10, 200], dtype=torch.uint8).view(1, 1, 2, 2)
    b = torch.tensor([250, 0, 20, 201], dtype=torch.uint8).view(1, 1, 2, 2)
    out = mixup(a, b, torch.tensor([0.2]))
    # 0.2*a + 0.8*b = 200, 51, 18, 200.8 -> 201 (nearest, not truncated to 200)
    assert out.dtype == torch.uint8
    assert out.flatten().tolist() == [200, 51, 18, 201]


def test_cutmix_puts_b_inside_box_and_a_outside():
    m, h, w = 3, 6, 5
    a = torch.arange(m * 2 * h * w, dtype=torch.float32).view(m, 2, h, w)
    b = -1.0 - a
    boxes = torch.tensor([[1, 4, 2, 5], [0, 6, 0, 5], [3, 3, 1, 4]])  # last box is empty
    out = cutmix(a, b, boxes)
    for i, (y0, y1, x0, x1) in enumerate(boxes.tolist()):
        inside = torch.zeros(h, w, dtype=torch.bool)
        inside[y0:y1, x0:x1] = True
        assert torch.equal(out[i][:, inside], b[i][:, inside])
        assert torch.equal(out[i][:, ~inside], a[i][:, ~inside])
    assert torch.equal(out[2], a[2])


def test_box_mask_matches_slicing():
    boxes = torch.tensor([[2, 5, 1, 3]])
    expected = torch.zeros(1, 1, 7, 4, dtype=torch.bool)
    expected[0, 0, 2:5, 1:3] = True
    assert torch.equal(box_mask(boxes, 7, 4), expected)


@pytest.mark.parametrize("height", [8, 7])
def test_half_box_is_exactly_the_lower_half(height):
    boxes = sample_cutmix_boxes(3, height, 5, mode="half")
    assert boxes.dtype == torch.int64
    assert boxes.tolist() == [[height // 2, height, 0, 5]] * 3

    images, labels = _batch(n=2, size=8)
    synth = CompoundSynthesizer(cutmix_mode="half")
    faces, _ = synth(images, labels, torch.tensor([[0, 1]]), torch.tensor([CUTMIX]))
    assert torch.equal(faces[0, :, :4], images[0, :, :4])  # upper face (brows, eyes) from a
    assert torch.equal(faces[0, :, 4:], images[1, :, 4:])  # lower face (mouth) from b


def test_beta_boxes_stay_inside_and_have_the_expected_mean_area():
    n, size = 20000, 100
    g = torch.Generator().manual_seed(0)
    boxes = sample_cutmix_boxes(n, size, size, mode="beta", alpha=1.0, generator=g)
    y0, y1, x0, x1 = boxes.unbind(1)
    assert bool(
        ((0 <= y0) & (y0 <= y1) & (y1 <= size) & (0 <= x0) & (x0 <= x1) & (x1 <= size)).all()
    )
    area = ((y1 - y0) * (x1 - x0)).double() / size**2
    # Side s = sqrt(r), r ~ U(0, 1), centre uniform: a clipped side covers s - s^2/4 on average,
    # so E[area] = integral_0^1 (sqrt(r) - r/4)^2 dr = 1/2 - 1/5 + 1/48 = 0.3208.
    assert abs(area.mean().item() - 0.3208) < 0.015
    # A concentrated Beta pins r at 0.5: sides of 70 px, E[area] = (0.70 - 0.70^2/4)^2 = 0.3335.
    boxes = sample_cutmix_boxes(n, size, size, mode="beta", alpha=1e4, generator=g)
    y0, y1, x0, x1 = boxes.unbind(1)
    area = ((y1 - y0) * (x1 - x0)).double() / size**2
    assert abs(area.mean().item() - 0.3335) < 0.005


def test_mixup_lambda_beta_moments_and_fixed_weight():
    g = torch.Generator().manual_seed(0)
    lam = sample_mixup_lambda(20000, alpha=0.8, generator=g)
    assert lam.dtype == torch.float32 and bool(((lam >= 0) & (lam <= 1)).all())
    assert abs(lam.mean().item() - 0.5) < 0.01
    assert abs(lam.var().item() - 1 / (4 * (2 * 0.8 + 1))) < 0.005  # Beta(a, a) variance
    fixed = sample_mixup_lambda(5, alpha=0.8, fixed=0.1, generator=g)
    assert torch.equal(fixed, torch.full((5,), 0.1))


@pytest.mark.parametrize("m", [0, 1, 3, 7])
def test_any_number_of_pairs_including_zero_and_odd(m):
    images, labels = _batch(n=2)
    g = torch.Generator().manual_seed(1)
    pairs = torch.randint(0, 2, (m, 2), generator=g)
    ops = torch.randint(MIXUP, CUTMIX + 1, (m,), generator=g)
    faces, targets = CompoundSynthesizer()(images, labels, pairs, ops, generator=g)
    assert faces.shape == (m, 3, 8, 8) and faces.dtype == images.dtype
    assert torch.equal(targets, torch.maximum(labels[pairs[:, 0]], labels[pairs[:, 1]]))


def test_synthesizer_composes_the_pure_functions():
    images, labels = _batch(n=4)
    pairs = torch.tensor([[0, 1], [2, 3], [3, 0], [1, 2]])
    ops = torch.tensor([MIXUP, CUTMIX, MIXUP, CUTMIX])
    synth = CompoundSynthesizer(mixup_alpha=0.8, cutmix_mode="beta", cutmix_alpha=1.0)
    faces, targets = synth(images, labels, pairs, ops, generator=torch.Generator().manual_seed(5))

    g = torch.Generator().manual_seed(5)  # replay the draws in the synthesizer's order
    lam = sample_mixup_lambda(4, 0.8, None, g)
    boxes = sample_cutmix_boxes(4, 8, 8, "beta", 1.0, g)
    a, b = images[pairs[:, 0]], images[pairs[:, 1]]
    mixed, cut = mixup(a, b, lam), cutmix(a, b, boxes)
    assert torch.allclose(faces[ops == MIXUP], mixed[ops == MIXUP])
    assert torch.equal(faces[ops == CUTMIX], cut[ops == CUTMIX])
    assert torch.equal(targets[0], torch.tensor([1.0, 1, 0, 0, 0, 0]))


def test_uint8_images_stay_uint8_and_fixed_weight_is_applied():
    images = torch.tensor([[100, 0], [50, 255]], dtype=torch.uint8).view(2, 1, 1, 2)
    labels = torch.eye(2)
    synth = CompoundSynthesizer(mixup_weight=0.1)
    faces, targets = synth(images, labels, torch.tensor([[0, 1]]), torch.tensor([MIXUP]))
    # 0.1*100 + 0.9*50 = 55; 0.1*0 + 0.9*255 = 229.5, a tie: round half to even gives 230
    assert faces.dtype == torch.uint8 and faces.flatten().tolist() == [55, 230]
    assert targets.tolist() == [[1.0, 1.0]]


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16])
def test_float_dtypes_are_kept(dtype):
    images, labels = _batch(n=3)
    faces, _ = CompoundSynthesizer()(
        images.to(dtype), labels, torch.tensor([[0, 1], [1, 2]]), torch.tensor([MIXUP, CUTMIX])
    )
    assert faces.dtype == dtype


def test_same_generator_seed_gives_same_output_and_another_seed_differs():
    images, labels = _batch(n=6)
    pairs = torch.tensor([[0, 1], [2, 3], [4, 5], [5, 0], [1, 3]])
    ops = torch.tensor([MIXUP, CUTMIX, MIXUP, CUTMIX, CUTMIX])
    synth = CompoundSynthesizer(mixup_alpha=0.8, cutmix_alpha=1.0)

    def run(seed: int) -> torch.Tensor:
        return synth(images, labels, pairs, ops, generator=torch.Generator().manual_seed(seed))[0]

    assert torch.equal(run(3), run(3))
    assert not torch.equal(run(3), run(4))


def test_later_calls_leave_earlier_outputs_intact():
    # The synthesizer reuses scratch buffers; what it returned must never be one of them.
    images, labels = _batch(n=4)
    synth = CompoundSynthesizer()
    g = torch.Generator().manual_seed(0)
    first, _ = synth(
        images, labels, torch.tensor([[0, 1], [2, 3]]), torch.tensor([MIXUP, CUTMIX]), g
    )
    kept = first.clone()
    synth(images, labels, torch.tensor([[3, 2], [1, 0]]), torch.tensor([CUTMIX, MIXUP]), g)
    synth(images, labels, torch.tensor([[3, 2]]), torch.tensor([MIXUP]), g)  # another M
    assert torch.equal(first, kept)


def test_bad_inputs_raise_actionable_errors():
    images, labels = _batch(n=2)
    synth = CompoundSynthesizer()
    with pytest.raises(ValueError, match="outside"):
        synth(images, labels, torch.tensor([[0, 2]]), torch.tensor([MIXUP]))
    with pytest.raises(ValueError, match="MIXUP"):
        synth(images, labels, torch.tensor([[0, 1]]), torch.tensor([3]))
    with pytest.raises(ValueError, match="labels must be"):
        synth(images, labels[:1], torch.tensor([[0, 1]]), torch.tensor([MIXUP]))
    with pytest.raises(ValueError, match="cutmix_mode"):
        CompoundSynthesizer(cutmix_mode="quarter")
    with pytest.raises(ValueError, match="mixup_alpha"):
        CompoundSynthesizer(mixup_alpha=None)


def test_augment_imports_neither_cer_nor_mtl():
    package = Path(__file__).resolve().parents[1] / "augment"
    imported = set()
    for source in package.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module.split(".")[0])
    assert imported and not imported & {"cer", "mtl"}
