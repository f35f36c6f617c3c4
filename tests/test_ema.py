"""The exponential moving average of the weights (train.ema, train.ema_decay): its value after n steps
worked by hand, that validation, best/ and the export see it, and that resuming restores it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from toy_task import StepCounter, step_counter_sgd, train

from cer.train_config import LoopConfig


def ema_loop(**kwargs) -> LoopConfig:
    return LoopConfig(**{"progress": False, "threads": 1, "ema": True, "ema_decay": 0.5, "keep_checkpoints": 10,
                         **kwargs})


def logged(run: Path, key: str) -> list[float]:
    return [json.loads(line)[key] for line in (run / "metrics.jsonl").read_text().splitlines()]


# StepCounter: the trained weight is w_t = t after step t. Decay 0.5, the first step copying (timm):
# e_1 = 1, e_2 = 0.5 * 1 + 0.5 * 2 = 1.5, e_3 = 0.5 * 1.5 + 0.5 * 3 = 2.25, e_4 = 0.5 * 2.25 + 0.5 * 4 = 3.125
EMA_BY_STEP = [1.0, 1.5, 2.25, 3.125]


def test_ema_after_n_steps_is_the_hand_computed_average_and_is_what_validation_and_best_see(tmp_path):
    best = train(tmp_path / "ema", 1, step_counter_sgd(), task=StepCounter(epochs=4), loop=ema_loop())
    assert logged(tmp_path / "ema", "val_w") == pytest.approx(EMA_BY_STEP)  # validation ran on the average
    assert best["w"].item() == pytest.approx(3.125)  # best/ (the last, largest w) holds the average, not w_4 = 4
    plain = train(tmp_path / "plain", 1, step_counter_sgd(), task=StepCounter(epochs=4),
                  loop=LoopConfig(progress=False, threads=1))
    assert logged(tmp_path / "plain", "val_w") == [1.0, 2.0, 3.0, 4.0] and plain["w"].item() == 4.0


@pytest.mark.parametrize("checkpoint", ["epoch0001_batch00000000", "epoch0000_batch00000001"])
def test_resume_restores_the_ema(tmp_path, checkpoint):
    # two epochs of two steps; checkpoints at every epoch end and every step (mid-epoch)
    task = lambda: StepCounter(epochs=2, steps_per_epoch=2)  # noqa: E731
    whole = train(tmp_path / "whole", 1, step_counter_sgd(), task=task(), loop=ema_loop(checkpoint_every=1))
    assert logged(tmp_path / "whole", "val_w") == pytest.approx([EMA_BY_STEP[1], EMA_BY_STEP[3]])
    saved = tmp_path / "whole" / "checkpoints" / checkpoint
    assert saved.is_dir()
    resumed = train(tmp_path / "resumed", 1, step_counter_sgd(), task=task(), loop=ema_loop(checkpoint_every=1),
                    resume_from=saved)
    # an average not restored (restarted from the built model) ends elsewhere: 2.75 from the end of epoch 1
    assert resumed["w"].item() == pytest.approx(whole["w"].item()) == pytest.approx(3.125)
    assert logged(tmp_path / "resumed", "val_w")[-1] == pytest.approx(3.125)


def test_ema_decay_outside_0_1_is_refused():
    with pytest.raises(ValueError, match=r"train.ema_decay must be in \(0, 1\)"):
        LoopConfig(ema=True, ema_decay=1.0)
