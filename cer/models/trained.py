"""A trained model as a folder, one format for every kind: ``model.safetensors`` plus ``model.json``.

``model.json`` always holds:

- ``kind``: what made it and what can use it: ``ce`` (``cer train``), ``mae`` (``cer pretrain``),
  ``mtl`` (``mtl train``);
- ``architecture``: the kind's own description of the network, enough to rebuild it;
- ``backbone``: ``{"name", "img_size", "prefix"}``: the timm ViT inside and the prefix of its keys
  in the weights, so that any kind's backbone can be loaded alone (feature fusion, fine-tuning);
- ``img_size``, ``mean``, ``std``: the input the model expects; ``config``: the training config;

and whatever else the kind records (label space, constraint set, metrics, ...). The folder is
written under a temporary name and swapped in, so a reader never sees half a model.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from torch import Tensor, nn

WEIGHTS, META = "model.safetensors", "model.json"
MADE_BY = {"ce": "cer train", "mae": "cer pretrain", "mtl": "mtl train"}


class ModelKindError(ValueError):
    """A model folder of another kind than the command needs (e.g. an MTL run given to ``cer predict``)."""


def save_trained(model: nn.Module, folder: Path, kind: str, architecture: dict[str, Any], backbone: dict[str, Any],
                 meta: dict[str, Any], extra_weights: Mapping[str, Mapping[str, Tensor]] | None = None) -> None:
    """Write ``model``'s weights and its ``model.json`` into ``folder``, replacing it atomically.

    Args:
        kind: a key of :data:`MADE_BY`.
        architecture: what the kind's builder needs to rebuild the network.
        backbone: ``{"name", "img_size", "prefix"}`` of the ViT inside (see the module docstring).
        meta: the rest of ``model.json`` (``mean``, ``std``, ``config``, ...).
        extra_weights: more safetensors files of the folder, by file name (e.g. MAE's encoder alone).
    """
    from safetensors.torch import save_file

    if kind not in MADE_BY:
        raise ValueError(f"unknown model kind {kind!r}: one of {', '.join(MADE_BY)}")
    folder = Path(folder)
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    files = {WEIGHTS: model.state_dict(), **(extra_weights or {})}
    for name, state in files.items():
        # Copies: safetensors refuses tensors that share memory (tied weights, views of one buffer).
        save_file({k: v.detach().to("cpu", copy=True).contiguous() for k, v in state.items()}, str(tmp / name))
    document = {"kind": kind, "architecture": architecture, "backbone": backbone, "img_size": backbone["img_size"],
                **meta}
    (tmp / META).write_text(json.dumps(document, indent=1))
    if folder.exists():
        old = folder.with_name(folder.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(folder, old)
        os.replace(tmp, folder)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, folder)


def find_model_folder(path: str | Path) -> Path:
    """``path`` if it holds a model, else its ``best/`` (a run folder)."""
    path = Path(path)
    for candidate in (path, path / "best"):
        if (candidate / META).is_file() and (candidate / WEIGHTS).is_file():
            return candidate
    raise FileNotFoundError(f"{path} holds no trained model: expected {META} and {WEIGHTS} in it or in "
                            f"{path / 'best'} (a run folder of `cer train`, `cer pretrain` or `mtl train`)")


def read_trained(path: str | Path, kind: str | None = None, needed_by: str = "this command") -> tuple[Path, dict]:
    """The model folder of ``path`` (it or its ``best/``) and its ``model.json``.

    Raises:
        ModelKindError: ``kind`` is given and the folder holds another kind of model.
    """
    folder = find_model_folder(path)
    meta = json.loads((folder / META).read_text())
    found = meta.get("kind")
    if kind is not None and found != kind:
        what = f"a '{found}' model (made by `{MADE_BY[found]}`)" if found in MADE_BY else "a model of no known kind"
        raise ModelKindError(f"{folder} holds {what}; {needed_by} needs a '{kind}' model (made by "
                             f"`{MADE_BY[kind]}`)")
    return folder, meta


def load_trained(path: str | Path, kind: str, build: Callable[[dict[str, Any]], nn.Module],
                 needed_by: str = "this command") -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the ``kind`` model of ``path`` with ``build(architecture)``, weights loaded, in eval mode."""
    from safetensors.torch import load_file

    folder, meta = read_trained(path, kind, needed_by)
    model = build(meta["architecture"])
    model.load_state_dict(load_file(str(folder / WEIGHTS)))  # strict: our own files match exactly
    return model.eval(), meta


def build_classifier(architecture: dict[str, Any]) -> nn.Module:
    """The network of a ``ce`` model: a timm ViT with a classifier over the label space."""
    from cer.models.backbone import create_backbone

    return create_backbone(architecture["name"], architecture["img_size"], architecture["num_classes"])


def load_classifier(path: str | Path, needed_by: str = "this command") -> tuple[nn.Module, dict[str, Any]]:
    """A ``ce`` model (``cer train``) and its metadata."""
    return load_trained(path, "ce", build_classifier, needed_by)


def load_backbone(path: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """The ViT inside a ``ce`` or ``mtl`` model, without its heads (pooled features), in eval mode."""
    from safetensors.torch import load_file

    from cer.models.backbone import create_backbone

    folder, meta = read_trained(path)
    spec = meta.get("backbone")
    if meta.get("kind") not in ("ce", "mtl") or spec is None:
        raise ModelKindError(f"{folder} holds a '{meta.get('kind')}' model: its backbone cannot be used as a "
                             "feature extractor; give a run of `cer train` or `mtl train`")
    backbone = create_backbone(spec["name"], spec["img_size"], 0)
    prefix = spec["prefix"]
    state = {k[len(prefix):]: v for k, v in load_file(str(folder / WEIGHTS)).items()
             if k.startswith(prefix) and not k[len(prefix):].startswith("head.")}
    backbone.load_state_dict(state)  # strict: every backbone key, nothing else
    return backbone.eval(), meta


def save_classifier(model: nn.Module, folder: Path, name: str, img_size: int, meta: dict[str, Any]) -> None:
    """Save a ``ce`` model: the ViT ``name`` at ``img_size`` with its classifier (``meta``: the rest)."""
    architecture = {"name": name, "img_size": int(img_size), "num_classes": int(model.num_classes)}
    save_trained(model, folder, "ce", architecture, {"name": name, "img_size": int(img_size), "prefix": ""}, meta)
