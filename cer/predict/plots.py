"""Pictures of a video's predictions: a timeline PNG (``--plot``) and an annotated mp4 (``--annotate``).

Both are written under a temporary name and renamed when complete. The annotated video decodes the
source a second time and encodes H.264 with PyAV as it goes, so it too holds one frame at a time.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import numpy as np

from cer.predict.outputs import VideoPrediction
from cer.video.sources import Source

DEFAULT_FPS = 25.0  # for sources that carry no rate (frame folders, still images)


def class_colours(n: int) -> np.ndarray:
    """[n, 3] RGB in [0, 1], distinct for up to 20 classes (matplotlib's tab10, then tab20)."""
    import matplotlib

    cmap = matplotlib.colormaps["tab10" if n <= 10 else "tab20"]
    return np.array([cmap(i % cmap.N)[:3] for i in range(n)])


def plot_timeline(prediction: VideoPrediction, path: Path) -> None:
    """Class scores of every frame over time, and the chosen label as a coloured band below them;
    frames without a face (interpolated scores) are shown pale in the band."""
    from cer.plots import pyplot

    plt = pyplot()

    names, scores = prediction.class_names, prediction.frame_scores  # [T, C]
    colours = class_colours(len(names))
    t = prediction.timestamps
    fig, (top, band) = plt.subplots(2, 1, figsize=(12, 4.5), sharex=True,
                                    gridspec_kw={"height_ratios": [5, 1]})
    if np.isnan(scores).all():
        top.text(0.5, 0.5, "no face found in any frame", ha="center", va="center", transform=top.transAxes)
    else:
        for c, name in enumerate(names):
            top.plot(t, scores[:, c], color=colours[c], lw=1.2, label=name)
        top.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
        rgba = np.ones((1, len(t), 4))
        rgba[0, :, :3] = colours[prediction.frame_labels]
        rgba[0, :, 3] = 0.3
        rgba[0, np.unique(prediction.face_pos), 3] = 1.0
        end = t[-1] + (t[-1] - t[-2] if len(t) > 1 else 1.0)
        band.imshow(rgba, aspect="auto", interpolation="nearest", extent=(t[0], end, 0, 1))
    top.set_ylabel("class score (sum of components)")
    top.set_title(f"{prediction.name}: per-frame scores and label")
    band.set_yticks([])
    band.set_xlabel("time (s)")
    band.set_ylabel("label\n(pale: no face)", rotation=0, ha="right", va="center", fontsize=8)
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}.png")
    try:
        fig.savefig(tmp, dpi=110)
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        tmp.unlink(missing_ok=True)


def _draw(image: np.ndarray, boxes: list[tuple[int, np.ndarray, str]], caption: str) -> np.ndarray:
    """Boxes with their face id and label, and a caption (the frame's label) in the top left corner."""
    import cv2

    for face_id, (x, y, w, h), label in boxes:
        p0, p1 = (int(round(x)), int(round(y))), (int(round(x + w)), int(round(y + h)))
        cv2.rectangle(image, p0, p1, (0, 255, 0), 2)
        cv2.putText(image, f"{face_id}: {label}", (p0[0], max(12, p0[1] - 5)), cv2.FONT_HERSHEY_SIMPLEX,
                    0.5, (0, 255, 0), 1, cv2.LINE_AA)
    for colour, thickness in (((0, 0, 0), 4), ((255, 255, 255), 1)):  # outlined: readable on any background
        cv2.putText(image, caption, (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, colour, thickness, cv2.LINE_AA)
    return image


def write_annotated(source: Source, prediction: VideoPrediction, path: Path) -> None:
    """Re-decode ``source`` and write it as H.264 mp4 with each face's box and label drawn."""
    import av
    import cv2

    from cer.video.frames import iter_frames, probe

    info = probe(source)
    fps = Fraction(info.get("fps") or DEFAULT_FPS).limit_denominator(1001)
    width, height = info["width"] // 2 * 2, info["height"] // 2 * 2  # yuv420p needs even sides
    names = prediction.class_names
    labels = prediction.frame_labels
    faces: dict[int, list] = {}
    for i, pos in enumerate(prediction.face_pos):
        label = names[int(np.argmax(prediction.scores[i]))]
        faces.setdefault(int(pos), []).append((int(prediction.face_ids[i]), prediction.boxes[i, :4], label))
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}.mp4")
    try:
        with av.open(str(tmp), "w", format="mp4") as container:
            stream = container.add_stream("libx264", rate=fps, options={"crf": "23", "preset": "veryfast"})
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            for pos, frame in enumerate(iter_frames(source)):
                if pos >= len(prediction.frames):
                    break
                if frame.image is None:
                    image = np.zeros((height, width, 3), np.uint8)
                    caption = f"frame {frame.index}: could not be decoded"
                else:
                    image = np.ascontiguousarray(frame.image)
                    if image.shape[:2] != (info["height"], info["width"]):
                        image = cv2.resize(image, (info["width"], info["height"]), interpolation=cv2.INTER_AREA)
                    caption = names[labels[pos]] if labels[pos] >= 0 else "no face"
                    if pos not in faces and labels[pos] >= 0:
                        caption += " (no face: interpolated)"
                image = _draw(image, faces.get(pos, []), caption)[:height, :width]
                for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
