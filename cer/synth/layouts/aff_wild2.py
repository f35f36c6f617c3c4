"""Synthetic Aff-Wild2: face-crop videos with per-frame VA, EXPR and AU labels, in two layouts.

Writes, under the layout root::

    cropped_aligned/<video>/00001.jpg                   # 112x112, 1-based 5-digit frame numbers
    training_set_annotations.txt                        # s-Aff-Wild2 MTL (all tasks on one row)
    validation_set_annotations.txt
    Annotations/VA_Estimation_Challenge/Train_Set/<video>.txt         # per-video tracks
    Annotations/EXPR_Classification_Challenge/Validation_Set/<video>.txt
    Annotations/AU_Detection_Challenge/Train_Set/<video>.txt
    SYNTH_INFO.json

Each video is one identity (two-person videos give ``<name>_left`` and ``<name>_right``, two
identities, kept in one split), going through episodes of neutral, basic and "other" expressions.
Train and validation share no video, hence no identity.

Unannotated frames carry the published markers (V/A = -5, EXPR = -1, AU = -1) in contiguous spans
per video, on the shares of rows the de-duplicated s-Aff-Wild2 files have (Netease Fuxi, ABAW7,
sec. 4.1: training AU 27 %, VA 27 %, EXPR 36 %; validation: AU and VA all annotated, EXPR 42 %
unannotated). A video with no annotated frame for a task has no track file for it, as in the real
challenges. The MTL files repeat about 1 % of their rows exactly, as the published ones do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

from cer.synth.episodes import Episode, EpisodeTiming, plan_episodes, simulate_clip
from cer.synth.expression import Target
from cer.synth.face import Pose
from cer.synth.identity import sample_identity
from cer.synth.layouts import allocate, item_rng, map_items, save_jpeg, video_scenes, write_info
from cer.synth.scene import render_image, sample_scene
from cer.taxonomy import AFFWILD2_AUS, AFFWILD2_EXPR, CE_BASIC

LAYOUT = "aff-wild2"
IMAGE_DIR = "cropped_aligned"
SPLITS = ("train", "validation")
MTL_FILES = {"train": "training_set_annotations.txt", "validation": "validation_set_annotations.txt"}
MTL_HEADER = "image,valence,arousal,expression," + ",".join(f"AU{n}" for n in AFFWILD2_AUS)
TRACKS = {  # task -> (challenge folder, header line)
    "VA": ("VA_Estimation_Challenge", "valence,arousal"),
    "EXPR": ("EXPR_Classification_Challenge", ",".join(AFFWILD2_EXPR.classes)),
    "AU": ("AU_Detection_Challenge", ",".join(f"AU{n}" for n in AFFWILD2_AUS)),
}
TRACK_SPLITS = {"train": "Train_Set", "validation": "Validation_Set"}
VA_MISSING, EXPR_MISSING, AU_MISSING = "-5", "-1", "-1"
# Shares of (de-duplicated) rows left unannotated per task, as in s-Aff-Wild2 (module docstring).
INVALID_SHARE = {
    "train": {"AU": 0.27, "VA": 0.27, "EXPR": 0.36},
    "validation": {"AU": 0.0, "VA": 0.0, "EXPR": 0.42},
}
DUPLICATE_SHARE = 0.01
# Relative frequency of episode targets: Aff-Wild2 is mostly neutral (the gaps), then happiness,
# "other" and sadness; fear and disgust are rare.
EPISODE_WEIGHTS = {
    "happiness": 0.28, "other": 0.22, "sadness": 0.17, "surprise": 0.12, "anger": 0.10,
    "fear": 0.06, "disgust": 0.05,
}
# Base head pose of a video (degrees): in-the-wild faces turn further than aligned stills.
YAW, PITCH, ROLL = 25.0, 12.0, 8.0


@dataclass(frozen=True)
class AffWild2Size:
    """How much to write.

    Attributes:
        train_videos, validation_videos: video folders per split (``_left``/``_right`` count as two).
        frames: inclusive range of frames per video.
        image_size: side of the face crops (Aff-Wild2 ``cropped_aligned``: 112).
        timing: episode phase lengths and intensities (frames).
    """

    train_videos: int
    validation_videos: int
    frames: tuple[int, int]
    image_size: int = 112
    timing: EpisodeTiming = field(default_factory=EpisodeTiming)


@dataclass(frozen=True)
class _Video:
    """One video to render, with its plan: episodes, base pose, unannotated frames per task."""

    name: str
    split: str
    index: int
    n_frames: int
    episodes: list[Episode]
    base_pose: tuple[float, float, float]
    invalid: dict[str, np.ndarray]  # task -> [n_frames] bool


def video_names(count: int, first_number: int, rng: np.random.Generator) -> tuple[list[str], int]:
    """``count`` Aff-Wild2-style names and the next free number; every sixth slot starts a
    two-person ``_left``/``_right`` pair (one source video, two identities)."""
    names: list[str] = []
    number = first_number
    while len(names) < count:
        style = int(rng.integers(3))
        base = (f"{number}-30-1280x720", f"{number}-25-640x360", f"video{number}")[style]
        if len(names) % 6 == 1 and count - len(names) >= 2:
            names += [f"{base}_left", f"{base}_right"]
        else:
            names.append(base)
        number += 1
    return names, number


def target_stream(rng: np.random.Generator) -> Callable[[], Target]:
    """Episode targets: first every class once (shuffled), then draws by ``EPISODE_WEIGHTS``."""
    words = list(EPISODE_WEIGHTS)
    p = np.array(list(EPISODE_WEIGHTS.values()))
    first = [words[i] for i in rng.permutation(len(words))]

    def next_target() -> Target:
        word = first.pop(0) if first else words[int(rng.choice(len(words), p=p / p.sum()))]
        return Target.other() if word == "other" else Target.basic(CE_BASIC.index(word))

    return next_target


def invalid_masks(lengths: list[int], share: float, rng: np.random.Generator) -> list[np.ndarray]:
    """Unannotated frames of each video: ``round(share * total)`` frames in all, in 1-2 spans per video.

    The budget is spread over videos with random (gamma) weights, so some videos lose most or all
    of their frames and others none, as happens when annotators skip a video or a segment.
    """
    capacity = np.asarray(lengths)
    budget = int(round(share * capacity.sum()))
    weights = rng.gamma(0.7, size=len(lengths)) * capacity
    counts = np.zeros(len(lengths), dtype=int)
    while budget > 0:
        room = capacity - counts
        add = np.minimum(allocate(budget, np.where(room > 0, weights, 0.0)), room)
        counts += add
        budget -= int(add.sum())
    return [_spans(n, int(c), rng) for n, c in zip(lengths, counts)]


def _spans(n: int, count: int, rng: np.random.Generator) -> np.ndarray:
    mask = np.zeros(n, dtype=bool)
    if count == 0:
        return mask
    pieces = 2 if count >= 4 and count < n and rng.random() < 0.5 else 1
    lengths = [count] if pieces == 1 else [int(c) for c in np.diff([0, rng.integers(1, count), count])]
    # Split the annotated frames into pieces + 1 runs around the unannotated spans.
    cuts = np.sort(rng.integers(0, n - count + 1, size=pieces))
    runs = np.diff([0, *cuts, n - count])
    pos = 0
    for run, length in zip(runs, lengths):
        pos += int(run)
        mask[pos:pos + length] = True
        pos += length
    return mask


def _plan(size: AffWild2Size, seed: int) -> list[_Video]:
    rng = item_rng(seed, f"{LAYOUT}/plan")
    videos: list[_Video] = []
    number = 1
    for split in SPLITS:
        count = size.train_videos if split == "train" else size.validation_videos
        names, number = video_names(count, number, rng)
        lengths = [int(rng.integers(size.frames[0], size.frames[1] + 1)) for _ in names]
        masks = {task: invalid_masks(lengths, INVALID_SHARE[split][task], rng) for task in TRACKS}
        next_target = target_stream(rng)
        for k, (name, n) in enumerate(zip(names, lengths)):
            pose = (rng.uniform(-YAW, YAW), rng.uniform(-PITCH, PITCH), rng.uniform(-ROLL, ROLL))
            videos.append(_Video(
                name=name, split=split, index=len(videos), n_frames=n,
                episodes=plan_episodes(n, next_target, size.timing, rng),
                base_pose=tuple(float(x) for x in pose),
                invalid={task: masks[task][k] for task in TRACKS},
            ))
    return videos


def _render(video: _Video, root: Path, seed: int, image_size: int) -> list[dict[str, str]]:
    """Render one video's frames; return each frame's label fields, markers applied (worker process)."""
    identity = sample_identity(item_rng(seed, f"{LAYOUT}/identity", video.index))
    rng = item_rng(seed, LAYOUT, video.index)
    scene = sample_scene(rng)
    states = simulate_clip(video.n_frames, video.episodes, rng, base_pose=video.base_pose)
    labels = []
    scenes = video_scenes(scene, video.n_frames, rng)
    for state, frame_scene in zip(states, scenes):
        image = render_image(identity, state.sample.aus, Pose(*state.pose), frame_scene, size=image_size)
        save_jpeg(root / IMAGE_DIR / video.name / f"{state.frame:05d}.jpg", image, scene.jpeg_quality)
        s, f = state.sample, state.frame - 1
        labels.append({
            "VA": f"{VA_MISSING},{VA_MISSING}" if video.invalid["VA"][f]
            else f"{_number(s.valence)},{_number(s.arousal)}",
            "EXPR": EXPR_MISSING if video.invalid["EXPR"][f] else str(s.affwild2_expr),
            "AU": ",".join([AU_MISSING] * len(AFFWILD2_AUS)) if video.invalid["AU"][f]
            else ",".join(str(o) for o in s.au_occurrence),
        })
    return labels


def _number(x: float) -> str:
    return f"{round(x, 3) + 0.0:.3f}"  # + 0.0 turns -0.0 into 0.0


def write(root: Path, size: AffWild2Size, seed: int, workers: int) -> dict:
    """Write synthetic Aff-Wild2 under ``root`` and return its SYNTH_INFO (see the module docstring)."""
    videos = _plan(size, seed)
    render = partial(_render, root=root, seed=seed, image_size=size.image_size)
    labels = map_items(render, videos, workers, desc=LAYOUT)
    info: dict = {
        "videos": {split: [v.name for v in videos if v.split == split] for split in SPLITS},
        "tracks": {task: {} for task in TRACKS},
        "image_size": size.image_size,
        "seed": seed,
    }
    dup_rng = item_rng(seed, f"{LAYOUT}/duplicates")
    for split in SPLITS:
        pairs = [(v, frames) for v, frames in zip(videos, labels) if v.split == split]
        for task, (folder, header) in TRACKS.items():
            written = 0
            for video, frames in pairs:
                if video.invalid[task].all():
                    continue  # never annotated for this task: no track file
                path = root / "Annotations" / folder / TRACK_SPLITS[split] / f"{video.name}.txt"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(header + "\n" + "".join(frame[task] + "\n" for frame in frames))
                written += 1
            info["tracks"][task][split] = written
        info["training" if split == "train" else "validation"] = _write_mtl(
            root / MTL_FILES[split], pairs, dup_rng
        )
    return write_info(root, info)


def _write_mtl(
    path: Path, pairs: list[tuple[_Video, list[dict[str, str]]]], rng: np.random.Generator
) -> dict:
    """Write one MTL annotation file, some rows repeated later in their video's block; return counts."""
    blocks = [
        [f"{v.name}/{i:05d}.jpg,{f['VA']},{f['EXPR']},{f['AU']}" for i, f in enumerate(frames, start=1)]
        for v, frames in pairs
    ]
    unique = sum(len(b) for b in blocks)
    duplicates = max(1, int(round(DUPLICATE_SHARE * unique)))
    owners = np.repeat(np.arange(len(blocks)), [len(b) for b in blocks])
    starts = np.cumsum([0] + [len(b) for b in blocks])
    for row in sorted(rng.choice(unique, size=duplicates, replace=False), reverse=True):
        block = blocks[owners[row]]
        at = row - starts[owners[row]]
        block.insert(int(rng.integers(at + 1, len(block) + 1)), block[at])
    path.write_text(MTL_HEADER + "\n" + "".join(row + "\n" for block in blocks for row in block))
    valid = {task.lower(): int(sum((~v.invalid[task]).sum() for v, _ in pairs)) for task in TRACKS}
    return {"rows": unique + duplicates, "duplicates": duplicates, "unique": unique, "valid": valid}
