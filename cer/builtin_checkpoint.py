"""``model.checkpoint: builtin-mae``: the cached MAE encoder of the built-in faces, for any task.

The encoder is built and found by the MAE task (``cer pretrain --builtin``, cer/pretrain/builtin.py).
A task may not import another task, so a CE or MTL run asks for it through that command, in a child
process, as ``cer ablate`` runs its trainings: the child prints its progress and writes the encoder's
path to a file this process reads.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

BUILTIN_MAE = "builtin-mae"  # the value of model.checkpoint that names the cached encoder


def resolve_checkpoint(checkpoint: str | None, name: str, img_size: int) -> str | None:
    """``model.checkpoint`` as a file path: ``builtin-mae`` becomes the cached encoder of ``name`` at
    ``img_size`` (pretrained first if the cache has none); any other value is returned as it is."""
    if checkpoint != BUILTIN_MAE:
        return checkpoint
    with tempfile.TemporaryDirectory() as tmp:
        answer = Path(tmp) / "encoder-path"
        command = [sys.executable, "-m", "cer.cli", "pretrain", "--builtin", "--set", f"model.name={name}",
                   "--set", f"model.img_size={img_size}", "--write-path", str(answer)]
        done = subprocess.run(command)
        if done.returncode != 0 or not answer.is_file():
            raise RuntimeError(f"could not build or find the built-in MAE encoder ({' '.join(command[1:])} "
                               f"exited with {done.returncode}); run that command to see why")
        return answer.read_text().strip()
