"""Synthetic C-EXPR-DB: H.264 videos of compound-expression episodes, with labels for evaluation.

Writes, under the layout root::

    videos/01.mp4            # H.264, yuv420p, 25 fps; one identity per video on a background
    frame_list.txt           # "01/00001.jpg" per frame, 1-based, in video order
    ground_truth.csv         # submission format: image_location,Fearfully_Surprised,...,Sadly_Angry
                             #   then "01/00001.jpg,<0-6>" (the real set publishes no labels)
    face_boxes.csv           # image_location,x,y,w,h of the rendered face, for checking detectors
    SYNTH_INFO.json

Every frame belongs to an episode of one of the 7 C-EXPR classes and carries its label: episodes
follow each other without neutral gaps, and intensity never falls below ``FLOOR`` (onset and
offset short, apex long), so each frame truly shows its compound. Classes are dealt round-robin
from shuffled decks across all videos, so every class appears once there are 7 episodes or more.
Encoding is deterministic: x264 on one thread, no wall-clock metadata.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import av
import numpy as np

from cer.synth.episodes import Episode, EpisodeTiming, plan_episodes, simulate_clip, smooth_noise
from cer.synth.expression import Target
# _PITCH_RADIUS: the arc pitch moves features on; face_box must follow the renderer's geometry.
from cer.synth.face import _PITCH_RADIUS as _PITCH_ARC
from cer.synth.face import BROW_Y, CHIN_Y, FRAMINGS, Pose, render_face
from cer.synth.identity import Identity, sample_identity
from cer.synth.layouts import item_rng, map_items, video_scenes, write_info
from cer.synth.scene import composite, render_background, sample_scene
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
# The face box in face units: cheek to cheek (half width 1) and from FOREHEAD above the brows to
# the chin, as face detectors draw it.
FACE_HALF_WIDTH = 1.0
FOREHEAD = 0.25


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
class _Video:
    name: str
    index: int
    n_frames: int
    episodes: list[Episode]
    face_size: int
    base_pose: tuple[float, float, float]


def class_stream(rng: np.random.Generator) -> Callable[[], Target]:
    """Compound targets dealt from shuffled decks of the 7 C-EXPR classes."""
    deck: list[int] = []
    classes = CONSTRAINT_SETS["c-expr"].classes

    def next_target() -> Target:
        if not deck:
            deck.extend(int(i) for i in rng.permutation(len(classes)))
        return Target.compound(*classes[deck.pop(0)].components)

    return next_target


def _plan(size: CExprSize, seed: int) -> list[_Video]:
    rng = item_rng(seed, f"{LAYOUT}/plan")
    timing = EpisodeTiming(
        onset=size.timing.onset, apex=size.timing.apex, offset=size.timing.offset,
        gap=(0, 0), peak=size.timing.peak, floor=FLOOR,
    )
    next_target = class_stream(rng)
    videos = []
    for k in range(size.videos):
        n = int(rng.integers(size.frames[0], size.frames[1] + 1))
        videos.append(_Video(
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


def face_box(identity: Identity, pose: Pose, side: int, at: tuple[int, int],
             frame_size: tuple[int, int]) -> tuple[int, int, int, int]:
    """Box (x, y, w, h) a face detector would give for a head square of ``side`` placed at ``at``.

    Cheek to cheek and from above the brows to the chin, through the renderer's head geometry
    (pitch moves features on an arc, roll turns the box); clipped to the frame. The jaw's drop
    with an open mouth is not followed, so the box ends at the closed-mouth chin.
    """
    half, centre = FRAMINGS["head"]
    px = 2 * half / side
    fw, fh = identity.face_width, identity.face_height
    pitch, roll = math.radians(pose.pitch), math.radians(pose.roll)

    def head_y(v: float) -> float:  # head-frame height of face height v (as face.py's _fwd_v)
        return _PITCH_ARC * math.sin(math.asin(max(-1.0, min(1.0, v / _PITCH_ARC))) + pitch)

    top = head_y((BROW_Y - FOREHEAD) * fh)
    bottom = head_y(CHIN_Y * identity.chin_length * fh)
    corners = np.array([(-fw, top), (fw, top), (-fw, bottom), (fw, bottom)])
    cr, sr = math.cos(roll), math.sin(roll)
    gx = corners[:, 0] * cr + corners[:, 1] * sr
    gy = -corners[:, 0] * sr + corners[:, 1] * cr
    cols = (gx + half) / px + at[0]
    rows = (gy - centre + half) / px + at[1]
    width, height = frame_size
    x0, x1 = max(0, int(round(cols.min()))), min(width, int(round(cols.max())))
    y0, y1 = max(0, int(round(rows.min()))), min(height, int(round(rows.max())))
    return x0, y0, x1 - x0, y1 - y0


def _render(
    video: _Video, root: Path, seed: int, frame_size: tuple[int, int]
) -> list[tuple[int, tuple[int, int, int, int]]]:
    """Render and encode one video; return each frame's (C-EXPR index, face box) (worker process)."""
    width, height = frame_size
    identity = sample_identity(item_rng(seed, f"{LAYOUT}/identity", video.index))
    rng = item_rng(seed, LAYOUT, video.index)
    scene = sample_scene(rng)
    background = render_background(scene, height, width)
    states = simulate_clip(video.n_frames, video.episodes, rng, base_pose=video.base_pose)
    side = head_square(video.face_size)
    corner = (rng.uniform(0, width - side), rng.uniform(0, height - side))
    drift = [smooth_noise(video.n_frames, rng, 15.0, POSITION_DRIFT * video.face_size) for _ in range(2)]
    scenes = video_scenes(scene, video.n_frames, rng)

    path = root / "videos" / f"{video.name}.mp4"
    path.parent.mkdir(parents=True, exist_ok=True)
    out = []
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=FPS, options=X264_OPTIONS)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.thread_count = 1
        for f, (state, frame_scene) in enumerate(zip(states, scenes)):
            pose = Pose(*state.pose)
            face = render_face(identity, state.sample.aus, pose, size=side)
            at = (int(np.clip(round(corner[0] + drift[0][f]), 0, width - side)),
                  int(np.clip(round(corner[1] + drift[1][f]), 0, height - side)))
            frame = composite(face, frame_scene, background=background, at=at)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
            out.append((state.sample.c_expr, face_box(identity, pose, side, at, frame_size)))
        for packet in stream.encode():
            container.mux(packet)
    return out


def write(root: Path, size: CExprSize, seed: int, workers: int) -> dict:
    """Write synthetic C-EXPR-DB under ``root`` and return its SYNTH_INFO (see the module docstring)."""
    videos = _plan(size, seed)
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
