"""Combining the per-frame outputs of several MTL models into one (paper 001 sec. 3.3).

001 trains models on five folds and on the whole training set and joins them by a vote: "the
predicted label with the highest number of votes" for AU and EXPR, the average for valence and
arousal. Each member's outputs are the decoded predictions of :func:`mtl.inference.frame_predictions`
(AU probabilities [N, 12], EXPR probabilities [N, 8], V and A values [N]) of the same frames.

Rules (``COMBINE_RULES``):

- ``vote``: EXPR takes the class most members predict (their argmax); AU j is present where more
  than half of the members predict it (probability >= the threshold). Ties are broken by the
  members' mean probability, so that an even ensemble still decides deterministically and in the
  direction the models lean: an EXPR tie goes to the tied class of highest mean probability (then
  the lowest index); an AU half-half split goes to "present" when the mean probability is >= the
  threshold. The outputs are decisions: EXPR one-hot, AU 0/1, so scoring at threshold 0.5 reads
  them back unchanged.
- ``mean``: probability averaging, AU and EXPR probabilities are averaged and decided later
  (thresholds, argmax) as a single model's are.

V and A are averaged under both rules.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

COMBINE_RULES = ("vote", "mean")
AU_THRESHOLD = 0.5  # the members' own decision threshold in a vote (the fixed one of the scores)


def mean_of_members(outputs: np.ndarray) -> np.ndarray:
    """[M, N, ...] member outputs -> [N, ...] their mean (V/A, and probability averaging)."""
    return np.asarray(outputs, dtype=np.float64).mean(axis=0)


def vote_expression(probs: np.ndarray) -> np.ndarray:
    """[M, N, C] member class probabilities -> [N, C] one-hot of the majority class (ties: see module)."""
    probs = np.asarray(probs, dtype=np.float64)
    classes = probs.shape[-1]
    votes = np.eye(classes)[probs.argmax(-1)].sum(axis=0)  # [N, C] members choosing each class
    tied = votes == votes.max(axis=1, keepdims=True)
    # Among the classes with most votes, the highest mean probability; argmax takes the lowest index
    # of an exact tie there too.
    chosen = np.where(tied, probs.mean(axis=0), -np.inf).argmax(axis=1)
    return np.eye(classes)[chosen]


def vote_action_units(probs: np.ndarray, threshold: float = AU_THRESHOLD) -> np.ndarray:
    """[M, N, A] member AU probabilities -> [N, A] 0/1 majority decisions (half-half: see module)."""
    probs = np.asarray(probs, dtype=np.float64)
    yes = (probs >= threshold).sum(axis=0)
    members = len(probs)
    majority = 2 * yes > members
    split = 2 * yes == members
    return (majority | (split & (probs.mean(axis=0) >= threshold))).astype(np.float64)


def combine_members(members: Sequence[Mapping[str, np.ndarray]], tasks: Sequence[str],
                    rule: str = "vote") -> dict[str, np.ndarray]:
    """One prediction per task from the members' predictions of the same frames.

    Raises:
        ValueError: an unknown rule, no members, or members that miss a task or cover other frames.
    """
    if rule not in COMBINE_RULES:
        raise ValueError(f"unknown ensemble rule {rule!r}: use one of {', '.join(COMBINE_RULES)}")
    if not members:
        raise ValueError("an ensemble needs at least one member")
    combined = {}
    for task in tasks:
        missing = [i for i, m in enumerate(members) if task not in m]
        if missing:
            raise ValueError(f"ensemble members {missing} have no {task} predictions: every member must "
                             "predict every task of the ensemble")
        shapes = {np.shape(m[task]) for m in members}
        if len(shapes) > 1:
            raise ValueError(f"ensemble members predict {task} with shapes {sorted(shapes)}: they must cover "
                             "the same frames")
        stacked = np.stack([np.asarray(m[task]) for m in members])
        if rule == "vote" and task == "expr":
            combined[task] = vote_expression(stacked)
        elif rule == "vote" and task == "au":
            combined[task] = vote_action_units(stacked)
        else:
            combined[task] = mean_of_members(stacked)
    return combined
