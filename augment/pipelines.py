"""Single-image pipelines (albumentations 2.x): HxWx3 uint8 numpy in, img_size^2 uint8 numpy out.

The training pipeline is stage 1 of paper 002 (sec. 3.3): random crop, random flipping, colour
jittering and cutout. Normalisation is left to the trainer, on the device.

Seeding. Do not rely on ``A.Compose(seed=...)`` alone: albumentations 2.0 gives every transform
its own generator built from the SAME seed, so the transforms' coin flips coincide (with two p=0.5
transforms, both or neither fire). ``reseed`` gives the whole pipeline one shared stream instead.
A DataLoader worker is a copy of the parent process, so each worker must be reseeded too, or every
worker repeats the same augmentations. torch already gives each worker a distinct seed that changes
every epoch (unless ``persistent_workers=True``, when the stream simply continues) and follows
``torch.manual_seed`` or the DataLoader's ``generator``::

    def worker_init_fn(worker_id: int) -> None:
        dataset = torch.utils.data.get_worker_info().dataset
        reseed(dataset.pipeline, torch.initial_seed())

To make each sample's augmentation independent of the number of workers and of the order in which
they fetch, reseed per sample instead, from (seed, epoch, index); a reseed costs about 50 us here,
against about 1 ms for the pipeline itself on a 128 px face.
"""

from __future__ import annotations

import random

import albumentations as A
import numpy as np


def reseed(pipeline: A.Compose, seed: int | None) -> None:
    """Points every transform of ``pipeline`` at one random stream started from ``seed``.

    Args:
        pipeline: A pipeline from ``train_pipeline`` or ``eval_pipeline`` (any ``A.Compose``).
        seed: A non-negative integer (e.g. ``torch.initial_seed()`` inside a worker); None draws
            from the OS.
    """
    pipeline.set_random_state(np.random.default_rng(seed), random.Random(seed))


def _crop_or_resize(img_size: int, crop_scale: tuple[float, float] | None) -> A.BasicTransform:
    if crop_scale is None or tuple(crop_scale) == (1.0, 1.0):
        return A.Resize(img_size, img_size)
    low, high = crop_scale
    if not 0.0 < low <= high <= 1.0:
        raise ValueError(
            f"crop_scale must be (low, high) with 0 < low <= high <= 1, got {crop_scale}"
        )
    return A.RandomResizedCrop(size=(img_size, img_size), scale=(low, high))


def train_pipeline(
    img_size: int,
    *,
    hflip: float = 0.5,
    color_jitter: float = 0.4,
    crop_scale: tuple[float, float] | None = (0.8, 1.0),
    cutout: float = 0.5,
    cutout_holes: int = 1,
    cutout_size: float = 0.25,
    seed: int | None = None,
) -> A.Compose:
    """Builds the stage-1 training pipeline: crop, flip, colour jitter, cutout, in that order.

    Every augmentation is switched off by 0 (``crop_scale``: None or (1.0, 1.0)); with all of them
    off the pipeline equals ``eval_pipeline``.

    Args:
        img_size: Output side in pixels.
        hflip: Probability of a horizontal flip.
        color_jitter: Strength of brightness, contrast and saturation jitter, each factor drawn from
            [1 - s, 1 + s] (timm's convention; hue is left alone, it shifts skin tone).
        crop_scale: Area range of the random crop relative to the image, resized to img_size.
        cutout: Probability of cutout (hole filled with 0), applied after the crop so that its size
            is relative to the output.
        cutout_holes: Number of holes.
        cutout_size: Hole side as a fraction of img_size.
        seed: Seed for ``reseed``; None draws from the OS.

    Returns:
        An ``A.Compose`` mapping ``image=`` (HxWx3 uint8) to ``["image"]`` (img_size^2 x 3 uint8).
    """
    for name, p in (("hflip", hflip), ("cutout", cutout)):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"{name} is a probability and must lie in [0, 1], got {p}")
    if color_jitter < 0:
        raise ValueError(f"color_jitter must be >= 0, got {color_jitter}")
    transforms: list[A.BasicTransform] = [_crop_or_resize(img_size, crop_scale)]
    if hflip > 0:
        transforms.append(A.HorizontalFlip(p=hflip))
    if color_jitter > 0:
        transforms.append(
            A.ColorJitter(
                brightness=color_jitter,
                contrast=color_jitter,
                saturation=color_jitter,
                hue=0.0,
                p=1.0,
            )
        )
    if cutout > 0:
        if cutout_holes < 1 or not 0.0 < cutout_size <= 1.0:
            raise ValueError(
                f"cutout needs cutout_holes >= 1 and 0 < cutout_size <= 1, "
                f"got {cutout_holes} and {cutout_size}"
            )
        transforms.append(
            A.CoarseDropout(
                num_holes_range=(cutout_holes, cutout_holes),
                hole_height_range=(cutout_size, cutout_size),
                hole_width_range=(cutout_size, cutout_size),
                fill=0,
                p=cutout,
            )
        )
    pipeline = A.Compose(transforms)
    reseed(pipeline, seed)
    return pipeline


def eval_pipeline(img_size: int) -> A.Compose:
    """Builds the evaluation pipeline: a resize to img_size x img_size, nothing random."""
    return A.Compose([A.Resize(img_size, img_size)])
