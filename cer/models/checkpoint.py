"""Backbone weights from local files: read safely, adapt explicitly, load, and account for every key.

Checkpoints are untrusted input. ``.safetensors`` files hold nothing but tensors; ``.pth``/``.pt``/
``.bin`` files are read with ``torch.load(weights_only=True)``, which refuses to unpickle arbitrary
objects. What is written is safetensors.

``load_backbone_weights`` does the surgery of MAE fine-tuning in the open, in this order:

1. A checkpoint of this project's ``MaskedAutoencoderViT`` (encoder under ``encoder.``) is
   reduced to its encoder keys.
2. MAE-only keys (``decoder_*``, ``mask_token``) are set aside: expected, reported as unexpected.
3. ``pos_embed`` is resampled (bicubic over the patch grid, prefix tokens kept) when the
   checkpoint was trained at another image size (:func:`interpolate_pos_embed`; staged MTL loading,
   ``mtl.staged``, does the same for a whole run's backbone).
4. ``head.*`` whose shape differs (another label space) is dropped; any other shape mismatch is
   dropped too, but then counts as missing and fails the check.
5. The key sets are compared before anything is loaded. Missing keys other than ``head.*`` /
   ``fc_norm.*``, or unexpected keys other than the MAE-only ones and ``norm.*`` (when the model
   pools into ``fc_norm`` instead), raise ``CheckpointMismatchError`` and leave the model untouched,
   unless ``allow_mismatch=True``, which loads what fits and logs the whole report as a warning.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import pickle
import re
import tempfile
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

logger = logging.getLogger(__name__)

WRAPPER_KEYS = ("model", "state_dict", "model_state")  # MAE / Lightning & timm train / other trainers
WRAPPER_PREFIXES = ("module.", "_orig_mod.")  # DistributedDataParallel, torch.compile
MAE_ENCODER_PREFIX = "encoder."  # cer.models.mae.MaskedAutoencoderViT
MAE_ONLY = re.compile(r"^(decoder_|mask_token$)")
NEW_HEAD = ("head.", "fc_norm.")  # fine-tuning adds these; a pretrained file need not have them
PICKLE_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt")


class CheckpointFormatError(ValueError):
    """A checkpoint file that cannot be read as a state dict; the message says why and what to do."""

    def __init__(self, path: str | os.PathLike, message: str):
        self.path = str(path)
        super().__init__(f"{path}: {message}")


class CheckpointMismatchError(RuntimeError):
    """The checkpoint does not fit the model beyond the expected differences; carries the report."""

    def __init__(self, path: str | os.PathLike, report: LoadReport, problems: list[str]):
        self.path, self.report, self.problems = str(path), report, problems
        super().__init__(
            f"{path} does not fit the model: {'; '.join(problems)}.\n{report.summary()}\n"
            "Check that the checkpoint was trained with the same architecture (name, patch size, width, "
            "depth), or pass allow_mismatch=True to load what fits."
        )


@dataclass
class LoadReport:
    """What loading a checkpoint did, key by key.

    Attributes:
        missing: model keys the checkpoint did not provide (left at their initialisation).
        unexpected: checkpoint keys the model has no place for (not loaded).
        dropped_shape_mismatch: checkpoint keys not loaded because their shape differs from the model's.
        interpolated: checkpoint keys resampled to the model's shape (``pos_embed``).
        details: a note per dropped or interpolated key (shapes, grids).
    """

    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    dropped_shape_mismatch: list[str] = field(default_factory=list)
    interpolated: list[str] = field(default_factory=list)
    details: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        """One line per category, keys grouped by their top-level module (``blocks.* (48)``)."""
        grouped = (("missing", self.missing), ("unexpected", self.unexpected))
        lines = [f"{title}: {_group(keys)}" for title, keys in grouped if keys]
        detailed = (("dropped (shape mismatch)", self.dropped_shape_mismatch), ("interpolated", self.interpolated))
        for title, keys in detailed:
            lines += [f"{title}: {key}: {self.details.get(key, '')}" for key in keys]
        return "\n".join(lines) if lines else "all keys matched"


def _group(keys: list[str]) -> str:
    counts = Counter(key.split(".", 1)[0] + (".*" if "." in key else "") for key in keys)
    return ", ".join(name if n == 1 and not name.endswith("*") else f"{name} ({n})" for name, n in counts.items())


def read_state_dict(path: str | os.PathLike) -> dict[str, Tensor]:
    """Tensors by key from a ``.safetensors`` or ``.pth``/``.pt``/``.bin``/``.ckpt`` file, on CPU.

    A state dict wrapped under ``model`` (MAE), ``state_dict`` or ``model_state`` is unwrapped, and
    ``module.`` / ``_orig_mod.`` prefixes are stripped. Pickled files are read with
    ``weights_only=True``; the ``argparse.Namespace`` that MAE's training script stores beside the
    weights is the one extra type allowed.

    Raises:
        FileNotFoundError: no such file.
        CheckpointFormatError: an unknown suffix, a file that would need arbitrary unpickling, or
            no state dict inside (the message lists the keys found).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        from safetensors.torch import load_file

        obj = load_file(str(path), device="cpu")
    elif suffix in PICKLE_SUFFIXES:
        try:
            with torch.serialization.safe_globals([argparse.Namespace]):
                obj = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as err:
            raise CheckpointFormatError(
                path,
                "refused to load: the file holds pickled Python objects other than tensors and plain "
                f"containers ({_unpickler_reason(err)}), and unpickling them could run arbitrary code. "
                "If you trust the file, load it yourself and re-save its weights with "
                "cer.models.checkpoint.save_safetensors.",
            ) from err
    else:
        raise CheckpointFormatError(
            path, f"unknown checkpoint type {suffix or '(no suffix)'!r}: "
            f"expected .safetensors or {', '.join(PICKLE_SUFFIXES)}",
        )
    return _strip_prefixes(_unwrap(obj, path))


def _unpickler_reason(err: Exception) -> str:
    found = re.search(r"Unsupported global: GLOBAL (\S+)", str(err))
    return f"it references {found.group(1)}" if found else str(err).splitlines()[-1].strip()


def _is_state_dict(obj: object) -> bool:
    return isinstance(obj, Mapping) and bool(obj) and all(isinstance(v, Tensor) for v in obj.values())


def _unwrap(obj: object, path: Path) -> dict[str, Tensor]:
    if _is_state_dict(obj):
        return dict(obj)
    if isinstance(obj, Mapping):
        for key in WRAPPER_KEYS:
            if key in obj and _is_state_dict(obj[key]):
                return dict(obj[key])
        found = ", ".join(f"{k!r} ({type(v).__name__})" for k, v in list(obj.items())[:20])
        raise CheckpointFormatError(
            path, f"no state dict found: the top-level keys are {found or 'none'}; expected a mapping of "
            f"tensors, or one under {', '.join(map(repr, WRAPPER_KEYS))}",
        )
    raise CheckpointFormatError(path, f"holds a {type(obj).__name__}, not a state dict (a mapping of tensors)")


def _strip_prefixes(state: dict[str, Tensor]) -> dict[str, Tensor]:
    out = {}
    for key, value in state.items():
        while key.startswith(WRAPPER_PREFIXES):
            key = key.split(".", 1)[1]
        out[key] = value
    return out


def load_backbone_weights(model: nn.Module, path: str | os.PathLike, *, allow_mismatch: bool = False) -> LoadReport:
    """Load pretrained weights (an MAE, a timm or a fine-tuned checkpoint) into a timm ViT backbone.

    See the module docstring for the surgery and the check.

    Args:
        model: the backbone, e.g. ``create_backbone(name, img_size, num_classes)``.
        path: a local checkpoint file (see ``read_state_dict``).
        allow_mismatch: load what fits even when keys beyond the expected ones are missing or
            unexpected; the full report is logged as a warning.

    Returns:
        The report of what was missing, unexpected, dropped and interpolated.

    Raises:
        CheckpointMismatchError: the checkpoint does not fit and ``allow_mismatch`` is False; the
            model is then left unchanged.
    """
    state = read_state_dict(path)
    model_state = model.state_dict()
    if any(k.startswith(MAE_ENCODER_PREFIX) for k in state) and not any(
        k.startswith(MAE_ENCODER_PREFIX) for k in model_state
    ):
        state = {k.removeprefix(MAE_ENCODER_PREFIX): v for k, v in state.items()}
    report = LoadReport()
    mae_only = sorted(k for k in state if MAE_ONLY.match(k))
    for key in mae_only:
        del state[key]

    for key in sorted(set(state) & set(model_state)):
        have, want = tuple(state[key].shape), tuple(model_state[key].shape)
        if have == want or (key == "pos_embed" and interpolate_pos_embed(state, key, model, report)):
            continue
        del state[key]
        report.dropped_shape_mismatch.append(key)
        report.details[key] = f"checkpoint {list(have)}, model {list(want)}"

    report.missing = sorted(set(model_state) - set(state))
    report.unexpected = sorted((set(state) - set(model_state)) | set(mae_only))
    problems = _unexplained(report, mae_only, uses_fc_norm=any(k.startswith("fc_norm.") for k in model_state))
    if problems and not allow_mismatch:
        raise CheckpointMismatchError(path, report, problems)

    model.load_state_dict({k: v for k, v in state.items() if k in model_state}, strict=False)
    if problems:
        logger.warning("loaded %s with mismatches (%s):\n%s", path, "; ".join(problems), report.summary())
    else:
        logger.info("loaded %s:\n%s", path, report.summary())
    return report


def _unexplained(report: LoadReport, mae_only: list[str], uses_fc_norm: bool) -> list[str]:
    problems = []
    missing = [k for k in report.missing if not k.startswith(NEW_HEAD)]
    if missing:
        problems.append(f"missing {_group(missing)}")
    allowed = set(mae_only)
    if uses_fc_norm:  # MAE fine-tuning replaces the final token norm by fc_norm after pooling
        allowed |= {k for k in report.unexpected if k.startswith("norm.")}
    unexpected = [k for k in report.unexpected if k not in allowed]
    if unexpected:
        problems.append(f"unexpected {_group(unexpected)}")
    return problems


def interpolate_pos_embed(state: dict[str, Tensor], key: str, vit: nn.Module, report: LoadReport) -> bool:
    """Resample ``state[key]``, position embeddings trained at another image size, to the patch grid
    of ``vit`` (the ViT they are loaded into), in place, and note it in ``report``.

    Returns False, changing nothing, where resampling cannot make them fit (``vit`` has no position
    embeddings, they are of another width or not on a square grid): the key is then a real mismatch.
    """
    target = getattr(vit, "pos_embed", None)
    if not isinstance(target, Tensor):
        return False
    have, want = list(state[key].shape), list(target.shape)
    resampled = _resample_pos_embed(state[key], vit)
    if resampled is None or list(resampled.shape) != want:
        return False
    state[key] = resampled
    report.interpolated.append(key)
    report.details[key] = f"{have} -> {want}"
    return True


def _resample_pos_embed(pos_embed: Tensor, model: nn.Module) -> Tensor | None:
    """The checkpoint's position embeddings resampled to the model's patch grid, or None if impossible.

    The checkpoint is assumed to use the model's prefix-token convention and a square grid.
    """
    from timm.layers import resample_abs_pos_embed

    patch_embed = getattr(model, "patch_embed", None)
    if patch_embed is None or pos_embed.ndim != 3:
        return None
    n_prefix = 0 if getattr(model, "no_embed_class", False) else getattr(model, "num_prefix_tokens", 1)
    side = math.isqrt(pos_embed.shape[1] - n_prefix)
    if side * side != pos_embed.shape[1] - n_prefix:
        return None
    # Bicubic without antialiasing, as MAE's fine-tuning code interpolates.
    return resample_abs_pos_embed(
        pos_embed, new_size=list(patch_embed.grid_size), old_size=[side, side], num_prefix_tokens=n_prefix,
        interpolation="bicubic", antialias=False,
    )


def save_safetensors(
    state_dict: Mapping[str, Tensor], path: str | os.PathLike, metadata: Mapping[str, str] | None = None
) -> None:
    """Write tensors to ``path`` atomically (temporary file, then rename), as contiguous CPU copies.

    Args:
        state_dict: tensors by key (e.g. ``MaskedAutoencoderViT.encoder_state_dict()``).
        path: the ``.safetensors`` file to write; parent folders are created.
        metadata: optional strings stored in the header (e.g. the model name and image size).
    """
    from safetensors.torch import save_file

    bad = [k for k, v in state_dict.items() if not isinstance(v, Tensor)]
    if bad:
        raise TypeError(f"save_safetensors stores tensors only; not tensors: {bad[:10]}")
    # Copies: safetensors refuses tensors that share memory (tied weights, views of one buffer).
    tensors = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in state_dict.items()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=dict(metadata) if metadata else None)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
