"""``cer probe``: how much of the basic expressions an encoder already separates, before fine-tuning.

The MAE paper's linear probe: freeze the backbone, take its pooled features (the fine-tuning
pooling: mean of the patch tokens, then fc_norm) of the single-expression training faces, fit a
logistic regression on them (features standardised), and score it on the held-out basic faces
(macro F1 over the 6 basic expressions). The same probe on a randomly initialised backbone of the
same shape is printed beside it, since on small data a random ViT's features already carry
something: an encoder that probes no better than that has learnt little that a head can read.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import click
import numpy as np
import torch
from torch import nn

PROBE_C = 1.0  # inverse L2 strength of the logistic regression on standardised features


@torch.no_grad()
def pooled_features(model: nn.Module, image: Callable[[int], np.ndarray], count: int, batch: int = 128) -> np.ndarray:
    """Pre-logit features ``[count, width]`` of images ``image(0) .. image(count - 1)`` (uint8 HWC)."""
    from cer.models.backbone import VIT_MEAN, VIT_STD, normalise

    model.eval()
    out = []
    for start in range(0, count, batch):
        x = torch.stack([torch.as_tensor(image(i)) for i in range(start, min(count, start + batch))])
        x = normalise(x.permute(0, 3, 1, 2), VIT_MEAN, VIT_STD)
        out.append(model.forward_head(model.forward_features(x), pre_logits=True).float())
    return torch.cat(out).numpy()


def probe_scores(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray,
                 names: Sequence[str], c: float = PROBE_C) -> dict[str, Any]:
    """Logistic regression on standardised features: held-out macro F1, accuracy and per-class F1."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from cer.metrics import f1_per_class

    probe = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=5000))
    pred = probe.fit(train_x, train_y).predict(test_x)
    per_class = f1_per_class(test_y, pred, len(names))
    return {"macro_f1": float(per_class.mean()), "accuracy": float((pred == test_y).mean()),
            "train_accuracy": float(probe.score(train_x, train_y)),
            "per_class_f1": {n: float(f) for n, f in zip(names, per_class)}}


def run_probe(configs: Sequence[str], overrides: Sequence[str] = ()) -> dict[str, dict[str, Any]]:
    """Probe the backbone of a CE config (``model.checkpoint``) and a random one of the same shape.

    Returns ``{"encoder": scores, "random": scores}`` (only ``random`` without a checkpoint)."""
    from cer.compound.config import CEConfig
    from cer.compound.task import BASIC, CompoundTask
    from cer.config import load_config
    from cer.models.backbone import create_backbone

    cfg = load_config(CEConfig, list(configs), list(overrides))
    task = CompoundTask(cfg)
    if task.basic_val_set is None:
        raise click.UsageError("the probe scores the held-out basic faces: data.basic_val is null in this config")
    singles, held_out = task.single_bank, task.basic_val_set
    names = tuple(c.name for c in BASIC.classes)

    def score(model: nn.Module) -> dict[str, Any]:
        train_x = pooled_features(model, lambda i: singles[i], len(singles))
        test_x = pooled_features(model, lambda i: held_out.bank[i], len(held_out))
        return probe_scores(train_x, task.single_index, test_x, held_out.targets, names)

    torch.manual_seed(cfg.train.seed)
    m = cfg.model
    result = {"random": score(create_backbone(m.name, m.img_size, len(names)))}
    if m.checkpoint:
        result = {"encoder": score(task.build_model()), **result}
    return result


@click.command("probe", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("configs", nargs=-1, type=click.Path(exists=True, dir_okay=False))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a key of the CE config (repeatable), e.g. "
                   "--set model.checkpoint=RUN/best/encoder.safetensors.")
def probe(configs: tuple[str, ...], overrides: tuple[str, ...]) -> None:
    """Linear probe of a frozen encoder on the basic expressions, beside a random encoder's.

    CONFIGS are CE configs (default: the built-in faces and the built-in MAE encoder); the probe
    trains on data.single and scores data.basic_val.
    """
    from cer.config import ConfigError

    try:
        result = run_probe(configs, overrides)
    except ConfigError as err:
        raise click.UsageError(str(err)) from None
    for name, s in result.items():
        per_class = " ".join(f"{k} {v:.2f}" for k, v in s["per_class_f1"].items())
        click.echo(f"{name:>7}: held-out basic macro F1 {s['macro_f1']:.3f} (accuracy {s['accuracy']:.3f}, "
                   f"train accuracy {s['train_accuracy']:.3f}; {per_class})")
