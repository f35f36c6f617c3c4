"""Streaming per-frame prediction of one source: frames -> faces -> crops -> batched classification
-> scores.

Per video, frames arrive from a background decoding thread a few at a time; faces are found in
small batches of frames, cropped, and queued; the classifier runs when a batch of crops is full.
What is kept per frame is a few numbers (box, probabilities), so memory does not grow with the
length of a video beyond that. At the end of a video the probabilities are interpolated over the
frames without a face, smoothed along time and turned into constrained class scores: a
:class:`~cer.predict.outputs.VideoPrediction`, which :mod:`cer.predict.pipeline` writes.

Face finding looks where the faces were (:class:`cer.faces.search.FaceSearch`): once a face is
tracked, the detector checks the face where it was (MTCNN: its last stage alone) or searches a small
square around it, and the whole frame only every ``full_every`` frames and when a face is lost. Same
detector, same weights, a fraction of the work: this is where most of the speed over a per-frame
loop comes from.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from cer.compound.constrained import constrained_scores
from cer.faces.align import Template, align_face
from cer.faces.crop import DEFAULT_MARGIN, crop_face
from cer.faces.detectors import Box, FaceDetector
from cer.faces.search import FaceSearch
from cer.faces.tracking import LargestFaceTracker, MultiFaceTracker
from cer.models.backbone import normalise
from cer.predict.outputs import SCORE_DECIMALS, VideoPrediction
from cer.predict.smoothing import Smoothing, frame_scores, persistent_faces, smooth_track
from cer.taxonomy import ConstraintSet
from cer.video.frames import iter_frames
from cer.video.heap import release_freed_memory
from cer.video.sources import Source

TRIM_EVERY = 500  # frames; a malloc_trim costs a few milliseconds


class FaceClassifier:
    """Face crops (uint8 RGB, the models' input size) -> [N, 6] basic-expression probabilities.

    Several trained models (``members``, each ``(model, meta)``) make an ensemble: their sigmoid
    probabilities are averaged per crop, before smoothing and constrained inference (001 sec. 3.3's
    probability averaging). Each member normalises with its own mean/std; all must take crops of one
    size, since one crop is cut per face.
    """

    def __init__(self, members: Sequence[tuple[nn.Module, dict[str, Any]]], device: torch.device):
        if not members:
            raise ValueError("FaceClassifier needs at least one trained model")
        sizes = {int(meta["img_size"]) for _, meta in members}
        if len(sizes) > 1:
            raise ValueError(f"the models take faces of different sizes ({', '.join(map(str, sorted(sizes)))} px): "
                             "an ensemble's members must share img_size")
        self.size, self.device = sizes.pop(), device
        self.members = [(model.to(device).eval(), meta["mean"], meta["std"]) for model, meta in members]

    @torch.inference_mode()
    def __call__(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        if not crops:
            return np.zeros((0, 6), np.float32)
        images = torch.from_numpy(np.stack(crops)).to(self.device).permute(0, 3, 1, 2)  # [N, 3, H, W]
        probs = [torch.sigmoid(model(normalise(images, mean, std)).float()) for model, mean, std in self.members]
        return torch.stack(probs).mean(0).cpu().numpy()


def _chunks(items: Iterable, size: int) -> Iterator[list]:
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


class VideoPredictor:
    """Predicts one source at a time (see the module docstring).

    Args:
        classifier: the trained model.
        detector: face detector (``create_detector("full")`` for already-cropped faces).
        cset: classes to score.
        smoothing: temporal filter of each face's probabilities.
        all_faces: every face with a face id; else the largest face, tracked.
        batch_size: face crops per forward pass.
        detect_batch: frames per detector call.
        margin: context around a detected box, in box sizes (0 for already-cropped faces).
        template: where the model's training faces had their five landmarks (``cer.faces.align``);
            faces whose detector gives landmarks are then aligned on it instead of box-cropped.
        full_every: see :class:`FaceSearch`.
        min_face_frames: a face must be found in this many frames (nearly) in a row to count
            (see :func:`cer.predict.smoothing.persistent_faces`); sources shorter than that are exempt.
    """

    def __init__(self, classifier: FaceClassifier, detector: FaceDetector, cset: ConstraintSet,
                 smoothing: Smoothing, all_faces: bool = False, batch_size: int = 64, detect_batch: int = 8,
                 margin: float = DEFAULT_MARGIN, full_every: int = 25, min_face_frames: int = 3,
                 template: Template | None = None):
        self.classify, self.cset, self.smoothing = classifier, cset, smoothing
        self.min_face_frames = min_face_frames
        # The full-frame "detector" has nothing to search for: regions would only shrink the crop.
        self.search = FaceSearch(detector, full_every=1 if detector.name == "full" else full_every)
        self.all_faces, self.batch_size, self.detect_batch, self.margin = all_faces, batch_size, detect_batch, margin
        self.template = template

    def predict(self, source: Source, on_frames: Callable[[int], None] = lambda n: None) -> VideoPrediction:
        """Stream ``source`` once; ``on_frames(n)`` after every n frames (progress)."""
        tracker = MultiFaceTracker() if self.all_faces else LargestFaceTracker()
        self.search.reset()
        frames, stamps, errors = [], [], {}
        face_pos, face_ids, boxes, probs, pending = [], [], [], [], []
        known: list[Box] = []
        for chunk in _chunks(iter_frames(source), self.detect_batch):
            decoded = [f for f in chunk if f.image is not None]
            found = iter(self.search.find([f.image for f in decoded], known) if decoded else [])
            for frame in chunk:
                pos = len(frames)
                frames.append(frame.index)
                stamps.append(frame.timestamp)
                if frame.image is None:
                    errors[frame.index] = frame.error or "could not be decoded"
                    continue
                tracked = self._track(tracker, next(found))
                known = tracker.remembered  # missed faces too: their regions are searched again
                for face_id, box in tracked:
                    face_pos.append(pos)
                    face_ids.append(face_id)
                    boxes.append((box.x, box.y, box.w, box.h, box.score))
                    pending.append(self._crop(frame.image, box))
            if len(pending) >= self.batch_size:
                probs.append(self.classify(pending))
                pending = []
            if len(frames) % TRIM_EVERY < len(chunk):
                release_freed_memory()  # keeps memory flat on long videos: see cer.video.heap
            on_frames(len(chunk))
        probs.append(self.classify(pending))
        return self._finish(source.name, frames, stamps, errors, face_pos, face_ids, boxes, np.concatenate(probs))

    def _crop(self, image: np.ndarray, box: Box) -> np.ndarray:
        if self.template is not None and box.landmarks is not None:
            return align_face(image, box.landmarks, self.template, self.classify.size)
        return crop_face(image, box, self.classify.size, margin=self.margin)

    def _track(self, tracker: Any, boxes: list[Box]) -> list[tuple[int, Box]]:
        if self.all_faces:
            return list(tracker.update(boxes))
        box = tracker.update(boxes)
        return [] if box is None else [(0, box)]

    def _finish(self, name: str, frames: list[int], stamps: list[float], errors: dict[int, str],
                face_pos: list[int], face_ids: list[int], boxes: list[tuple], probs: np.ndarray) -> VideoPrediction:
        frames_arr = np.asarray(frames, dtype=np.int64)
        pos, ids = np.asarray(face_pos, dtype=np.int64), np.asarray(face_ids, dtype=np.int64)
        boxes_arr = np.asarray(boxes, dtype=np.float64).reshape(-1, 5)
        if len(frames) >= self.min_face_frames:  # still images and very short clips: nothing to check
            keep = persistent_faces(pos, ids, self.min_face_frames)
            pos, ids, boxes_arr, probs = pos[keep], ids[keep], boxes_arr[keep], probs[keep]
        smoothed = np.empty_like(probs, dtype=np.float64)
        for face_id in np.unique(ids):
            rows = ids == face_id
            smoothed[rows] = smooth_track(frames_arr[pos[rows]], probs[rows], self.smoothing)
        # Rounded to what the CSV holds, so labels read back from it are the labels computed here.
        scores = np.round(constrained_scores(smoothed, self.cset), SCORE_DECIMALS)
        per_frame = np.round(frame_scores(len(frames), pos, scores), SCORE_DECIMALS)
        return VideoPrediction(
            name=name, class_names=self.cset.names, frames=frames_arr, timestamps=np.asarray(stamps),
            face_pos=pos, face_ids=ids, boxes=boxes_arr,
            probs=probs, scores=scores, frame_scores=per_frame, errors=errors,
        )
