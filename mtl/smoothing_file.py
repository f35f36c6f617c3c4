"""``smoothing.json``: the sigmas each run or ensemble was smoothed with (paper 001 sec. 3.4), written
by ``mtl evaluate --sigma/--tune-sigma`` and read by ``mtl predict --smoothing``::

    {"runs/au": {"au": 2.0},
     "ensemble[vote]:runs/f0,runs/f1": {"au": 1.0, "expr": 4.0, "v": 8.0, "a": 8.0}}

A key is what ``mtl evaluate`` labels the run or ensemble with (:func:`group_label`), a value the
sigma in frames of each task it trains. ``mtl predict`` finds the entry of what predicts a task by
the runs it names, not by the text of the key: paths are resolved from the current folder (run
both commands from the same one, or give absolute paths), a run folder and its ``best/`` are the
same run, and an ensemble's members may come in any order (the rules do not depend on it).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

FILE_NAME = "smoothing.json"
_ENSEMBLE = re.compile(r"ensemble\[(\w+)\]:(.+)")

# (rule or None for a single run, the member run folders resolved and sorted)
GroupKey = tuple[str | None, tuple[Path, ...]]


def group_label(members: Sequence[str | Path], rule: str | None) -> str:
    """How ``mtl evaluate`` names a run (its path as given) or an ensemble (``ensemble[RULE]:A,B``)."""
    if len(members) == 1:
        return str(members[0])
    return f"ensemble[{rule}]:{','.join(map(str, members))}"


def _run_folder(member: str | Path) -> Path:
    path = Path(member).resolve()
    return path.parent if path.name == "best" else path  # RUN and RUN/best hold the same model


def group_key(members: Sequence[str | Path], rule: str | None) -> GroupKey:
    """What identifies a run or an ensemble whatever the spelling of its paths."""
    return (None if len(members) == 1 else rule), tuple(sorted(_run_folder(m) for m in members))


def write_smoothing(folder: Path, sigmas: Mapping[str, Mapping[str, float]]) -> Path:
    """Write ``{label: {task: sigma}}`` to ``folder/smoothing.json``; returns the file."""
    path = folder / FILE_NAME
    path.write_text(json.dumps(sigmas, indent=1))
    return path


def read_smoothing(path: str | Path) -> dict[GroupKey, dict[str, float]]:
    """The entries of a ``smoothing.json`` by :func:`group_key`.

    Raises:
        ValueError: the file is not such a file; the message names it and what is wrong.
    """
    from mtl.affect_tasks import AFFECT_TASKS
    from mtl.ensemble import COMBINE_RULES

    what = f"{path}: expected the smoothing.json of mtl evaluate --tune-sigma, {{RUN or ensemble: {{TASK: SIGMA}}}}"
    try:
        table = json.loads(Path(path).read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{what}; it is not JSON ({err})") from None
    if not isinstance(table, dict) or not table:
        raise ValueError(f"{what}; it holds {'no entries' if table == {} else type(table).__name__}")
    entries: dict[GroupKey, dict[str, float]] = {}
    for label, sigmas in table.items():
        ensemble = _ENSEMBLE.fullmatch(label)
        if ensemble and ensemble[1] not in COMBINE_RULES:
            raise ValueError(f"{what}; entry {label!r} names the rule {ensemble[1]!r}, not one of "
                             f"{', '.join(COMBINE_RULES)}")
        members = [m for m in ensemble[2].split(",") if m] if ensemble else [label]
        if not isinstance(sigmas, dict) or not sigmas:
            raise ValueError(f"{what}; entry {label!r} is {sigmas!r}, not sigmas by task, e.g. {{\"au\": 2}}")
        for task, sigma in sigmas.items():
            if task not in AFFECT_TASKS:
                raise ValueError(f"{what}; entry {label!r} names the task {task!r}: tasks are "
                                 f"{', '.join(AFFECT_TASKS)}")
            # bool is an int to Python, but true is no sigma
            if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not (sigma >= 0 and
                                                                                    math.isfinite(sigma)):
                raise ValueError(f"{what}; entry {label!r} gives {task} the sigma {sigma!r}: a sigma is a number "
                                 ">= 0 frames (0: none)")
        key = group_key(members, ensemble[1] if ensemble else None)
        found = {t: float(s) for t, s in sigmas.items()}
        if entries.get(key, found) != found:
            raise ValueError(f"{what}; two entries name the same runs as {label!r} with other sigmas")
        entries[key] = found
    return entries


def sigmas_for(entries: Mapping[GroupKey, Mapping[str, float]], path: str | Path, members: Sequence[str | Path],
               rule: str | None, tasks: Sequence[str], explicit: Mapping[str, float]) -> dict[str, float]:
    """The sigma of each of ``tasks`` predicted by ``members`` (one run, or an ensemble under ``rule``):
    ``explicit`` where it names the task, else the file's entry of these runs.

    Raises:
        ValueError: a task neither ``explicit`` nor the file's entry sets.
    """
    wanted = [t for t in tasks if t not in explicit]
    entry = entries.get(group_key(members, rule), {})
    missing = [t for t in wanted if t not in entry]
    if missing:
        named = group_label(members, rule)
        held = ", ".join(group_label(list(runs), r) for r, runs in entries)
        found = (f"its entry has no sigma for {', '.join(missing)}" if entry
                 else f"the file has no entry for it (it has {held})")
        command = (f"--ensemble {','.join(map(str, members))} --combine {rule}" if len(members) > 1
                   else str(members[0]))
        raise ValueError(f"{path}: {named} predicts {', '.join(missing)} but {found}; tune them with "
                         f"mtl evaluate {command} --tune-sigma, or give --sigma TASK=SIGMA")
    return {t: float(explicit[t]) if t in explicit else float(entry[t]) for t in tasks}
