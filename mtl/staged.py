"""Staged training (paper 004 sec. 4.3): a new MTL run starts from every weight of a finished one.

``model.checkpoint`` naming an MTL run folder (or its ``best/``) loads the whole model, not just the
backbone: backbone, fusion, temporal module and the heads of the tasks both runs train. What the
old run lacks starts fresh and is logged as new (the head of a task added in this stage, a fusion
or temporal module it did not have); what only the old run has is logged as unused. A ViT trained
at another ``model.img_size`` has its position embeddings resampled to this run's patch grid, as a
backbone checkpoint has (:func:`~cer.models.checkpoint.interpolate_pos_embed`; reported as
interpolated). Anything else, a backbone key missing or any key of another shape, means the runs'
architectures differ:
:class:`~cer.models.checkpoint.CheckpointMismatchError` names the keys and nothing is loaded,
unless ``allow_mismatch``, which loads what fits and warns.
"""

from __future__ import annotations

import logging
from pathlib import Path

from safetensors.torch import load_file

from cer.builtin_checkpoint import BUILTIN_MAE
from cer.models.checkpoint import CheckpointMismatchError, LoadReport, interpolate_pos_embed
from cer.models.trained import WEIGHTS
from mtl.model import MTLModel
from mtl.runs import read_meta

log = logging.getLogger("mtl.staged")
SHOWN = 8  # keys named per problem; the report groups the rest
POS_EMBED = "backbone.pos_embed"  # a ViT backbone's position embeddings: one per patch of model.img_size


def is_run_checkpoint(path: str | Path) -> bool:
    """Whether ``model.checkpoint`` names a folder (a finished run), not a weights file. The bare name
    ``builtin-mae`` is always the cached encoder, even where the working directory has a folder of that
    name (give that folder as ``./builtin-mae``)."""
    return str(path) != BUILTIN_MAE and Path(path).is_dir()


def _named(keys: list[str]) -> str:
    more = f", ... ({len(keys)} in all)" if len(keys) > SHOWN else ""
    return ", ".join(keys[:SHOWN]) + more


def load_mtl_run(model: MTLModel, run: str | Path, *, allow_mismatch: bool = False) -> LoadReport:
    """Load the weights of the MTL run ``run`` into ``model`` (see the module docstring)."""
    folder, meta = read_meta(run)
    state, want = load_file(str(folder / WEIGHTS)), model.state_dict()
    report = LoadReport()
    for key in sorted(set(state) & set(want)):
        if state[key].shape == want[key].shape:
            continue
        if key == POS_EMBED and interpolate_pos_embed(state, key, model.backbone, report):
            continue  # the old run's image size: the same embeddings on this run's grid
        report.dropped_shape_mismatch.append(key)
        report.details[key] = f"checkpoint {list(state[key].shape)}, model {list(want[key].shape)}"
    report.missing = sorted(set(want) - set(state))
    report.unexpected = sorted(set(state) - set(want))

    # A module the old run did not have at all starts fresh by design; a key missing from a module
    # both have (the backbone, a shared task's head) means the architectures differ.
    def module(key: str) -> str:  # heads.expr.weight -> heads.expr; backbone.blocks.0... -> backbone
        return ".".join(key.split(".")[:2 if key.startswith("heads.") else 1])

    old_modules, new_modules = {module(k) for k in state}, {module(k) for k in want}
    new = [k for k in report.missing if module(k) not in old_modules]
    unused = [k for k in report.unexpected if module(k) not in new_modules]
    missing = [k for k in report.missing if k not in new]
    unexpected = [k for k in report.unexpected if k not in unused]
    problems = [f"{what}: {_named(keys)}" for what, keys in (
        ("keys of another shape", report.dropped_shape_mismatch), ("missing from the checkpoint", missing),
        ("not in this model", unexpected)) if keys]
    if problems:
        spec = meta.get("backbone", {})
        problems.append(f"the checkpoint's backbone is {spec.get('name')} at {spec.get('img_size')} px, this "
                        f"model's {model.arch.backbone} at {model.arch.img_size} px")
        if not allow_mismatch:
            raise CheckpointMismatchError(folder, report, problems)
        log.warning("loaded %s with mismatches (%s):\n%s", folder, "; ".join(problems), report.summary())
    fits = {k: v for k, v in state.items() if k in want and k not in report.dropped_shape_mismatch}
    model.load_state_dict(fits, strict=False)
    fresh = sorted({module(k) for k in new})
    log.info(f"staged from {folder}: loaded {len(fits)} of {len(want)} tensors; "
             f"new (freshly initialised): {', '.join(fresh) or 'none'}; "
             f"unused from the checkpoint: {', '.join(sorted({module(k) for k in unused})) or 'none'}"
             + "".join(f"; resampled to this image size: {k} {report.details[k]}" for k in report.interpolated))
    return report
