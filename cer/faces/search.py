"""Finding the faces of consecutive video frames without searching every whole frame.

Faces in video move little from frame to frame, so once a face is known it is looked for where it
was, in up to three steps, each only for the faces the one before missed:

1. *follow* (detectors that can, see :meth:`cer.faces.mtcnn.MTCNNDetector.follow`): the detector's
   last stage checks and re-fits the face's last box. About a millisecond per face for MTCNN.
2. *region*: the whole detector on a small square around the face's last box.
3. *whole frame*, once, when a face has just been lost (a cut, a fast turn). While a face stays
   missing (turned away, occluded) only steps 1 and 2 look for it.

Independently of all this, the whole frame is searched every ``full_every`` frames (new faces,
and larger ones, are found then at the latest), and when no face is known any more only then:
searching every whole frame while nothing is found costs what a per-frame loop costs and finds
nothing more in the frames between (on a synthetic video, about a quarter of all frames were such
searches before this rule).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cer.faces.crop import crop_face, square_region
from cer.faces.detectors import Box, FaceDetector


class FaceSearch:
    """Boxes per frame from a detector, looking first where the faces of the previous frames were.

    Args:
        detector: any :class:`cer.faces.detectors.FaceDetector`; one with a ``follow`` method
            gets step 1 (see the module docstring).
        full_every: frames between whole-frame searches; 1 searches every whole frame. The default,
            a second of 25 fps video: on the default synthetic C-EXPR-DB videos it fitted the
            generator's face boxes as well as 10 did (mean IoU 0.780 and 0.781, faces in the same
            1968 of 2016 frames) at 186 instead of 147 frames/s.
        region_scale: side of the searched square around a known face, in face sizes.
        region_px: the square is resized to this many pixels before detection.
    """

    def __init__(self, detector: FaceDetector, full_every: int = 25, region_scale: float = 2.0,
                 region_px: int = 160):
        self.detector, self.full_every = detector, max(1, full_every)
        self.region_scale, self.region_px = region_scale, region_px
        self._follow = getattr(detector, "follow", None)
        self.reset()

    def reset(self) -> None:
        """Start a new video: its first frame is searched whole."""
        self.since_full = self.full_every
        self.all_found = True  # the last frame searched had every known face

    def find(self, images: Sequence[np.ndarray], known: Sequence[Box]) -> list[list[Box]]:
        """Boxes (score-sorted) in each of ``images`` (consecutive frames); ``known``: the faces
        tracked before them (missed ones included: they are looked for where they were)."""
        result: list[list[Box]] = [[] for _ in images]
        start = 0
        while start < len(images) and not known:  # nothing to look around
            if self.since_full >= self.full_every:
                result[start] = known = list(self.detector.detect([images[start]])[0])
                self.since_full, self.all_found = 0, True
            self.since_full += 1
            start += 1
        full, near = [], []
        for i in range(start, len(images)):
            if self.since_full >= self.full_every:
                full.append(i)
                self.since_full = 1
            else:
                near.append(i)
                self.since_full += 1
        for i, boxes in zip(full, self.detector.detect([images[i] for i in full]) if full else []):
            result[i] = list(boxes)
        self._look_near(images, near, known, result)
        for i in range(start, len(images)):
            complete = len(result[i]) >= len(known)
            if not complete and i in near and self.all_found:
                # Just lost: the whole frame, once. The frames after it in this batch looked in the
                # same old places, so they get that second look too while it keeps finding faces.
                result[i] = list(self.detector.detect([images[i]])[0])
                complete = len(result[i]) >= len(known)
            self.all_found = complete
        return [sorted(r, key=lambda b: -b.score) for r in result]

    def _look_near(self, images: Sequence[np.ndarray], frames: list[int], known: Sequence[Box],
                   result: list[list[Box]]) -> None:
        """Steps 1 and 2 for ``frames``: ``result[i]`` gets the faces found near ``known``."""
        todo = [(i, box) for i in frames for box in known]
        if todo and self._follow is not None:
            # Every frame of the batch from the boxes known before it. Following each frame from the
            # box found in the frame before (measured on the synthetic videos) kept fewer faces:
            # refitting O-Net's own fits drifts away from the face.
            found = dict(zip(frames, self._follow([images[i] for i in frames], [list(known)] * len(frames))))
            missed = []
            for i, box in todo:
                match = max(found[i], key=box.iou, default=None)
                if match is not None and box.iou(match) > 0.3:
                    result[i].append(match)
                else:
                    missed.append((i, box))
            todo = missed
        crops = [crop_face(images[i], box, self.region_px, margin=self.region_scale - 1) for i, box in todo]
        for (i, around), boxes in zip(todo, self.detector.detect(crops, max_faces=1) if crops else []):
            result[i].extend(self._to_frame(b, around) for b in boxes)
        for i in frames:
            result[i] = _dedupe(result[i])

    def _to_frame(self, box: Box, around: Box) -> Box:
        left, top, side = square_region(around, self.region_scale - 1)  # the square crop_face cut
        k = side / self.region_px
        return Box(x=left + box.x * k, y=top + box.y * k, w=box.w * k, h=box.h * k, score=box.score)


def _dedupe(boxes: list[Box], threshold: float = 0.5) -> list[Box]:
    """Drop boxes that overlap a higher-scoring one (overlapping search regions see a face twice)."""
    kept: list[Box] = []
    for box in sorted(boxes, key=lambda b: -b.score):
        if all(box.iou(k) < threshold for k in kept):
            kept.append(box)
    return kept
