"""Synthetic C-EXPR-DB: H.264 videos of compound-expression episodes, with labels for evaluation.

Writes, under the layout root::

    videos/01.mp4            # H.264, yuv420p, 25 fps; one identity per video on a background
    frame_list.txt           # "01/00001.jpg" per frame, 1-based, in video order
    ground_truth.csv         # submission format: image_location,Fearfully_Surprised,...,Sadly_Angry
                             #   then "01/00001.jpg,<0-6>" (the real set publishes no labels)
    face_boxes.csv           # image_location,x,y,w,h of the rendered face (``face.face_box``),
                             #   for checking detectors
    SYNTH_INFO.json

Every frame belongs to an episode of one of the 7 C-EXPR classes and carries its label: episodes
follow each other without neutral gaps, and intensity never falls below ``FLOOR`` (onset and
offset short, apex long), so each frame truly shows its compound. Classes are dealt round-robin
from shuffled decks across all videos, so every class appears once there are 7 episodes or more.
Encoding is deterministic: x264 on one thread, no wall-clock metadata. :func:`plan_videos` and
:func:`video_content` say what every frame shows without rendering it, so tests and tools can
check the files against them.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import av
import numpy as np

from cer.synth.episodes import Episode, EpisodeTiming, plan_episodes, simulate_clip, smooth_noise
from cer.synth.expression import Target
from cer.synth.face import FRAMINGS, Pose, face_box, render_face
from cer.synth.identity import Identity, sample_identity
from cer.synth.layouts import item_rng, map_items, video_scenes, write_info
from cer.synth.scene import Scene, composite, render_background, sample_scene
from cer.taxonomy import C_EXPR, CONSTRAINT_SETS

LAYOUT = "c-expr-db"
FPS = 25
FLOOR = 0.3
GROUND_TRUTH_HEADER = "image_location," + ",".join(C_EXPR.classes)
# x264 settings: one thread (threaded encoding is not bit-reproducible), constant quality.
X264_OPTIONS = {"crf": "20", "preset": "fast", "threads": "1"}
# Head pose and the face's drift inside the frame: a seated person moving a little.
YAW, PITCH, ROLL = 20.0, 10.0, 6.0
POSITION_DRIFT = 0.05  # standard deviation of the face's position, in face sizes
FACE_HALF_WIDTH = 1.0  # half the width of ``face_box`` (cheek to cheek), in face units


@dataclass(frozen=True)
class CExprSize:
    """How much to write.

    Attributes:
        videos: number of videos (named 01, 02, ...).
        frames: inclusive range of frames per video.
        frame_size: (width, height) of the videos, both even (yuv420p).
        face_size: inclusive range of the face's side in pixels (cheek to cheek, about brow to
            chin: the box a detector draws); the rendered head square is ``head_square`` of it.
        timing: episode phases in frames (``gap`` and ``floor`` are overridden: no gaps, ``FLOOR``).
    """

    videos: int
    frames: tuple[int, int]
    frame_size: tuple[int, int] = (480, 360)
    face_size: tuple[int, int] = (100, 160)
    timing: EpisodeTiming = field(default_factory=lambda: EpisodeTiming(
        onset=(6, 12), apex=(40, 70), offset=(6, 12), peak=(0.8, 1.0)
    ))

    def __post_init__(self) -> None:
        w, h = self.frame_size
        if w % 2 or h % 2:
            raise ValueError(f"frame_size {self.frame_size}: H.264 yuv420p needs even width and height")
        if head_square(self.face_size[1]) > min(w, h):
            raise ValueError(
                f"face_size {self.face_size}: a {self.face_size[1]} px face needs a "
                f"{head_square(self.face_size[1])} px head square, more than the {w}x{h} frame has"
            )


@dataclass(frozen=True)
class VideoPlan:
    """One video as planned from the run's seed: its length, expression episodes and face size."""

    name: str
    index: int
    n_frames: int
    episodes: list[Episode]
    face_size: int
    base_pose: tuple[float, float, float]


@dataclass(frozen=True)
class Frame:
    """What one frame shows: the face's AUs and pose, where its head square is, and its label."""

    aus: Mapping[int, float]
    pose: Pose
    at: tuple[int, int]  # top-left corner of the head square in the frame (x, y)
    scene: Scene  # this frame's scene: sensor noise changes per frame, an occluder comes and goes
    label: int  # C-EXPR class index


@dataclass(frozen=True)
class VideoContent:
    """Everything a video shows: one person in one scene, and each frame."""

    identity: Identity
    scene: Scene  # the video's scene (its background is rendered once from it)
    side: int  # side of the rendered head square, pixels
    frames: list[Frame]


def class_stream(rng: np.random.Generator) -> Callable[[], Target]:
    """Compound targets dealt from shuffled decks of the 7 C-EXPR classes."""
    deck: list[int] = []
    classes = CONSTRAINT_SETS["c-expr"].classes

    def next_target() -> Target:
        if not deck:
            deck.extend(int(i) for i in rng.permutation(len(classes)))
        return Target.compound(*classes[deck.pop(0)].components)

    return next_target


def plan_videos(size: CExprSize, seed: int) -> list[VideoPlan]:
    """The videos of a data set of this size and seed: lengths, episodes, face sizes, base poses."""
    rng = item_rng(seed, f"{LAYOUT}/plan")
    timing = EpisodeTiming(
        onset=size.timing.onset, apex=size.timing.apex, offset=size.timing.offset,
        gap=(0, 0), peak=size.timing.peak, floor=FLOOR,
    )
    next_target = class_stream(rng)
    videos = []
    for k in range(size.videos):
        n = int(rng.integers(size.frames[0], size.frames[1] + 1))
        videos.append(VideoPlan(
            name=f"{k + 1:02d}", index=k, n_frames=n,
            episodes=plan_episodes(n, next_target, timing, rng),
            face_size=int(rng.integers(size.face_size[0], size.face_size[1] + 1)),
            base_pose=(float(rng.uniform(-YAW, YAW)), float(rng.uniform(-PITCH, PITCH)),
                       float(rng.uniform(-ROLL, ROLL))),
        ))
    n_episodes = sum(len(v.episodes) for v in videos)
    if n_episodes < len(C_EXPR):
        raise ValueError(
            f"{n_episodes} episodes cannot show all {len(C_EXPR)} C-EXPR classes: "
            "use more videos or frames, or shorter episodes"
        )
    return videos


def head_square(face_side: int) -> int:
    """Side of the ``render_face`` square (head framing) in which the face box is ``face_side``."""
    half, _ = FRAMINGS["head"]
    return int(round(face_side * half / FACE_HALF_WIDTH))


def video_content(video: VideoPlan, seed: int, frame_size: tuple[int, int]) -> VideoContent:
    """Who and what each frame of ``video`` shows, drawn from the run's seed (nothing rendered)."""
    width, height = frame_size
    identity = sample_identity(item_rng(seed, f"{LAYOUT}/identity", video.index))
    rng = item_rng(seed, LAYOUT, video.index)
    scene = sample_scene(rng)
    states = simulate_clip(video.n_frames, video.episodes, rng, base_pose=video.base_pose)
    side = head_square(video.face_size)
    corner = (rng.uniform(0, width - side), rng.uniform(0, height - side))
    drift = [smooth_noise(video.n_frames, rng, 15.0, POSITION_DRIFT * video.face_size) for _ in range(2)]
    scenes = video_scenes(scene, video.n_frames, rng)
    frames = []
    for f, (state, frame_scene) in enumerate(zip(states, scenes)):
        at = (int(np.clip(round(corner[0] + drift[0][f]), 0, width - side)),
              int(np.clip(round(corner[1] + drift[1][f]), 0, height - side)))
        frames.append(Frame(state.sample.aus, Pose(*state.pose), at, frame_scene, state.sample.c_expr))
    return VideoContent(identity, scene, side, frames)


def frame_box(
    content: VideoContent, frame: Frame, frame_size: tuple[int, int]
) -> tuple[int, int, int, int]:
    """The face's box (x, y, w, h) in whole pixels of the video frame, clipped to the frame.

    ``face.face_box`` of the rendered head square (pose, roll, the jaw's drop), moved to where the
    square is pasted.
    """
    x, y, w, h = face_box(content.identity, frame.pose, content.side, framing="head", aus=frame.aus)
    x0, y0 = x + frame.at[0], y + frame.at[1]
    width, height = frame_size
    left, top = max(0, round(x0)), max(0, round(y0))
    right, bottom = min(width, round(x0 + w)), min(height, round(y0 + h))
    return left, top, right - left, bottom - top


def _render(
    video: VideoPlan, root: Path, seed: int, frame_size: tuple[int, int]
) -> list[tuple[int, tuple[int, int, int, int]]]:
    """Render and encode one video; return each frame's (C-EXPR index, face box) (worker process)."""
    width, height = frame_size
    content = video_content(video, seed, frame_size)
    background = render_background(content.scene, height, width)
    path = root / "videos" / f"{video.name}.mp4"
    path.parent.mkdir(parents=True, exist_ok=True)
    out = []
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=FPS, options=X264_OPTIONS)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.thread_count = 1
        for frame in content.frames:
            face = render_face(content.identity, frame.aus, frame.pose, size=content.side)
            image = composite(face, frame.scene, background=background, at=frame.at)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
            out.append((frame.label, frame_box(content, frame, frame_size)))
        for packet in stream.encode():
            container.mux(packet)
    return out


def write(root: Path, size: CExprSize, seed: int, workers: int) -> dict:
    """Write synthetic C-EXPR-DB under ``root`` and return its SYNTH_INFO (see the module docstring)."""
    videos = plan_videos(size, seed)
    render = partial(_render, root=root, seed=seed, frame_size=size.frame_size)
    per_video = map_items(render, videos, workers, desc=LAYOUT)
    per_class = {str(k): 0 for k in range(len(C_EXPR))}
    with open(root / "frame_list.txt", "w") as frames, \
            open(root / "ground_truth.csv", "w", newline="") as truth, \
            open(root / "face_boxes.csv", "w", newline="") as boxes:
        truth_csv = csv.writer(truth, lineterminator="\n")
        boxes_csv = csv.writer(boxes, lineterminator="\n")
        truth.write(GROUND_TRUTH_HEADER + "\n")
        boxes_csv.writerow(["image_location", "x", "y", "w", "h"])
        for video, rows in zip(videos, per_video):
            for f, (label, box) in enumerate(rows, start=1):
                name = f"{video.name}/{f:05d}.jpg"
                frames.write(name + "\n")
                truth_csv.writerow([name, label])
                boxes_csv.writerow([name, *box])
                per_class[str(label)] += 1
    info = {
        "videos": len(videos),
        "frames": sum(v.n_frames for v in videos),
        "fps": FPS,
        "size": list(size.frame_size),
        "per_class_frames": per_class,
        "seed": seed,
    }
    return write_info(root, info)
