"""Early stopping (train.early_stop_patience) on the task's selection metric, the one best/ follows:
a run whose metric stops improving stops exactly at the patience, says why, and stays stopped when
resumed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from toy_task import StepCounter, step_counter_sgd, train

from cer.train_config import LoopConfig

# The validation metric of epochs 1..6: best 0.7 at epoch 2; epoch 3 is worse and epoch 4 only equals
# it (not an improvement: the first of equal values stays best); epoch 5 would improve again.
SCORES = [0.5, 0.7, 0.6, 0.7, 0.9, 1.0]


def loop(patience: int | None) -> LoopConfig:
    return LoopConfig(progress=False, threads=1, keep_checkpoints=10, early_stop_patience=patience)


def epochs_logged(run: Path) -> list[int]:
    return [json.loads(line)["epoch"] for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("patience, epochs, best_w", [(2, 4, 2.0), (3, 6, 6.0), (None, 6, 6.0), (1, 3, 2.0)])
def test_a_run_stops_exactly_at_the_patience(tmp_path, capsys, patience, epochs, best_w):
    # StepCounter's w is the number of epochs trained (one step each): best/ holds the best epoch's w
    best = train(tmp_path, 1, step_counter_sgd(), task=StepCounter(epochs=6, scores=SCORES), loop=loop(patience))
    assert epochs_logged(tmp_path) == list(range(epochs))
    assert best["w"].item() == best_w
    out = capsys.readouterr().out
    if epochs < 6:
        stale = epochs - 2  # epochs after epoch 2, the best
        assert (f"early stop after epoch {epochs}/6: val_score has not improved for {stale} epochs "
                f"(best 0.7 at epoch 2; train.early_stop_patience={patience})") in out
    assert ("early stop" in out) == (epochs < 6)


@pytest.mark.parametrize("checkpoint", ["epoch0003_batch00000000", "epoch0004_batch00000000"])
def test_a_resumed_run_stops_where_it_stopped(tmp_path, capsys, checkpoint):
    # epoch0003: resumed before the stop, with one stale epoch recorded; epoch0004: after it
    task = lambda: StepCounter(epochs=6, scores=SCORES)  # noqa: E731
    train(tmp_path, 1, step_counter_sgd(), task=task(), loop=loop(2))
    capsys.readouterr()
    best = train(tmp_path, 1, step_counter_sgd(), task=task(), loop=loop(2),
                 resume_from=tmp_path / "checkpoints" / checkpoint)
    assert epochs_logged(tmp_path) == [0, 1, 2, 3] and best["w"].item() == 2.0
    assert "early stop after epoch 4/6: val_score has not improved for 2 epochs" in capsys.readouterr().out


def test_patience_below_one_is_refused():
    with pytest.raises(ValueError, match="early_stop_patience must be >= 1"):
        LoopConfig(early_stop_patience=0)
