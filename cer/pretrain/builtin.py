"""The built-in MAE encoder: pretrained once on the built-in synthetic faces, kept in the cache.

Papers 001 and 002 fine-tune an encoder pretrained by MAE on faces. No such weights can be
downloaded here, so the CPU default makes its own the first time a config asks for
``model.checkpoint: builtin-mae`` (cer/builtin_checkpoint.py): an MAE run of ``cer pretrain`` with
the settings below, on the built-in synthetic faces, written into
``cache_dir()/encoders/<name>-<px>px-<key>/``. The key hashes the whole pretraining config and the
renderer's ``SYNTH_VERSION``, so a changed renderer or recipe builds a new encoder and an unchanged
one is reused by every later run (and by ``mtl train``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from cer.paths import cache_dir

ENCODER_FILE = "encoder.safetensors"


def builtin_settings(name: str, img_size: int) -> list[str]:
    """The pretraining recipe of the built-in encoder for the backbone ``name`` at ``img_size``."""
    return [f"model.name={name}", f"model.img_size={img_size}", "train.seed=0", "train.keep_checkpoints=1"]


def encoder_key(overrides: Sequence[str]) -> str:
    """Hash of the resolved pretraining config and the renderer version the faces come from."""
    from cer.config import load_config, to_dict
    from cer.pretrain.config import PretrainConfig
    from cer.synth.generate import SYNTH_VERSION

    cfg = to_dict(load_config(PretrainConfig, overrides=list(overrides)))
    cfg.pop("output", None)  # where the run was written does not change the weights
    for key in ("progress", "keep_checkpoints", "threads"):  # how the run is shown and kept, not what it learns
        cfg.get("train", {}).pop(key, None)
    text = json.dumps({"synth_version": SYNTH_VERSION, "config": cfg}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def builtin_encoder(name: str = "vit_face_tiny", img_size: int = 96, extra: Sequence[str] = ()) -> Path:
    """The cached encoder weights of ``name`` at ``img_size``, pretrained now if there are none yet.

    Args:
        name, img_size: the backbone that will load the weights (the encoder is pretrained for it).
        extra: further ``key=value`` overrides of the pretraining config (tests use a tiny run).

    Returns:
        the path of ``encoder.safetensors``, ready for ``cer.models.checkpoint.load_backbone_weights``.
    """
    overrides = [*builtin_settings(name, img_size), *extra]
    folder = cache_dir() / "encoders" / f"{name}-{img_size}px-{encoder_key(overrides)}"
    if (folder / ENCODER_FILE).is_file():
        return folder / ENCODER_FILE
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        # Every process would pretrain its own copy: build it once before a distributed launch.
        raise RuntimeError(f"the built-in MAE encoder for {name} at {img_size} px is not built yet: run "
                           f"`cer pretrain --builtin --set model.name={name} --set model.img_size={img_size}` "
                           "once in a single process, then launch again")
    print(f"building the built-in MAE encoder ({name}, {img_size} px) once; later runs reuse {folder}", flush=True)
    from cer.pretrain.command import run

    # A fixed building folder, so that a killed build resumes from its last checkpoint next time.
    building = folder.with_name(f".{folder.name}.building")
    run([], overrides, output=str(building / "run"), resume="auto")
    best = building / "run" / "best"
    shutil.copy(best / ENCODER_FILE, building / ENCODER_FILE)
    shutil.copy(best / "model.json", building / "model.json")
    shutil.rmtree(building / "run")
    try:
        building.rename(folder)
    except OSError:
        if not (folder / ENCODER_FILE).is_file():  # otherwise another process's encoder won the race
            raise
        shutil.rmtree(building, ignore_errors=True)
    return folder / ENCODER_FILE

