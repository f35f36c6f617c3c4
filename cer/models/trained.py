"""A trained model as a folder: ``model.safetensors`` plus ``model.json`` (timm name, input size,
label space, normalisation, the training config): enough to rebuild it anywhere."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from torch import nn

WEIGHTS, META = "model.safetensors", "model.json"


def save_trained(model: nn.Module, folder: Path, meta: dict[str, Any]) -> None:
    """Write weights and metadata into ``folder``, replacing it atomically."""
    from safetensors.torch import save_file

    folder = Path(folder)
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(state, str(tmp / WEIGHTS))
    (tmp / META).write_text(json.dumps(meta, indent=1))
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
                            f"{path / 'best'} (a run folder of `cer.train`)")


def load_trained(path: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a model saved by :func:`save_trained` (from its folder or its run folder), in eval mode."""
    from safetensors.torch import load_file

    from cer.models.backbone import create_backbone

    folder = find_model_folder(path)
    meta = json.loads((folder / META).read_text())
    model = create_backbone(meta["model"], meta["img_size"], meta["num_classes"])
    model.load_state_dict(load_file(str(folder / WEIGHTS)))  # strict: our own files match exactly
    return model.eval(), meta
