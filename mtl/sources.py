"""Several training sources in one MTL run (paper 002 sec. 4.1 and paper 000 sec. 4.1.1, "Extra
Data": BP4D beside Aff-Wild2 for AUs, RAF-DB and AffectNet for expressions).

``data.train`` is the main source; ``data.extra_train`` lists more, each with the tasks its labels
train (``mtl.config.TrainingSource``). Every source's records pass through :func:`prepare_source`
before they are pooled, which leaves Aff-Wild2's records as they are:

- a label of a task the source does not train is removed, so the frame is masked for that task and
  the task's loss ignores it, as it ignores Aff-Wild2's -1 / -5 markers; it is never zero-filled (a
  zero would be a real label: AU absent, neutral valence).
- expressions are mapped into the Aff-Wild2 EXPR space by ``cer.taxonomy.to_affwild2_expr``: RAF-DB
  basic and AffectNet name the same six emotions and neutral. A class the taxonomy maps to nothing,
  AffectNet's Contempt, is masked, not made Other: the taxonomy gives it no Aff-Wild2 class, and
  Other is what Aff-Wild2's annotators chose for faces outside the seven, which no one chose for
  these. How many were masked is logged. Compound classes (RAF-DB compound, C-EXPR-DB) have no
  single Aff-Wild2 class: an error, unless the source leaves ``expr`` out of its tasks.
- a still-image data set (RAF-DB, AffectNet, an image folder) has no video: each image becomes its
  own one-frame video rather than being refused at ``sequence.length`` S > 1. Its window is then
  the image padded to S frames, as for any video shorter than S: the padded positions carry no
  loss, and the LSTM runs forward in time, so the image's output sees that image alone. This is
  how 002 could add RAF-DB and AffectNet to EXPR, which it trained at S = 5. The price: each image
  costs the compute of S frames.

:func:`source_counts` says what each source gives the run: its frames and, per trained task, how
many of them are labelled; ``MTLTask`` logs them when it is built and keeps them in the model's
``model.json`` (``sources``).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from cer.data.record import FaceRecord
from cer.data.registry import STILL_IMAGE_READERS
from cer.data.source import DataSource
from cer.taxonomy import AFFWILD2_EXPR, CONSTRAINT_SETS, LABEL_SPACES, to_affwild2_expr
from mtl.affect_tasks import AFFECT_TASKS

log = logging.getLogger("mtl.sources")


def source_name(source: DataSource) -> str:
    """How logs and errors name a source, e.g. ``raf-db-basic (built-in synthetic, split=train)``."""
    where = source.path if source.path is not None else "built-in synthetic"
    return f"{source.reader} ({', '.join([where, *(f'{k}={v}' for k, v in source.options.items())])})"


def affwild2_expression_map(space: str, source: str) -> list[int | None]:
    """The Aff-Wild2 EXPR index of each class of label space ``space`` (None: no counterpart).

    Raises:
        ValueError: a compound space, whose classes are two emotions each (``source`` names where
            the labels come from).
    """
    if space in CONSTRAINT_SETS:
        raise ValueError(f"{source}: its expressions are compound classes ({space}), which have no single "
                         f"Aff-Wild2 EXPR class; train only its other labels (tasks: au,va, say) or drop the source")
    classes = LABEL_SPACES[space]
    return [to_affwild2_expr(classes, i) for i in range(len(classes))]


def prepare_source(records: Sequence[FaceRecord], source: DataSource, tasks: Sequence[str] | None = None
                   ) -> list[FaceRecord]:
    """``records`` of ``source`` as MTL trains on them (see the module docstring): labels of tasks
    outside ``tasks`` removed (None: every label kept), expressions in the Aff-Wild2 EXPR space, and
    each image of a still-image reader its own video. Records needing none of it are returned as
    they are."""
    name = source_name(source)
    dropped = [] if tasks is None else [task for t, task in AFFECT_TASKS.items() if t not in tasks]
    still = source.reader in STILL_IMAGE_READERS
    maps: dict[str, list[int | None]] = {}
    unmapped: Counter[str] = Counter()
    prepared = []
    for r in records:
        for task in dropped:
            r = task.without_label(r)
        if r.expression is not None and r.space != AFFWILD2_EXPR.name:
            if r.space not in maps:
                maps[r.space] = affwild2_expression_map(r.space, name)
            mapped = maps[r.space][r.expression]
            if mapped is None:
                unmapped[LABEL_SPACES[r.space].classes[r.expression]] += 1
                r = replace(r, expression=None)
            else:
                r = replace(r, space=AFFWILD2_EXPR.name, expression=mapped)
        if still and r.video is None and r.frame is None:
            r = replace(r, video=r.key)  # the image's own one-frame video (module docstring)
        prepared.append(r)
    if unmapped:
        kinds = ", ".join(f"{n} {c}" for c, n in sorted(unmapped.items()))
        log.info(f"{name}: {sum(unmapped.values())} expression labels masked, no Aff-Wild2 EXPR class "
                 f"in cer.taxonomy.to_affwild2_expr ({kinds})")
    return prepared


def pool_sources(named: Sequence[tuple[str, Sequence[FaceRecord]]]) -> list[FaceRecord]:
    """The records of all sources ``(name, records)`` in order, refusing a frame two sources hold:
    pooled, it would be one video's frame twice with two sets of labels."""
    first: dict[str, str] = {}
    pooled: list[FaceRecord] = []
    for name, records in named:
        for r in records:
            other = first.setdefault(r.key, name)
            if other != name:
                raise ValueError(f"frame {r.key} is in two training sources, {other} and {name}: list each "
                                 "source once (data.train and data.extra_train)")
        pooled.extend(records)
    return pooled


def source_counts(name: str, records: Sequence[FaceRecord], tasks: Sequence[str]) -> dict[str, Any]:
    """``{"source", "frames", "labelled": {task: frames}}`` of one source: a frame counts as labelled
    for a task when it has any of that task's labels (one annotated AU is enough), as a training
    window counts it."""
    labelled = {}
    for t in tasks:
        _, mask = AFFECT_TASKS[t].labels(records)
        labelled[t] = int(mask.reshape(len(records), -1).any(1).sum()) if len(records) else 0
    return {"source": name, "frames": len(records), "labelled": labelled}


def log_source_counts(counts: Sequence[dict[str, Any]]) -> None:
    """One line per source of :func:`source_counts`; a warning for a source that labels none of the
    trained tasks (its frames are decoded for nothing: a task missing from ``--joint``?)."""
    for i, c in enumerate(counts, start=1):
        per_task = ", ".join(f"{t} {n}" for t, n in c["labelled"].items())
        log.info(f"training source {i}/{len(counts)} {c['source']}: {c['frames']} frames; labelled: {per_task}")
        if not any(c["labelled"].values()):
            log.warning(f"training source {c['source']} labels none of the trained tasks "
                        f"({', '.join(c['labelled'])}): its frames train nothing")
