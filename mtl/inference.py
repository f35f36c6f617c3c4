"""Run an MTL model over evaluation windows and expand its outputs back to one prediction per frame.

Used after every training epoch (with accelerate's ``gather_for_metrics``, so each window counts
once across processes) and by ``mtl evaluate`` / ``mtl predict``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from accelerate.utils import send_to_device
from torch import nn

from mtl.affect_tasks import AFFECT_TASKS, AffectTask
from mtl.data import fused_inputs, model_images
from mtl.sequences import expand_to_frames


@torch.no_grad()
def frame_predictions(model: nn.Module, loader: Iterable[dict[str, Any]], tasks: Sequence[str], n_frames: int,
                      mean: Sequence[float], std: Sequence[float], extractors: Sequence[nn.Module] = (),
                      gather: Callable[[Any], Any] = lambda x: x,
                      registry: Mapping[str, AffectTask] = AFFECT_TASKS) -> dict[str, np.ndarray]:
    """``{task: [n_frames, ...]}`` decoded predictions (``AffectTask.decode``), one per frame.

    Args:
        model: an :class:`mtl.model.MTLModel` (in eval mode).
        loader: batches of :class:`mtl.data.WindowDataset` over evaluation windows.
        tasks: the tasks to predict (heads of ``model``).
        n_frames: frames of the split (every one must be owned by a window position).
        extractors: frozen extractors of the fused runs when features are not cached.
        gather: collects a batch's tensors from all processes.
        registry: the tasks that decode the head outputs; an ANFL model's AU head outputs probabilities
            (``task_registry(arch.au_probabilities)``), the default registry's expects logits.
    """
    device = next(model.parameters()).device
    outputs: dict[str, list[np.ndarray]] = {t: [] for t in tasks}
    frames, owners = [], []
    for batch in loader:
        batch = send_to_device(batch, device, non_blocking=True)
        own = batch.get("backbone")  # the frozen backbone's cached features, if the task cached them
        images = None if own is not None else model_images(batch["images"], mean, std)
        out = model(images, fused_inputs(batch, extractors), batch["valid"], batch["extra"], features=own)
        decoded = {t: registry[t].decode(out[t]) for t in tasks}
        decoded, f, o = gather((decoded, batch["frames"], batch["owner"]))
        for t in tasks:
            outputs[t].append(decoded[t].float().cpu().numpy())
        frames.append(f.cpu().numpy())
        owners.append(o.cpu().numpy())
    if not frames:
        raise ValueError("no evaluation windows: the split has no frames")
    f, o = np.concatenate(frames), np.concatenate(owners).astype(bool)
    return {t: expand_to_frames(np.concatenate(outputs[t]), f, o, n_frames) for t in tasks}
