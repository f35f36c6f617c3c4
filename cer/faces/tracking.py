"""Which detected box is which face from frame to frame.

Both trackers match boxes by overlap (IoU) with where each face was last seen: faces in video move
little between frames, and detectors give no identities.
"""

from __future__ import annotations

from dataclasses import dataclass

from cer.faces.detectors import Box


class LargestFaceTracker:
    """One face per frame: the largest, kept on the same person while that person stays in view.

    The box that overlaps the last tracked box most is kept when it overlaps by at least
    ``min_iou`` and its area is at least ``min_size_ratio`` of the largest box of the frame;
    otherwise the largest box is taken. A frame without boxes gives None; the last box is
    remembered for ``max_missed`` such frames, then forgotten.

    Args:
        min_iou: overlap with the last box that counts as the same face.
        min_size_ratio: how small, relative to the largest box, the tracked face may be and still
            be preferred (a much larger face that appears takes over).
        max_missed: frames without a detection after which the last box is forgotten.
    """

    def __init__(self, min_iou: float = 0.3, min_size_ratio: float = 0.5, max_missed: int = 25):
        self.min_iou, self.min_size_ratio, self.max_missed = min_iou, min_size_ratio, max_missed
        self._last: Box | None = None
        self._missed = 0

    def update(self, boxes: list[Box]) -> Box | None:
        """The tracked face among ``boxes`` (one frame's detections), or None when there are none."""
        if not boxes:
            self._missed += 1
            if self._missed > self.max_missed:
                self._last = None
            return None
        largest = max(boxes, key=lambda b: b.area)
        chosen = largest
        if self._last is not None:
            nearest = max(boxes, key=self._last.iou)
            if (self._last.iou(nearest) >= self.min_iou
                    and nearest.area >= self.min_size_ratio * largest.area):
                chosen = nearest
        self._last, self._missed = chosen, 0
        return chosen

    @property
    def remembered(self) -> list[Box]:
        """Where the face was last seen, while it is remembered (also through missed frames)."""
        return [] if self._last is None else [self._last]

    def reset(self) -> None:
        """Forget the face (call between videos)."""
        self._last, self._missed = None, 0


@dataclass
class _Track:
    face_id: int
    box: Box
    missed: int = 0


class MultiFaceTracker:
    """Every face, each with an integer id that stays with it across frames (ids from 0).

    Each frame, track-box pairs are matched greedily, highest IoU first, down to ``min_iou``. A
    box matched to no track starts a new id; a track unmatched for more than ``max_missed``
    frames in a row ends, and its face gets a new id if it comes back.

    Args:
        min_iou: least overlap for a box to continue a track.
        max_missed: frames a track may go unmatched before it ends.
    """

    def __init__(self, min_iou: float = 0.3, max_missed: int = 5):
        self.min_iou, self.max_missed = min_iou, max_missed
        self._tracks: list[_Track] = []
        self._next_id = 0

    def update(self, boxes: list[Box]) -> list[tuple[int, Box]]:
        """``(face_id, box)`` for every box of this frame, sorted by face id."""
        pairs = sorted(
            ((track.box.iou(box), t, b) for t, track in enumerate(self._tracks) for b, box in enumerate(boxes)),
            key=lambda pair: (-pair[0], pair[1], pair[2]),
        )
        track_of_box: dict[int, int] = {}
        matched_tracks: set[int] = set()
        for overlap, t, b in pairs:
            if overlap < self.min_iou:
                break
            if t in matched_tracks or b in track_of_box:
                continue
            track_of_box[b] = t
            matched_tracks.add(t)
        for t, track in enumerate(self._tracks):
            if t not in matched_tracks:
                track.missed += 1
        faces = []
        new_tracks = []
        for b, box in enumerate(boxes):
            if b in track_of_box:
                track = self._tracks[track_of_box[b]]
                track.box, track.missed = box, 0
            else:
                track = _Track(self._next_id, box)
                self._next_id += 1
                new_tracks.append(track)
            faces.append((track.face_id, box))
        self._tracks = [t for t in self._tracks if t.missed <= self.max_missed] + new_tracks
        return sorted(faces, key=lambda face: face[0])

    @property
    def remembered(self) -> list[Box]:
        """Where each tracked face was last seen, missed ones included until their track ends."""
        return [track.box for track in self._tracks]

    def reset(self) -> None:
        """Forget every face and start ids from 0 again (call between videos)."""
        self._tracks, self._next_id = [], 0
