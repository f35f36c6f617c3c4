"""The run's log: one JSON object per epoch in ``metrics.jsonl`` and, when installed, TensorBoard."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any


class RunLog:
    """Appends epoch rows to ``metrics.jsonl``; mirrors scalars to TensorBoard if it is installed."""

    def __init__(self, run_dir: Path, enabled: bool = True):
        self.path = run_dir / "metrics.jsonl"
        self.enabled = enabled
        self._tb = None
        if enabled:
            # the folder exists whether or not TensorBoard (which would make it) is installed
            run_dir.mkdir(parents=True, exist_ok=True)
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # tensorboard is optional
                SummaryWriter = None
            if SummaryWriter is not None:
                self._tb = SummaryWriter(str(run_dir / "tensorboard"))

    def history(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]

    def truncate(self, before_epoch: int) -> None:
        """Forget rows of epochs >= ``before_epoch`` (written by a run that was killed before its
        checkpoint completed; the resumed run writes them again)."""
        if self.enabled and self.path.exists():
            keep = [r for r in self.history() if r["epoch"] < before_epoch]
            self.path.write_text("".join(json.dumps(r) + "\n" for r in keep))

    def write(self, row: dict[str, Any], step: int) -> None:
        if not self.enabled:
            return
        with self.path.open("a") as f:
            f.write(json.dumps(row) + "\n")
        if self._tb is not None:
            for k, v in row.items():
                if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                    self._tb.add_scalar(k, v, step)
            self._tb.flush()

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()


def improves(value: float, best: float | None, greater_is_better: bool = True) -> bool:
    """Whether ``value`` replaces ``best``: strictly better, so among equal values the first stays."""
    return best is None or (value > best if greater_is_better else value < best)


def best_epoch_row(history: list[dict[str, Any]], metric: str, greater_is_better: bool = True) -> dict[str, Any] | None:
    """The logged epoch whose weights the trainer kept in ``best/`` (it applies :func:`improves` epoch
    by epoch too). None if no epoch logged ``metric``."""
    best = None
    for row in history:
        value = row.get(metric)
        if value is None:
            continue
        if improves(value, None if best is None else best[metric], greater_is_better):
            best = row
    return best
