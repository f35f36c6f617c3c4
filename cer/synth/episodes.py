"""Expression episodes of a video clip: intensity envelopes, VA trajectories, pose drift, labels.

A clip shows one identity going through a sequence of episodes. Each episode rises (onset), holds
(apex) and falls (offset) with a smoothstep envelope between a floor and a peak intensity; frames
between episodes are neutral. Valence and arousal follow each frame's circumplex target with a
first-order lag and a little smooth noise, as continuous annotations do; the head pose drifts
slowly around the clip's base pose. Everything follows from the generator passed in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from cer.synth.expression import AUPattern, ExpressionSample, Target, expression_at, sample_pattern


@dataclass(frozen=True)
class EpisodeTiming:
    """How episodes are drawn; frame ranges are inclusive ``(low, high)``.

    Attributes:
        onset, apex, offset: lengths of the three phases in frames.
        gap: neutral frames before each episode (``(0, 0)``: episodes follow each other).
        peak: apex intensity.
        floor: intensity at the start of the onset and the end of the offset.
    """

    onset: tuple[int, int] = (4, 10)
    apex: tuple[int, int] = (8, 30)
    offset: tuple[int, int] = (4, 10)
    gap: tuple[int, int] = (4, 20)
    peak: tuple[float, float] = (0.6, 1.0)
    floor: float = 0.0


@dataclass(frozen=True)
class Episode:
    """One expression episode; ``start`` is the 0-based frame its onset begins on."""

    target: Target
    start: int
    onset: int
    apex: int
    offset: int
    peak: float
    floor: float = 0.0

    @property
    def end(self) -> int:
        """0-based frame after the episode's last frame."""
        return self.start + self.onset + self.apex + self.offset

    def intensity(self, frame: int) -> float:
        """Envelope at 0-based ``frame`` (inside the episode)."""
        t = frame - self.start
        if t < self.onset:
            return self.floor + (self.peak - self.floor) * smoothstep((t + 1) / (self.onset + 1))
        t -= self.onset
        if t < self.apex:
            return self.peak
        t -= self.apex
        return self.floor + (self.peak - self.floor) * smoothstep(1 - (t + 1) / (self.offset + 1))


@dataclass(frozen=True)
class FrameState:
    """One frame of a clip: its expression (AUs and labels) and head pose (degrees)."""

    frame: int  # 1-based, as frame files are numbered
    sample: ExpressionSample
    pose: tuple[float, float, float]  # yaw, pitch, roll
    episode: int | None  # index into the clip's episodes; None in a neutral gap


def smoothstep(x: float) -> float:
    """0 at x <= 0, 1 at x >= 1, with zero slope at both ends."""
    x = min(1.0, max(0.0, x))
    return x * x * (3 - 2 * x)


def smooth_noise(n: int, rng: np.random.Generator, sigma: float, std: float) -> np.ndarray:
    """[n] Gaussian-filtered white noise with standard deviation ``std``.

    Args:
        n: length.
        rng: source of randomness.
        sigma: width of the Gaussian filter in samples (the noise's time scale).
        std: standard deviation of the result (of the process, not of this draw).
    """
    radius = int(np.ceil(3 * sigma))
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    kernel /= kernel.sum()
    white = rng.normal(size=n + 2 * radius)
    filtered = np.convolve(white, kernel, mode="valid")  # [n]
    return filtered * (std / np.sqrt(np.sum(kernel**2)))


def plan_episodes(
    n_frames: int,
    next_target: Callable[[], Target],
    timing: EpisodeTiming,
    rng: np.random.Generator,
) -> list[Episode]:
    """Episodes filling ``n_frames`` frames; the last one may run past the end, as cut videos do.

    Args:
        n_frames: length of the clip.
        next_target: called once per episode, in order, for its target.
        timing: phase lengths, gaps and intensities.
        rng: source of randomness for the lengths and peaks.
    """
    episodes: list[Episode] = []
    frame = 0
    while True:
        frame += _draw(rng, timing.gap)
        if frame >= n_frames:
            return episodes
        episode = Episode(
            target=next_target(),
            start=frame,
            onset=_draw(rng, timing.onset),
            apex=_draw(rng, timing.apex),
            offset=_draw(rng, timing.offset),
            peak=float(rng.uniform(*timing.peak)),
            floor=timing.floor,
        )
        episodes.append(episode)
        frame = episode.end


def _draw(rng: np.random.Generator, bounds: tuple[int, int]) -> int:
    return int(rng.integers(bounds[0], bounds[1] + 1))


def simulate_clip(
    n_frames: int,
    episodes: list[Episode],
    rng: np.random.Generator,
    base_pose: tuple[float, float, float] = (0.0, 0.0, 0.0),
    pose_drift: float = 3.0,
    va_lag: float = 8.0,
    va_noise: float = 0.04,
) -> list[FrameState]:
    """Per-frame AUs, labels and pose of a clip showing ``episodes``.

    Args:
        n_frames: length of the clip.
        episodes: from :func:`plan_episodes` (sorted, not overlapping).
        rng: source of randomness (AU patterns, VA noise, pose drift).
        base_pose: yaw, pitch, roll (degrees) the head drifts around.
        pose_drift: standard deviation of the drift, in degrees.
        va_lag: time constant, in frames, with which VA follows its target.
        va_noise: standard deviation of the smooth noise on valence and arousal.
    """
    patterns: list[AUPattern] = [sample_pattern(e.target, rng) for e in episodes]
    neutral = sample_pattern(Target.neutral(), rng, extras=False)
    owner = np.full(n_frames, -1)
    intensity = np.zeros(n_frames)
    for k, e in enumerate(episodes):
        for f in range(e.start, min(e.end, n_frames)):
            owner[f], intensity[f] = k, e.intensity(f)

    target_va = np.zeros((n_frames, 2))
    for f in range(n_frames):
        if owner[f] >= 0:
            target_va[f] = np.asarray(patterns[owner[f]].va) * intensity[f]
    noise = np.stack([smooth_noise(n_frames, rng, 4.0, va_noise) for _ in range(2)], axis=1)
    va = np.zeros((n_frames, 2))
    level = target_va[0].copy()
    for f in range(n_frames):
        level += (target_va[f] - level) / max(va_lag, 1.0)
        va[f] = np.clip(level + noise[f], -1.0, 1.0)

    drift = np.stack([smooth_noise(n_frames, rng, 12.0, pose_drift) for _ in range(3)], axis=1)
    poses = np.asarray(base_pose) + drift

    frames = []
    for f in range(n_frames):
        k = int(owner[f])
        if k < 0:
            sample = expression_at(neutral, 0.0, va=(va[f, 0], va[f, 1]))
        else:
            gain = intensity[f] / episodes[k].peak
            sample = expression_at(patterns[k], float(intensity[f]), (va[f, 0], va[f, 1]), gain)
        pose = (float(poses[f, 0]), float(poses[f, 1]), float(poses[f, 2]))
        frames.append(FrameState(f + 1, sample, pose, None if k < 0 else k))
    return frames
