"""Predicting a batch of inputs (``cer predict``, :func:`predict`): find the sources, load the
model, stream each source through a :class:`~cer.predict.predictor.VideoPredictor`, write the
per-input files, the summary and the submission (:mod:`cer.predict.outputs`).

An input that cannot be read is reported in the summary and the others go on; earlier outputs are
kept unless ``overwrite`` or ``skip_done`` says otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import torch

from cer.faces.crop import DEFAULT_MARGIN
from cer.predict.outputs import VideoPrediction
from cer.predict.predictor import FaceClassifier, VideoPredictor
from cer.predict.smoothing import DEFAULT_SMOOTHING
from cer.video.sources import Source

DEFAULT_CURRICULUM = "four_stage"
TRAIN_HINT = "accelerate launch -m cer.train curricula/four_stage.yaml"


def default_model_dir(runs: Path = Path("runs")) -> Path:
    """The newest run of the built-in curriculum (``runs/four_stage/<timestamp>/``) that holds a
    trained model, else the newest such run of any config under ``runs/``.

    Raises:
        FileNotFoundError: no run holds a model; the message says how to train one.
    """
    def newest(pattern: str) -> Path | None:
        found = sorted(runs.glob(pattern), key=lambda p: (p.parent.parent.name, p.parent.parent.parent.name))
        return found[-1].parent.parent if found else None

    run = newest(f"{DEFAULT_CURRICULUM}/*/best/model.json") or newest("*/*/best/model.json")
    if run is None:
        raise FileNotFoundError(
            f"no trained model under {runs.resolve()}: train one with `{TRAIN_HINT}` "
            "(from the folder that should hold runs/), or pass --model RUN_DIR"
        )
    return run


def resolve_device(name: str) -> torch.device:
    """``auto`` -> cuda when available, else cpu; ``cpu``/``cuda`` as given."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda was asked for but torch sees no CUDA device: use --device cpu")
    return torch.device(name)


class Predictions(list):
    """Per-frame rows of every input (dicts with a ``video`` key, see :mod:`cer.predict.outputs`),
    plus what the run did.

    Attributes:
        summaries: one :class:`~cer.predict.outputs.VideoSummary` per input, in input order.
        out: the folder the files went to.
        submission: the submission file, if one was written.
        score: frame-level macro F1 against ``ground_truth`` (``{"f1", "frames", "missing"}``), if given.
        frames: frames predicted in this run (inputs kept by ``skip_done`` not counted).
        seconds: wall time of the predictions.
        skipped_files: files under the inputs that are neither videos nor images.
    """

    def __init__(self, rows: Iterable[dict[str, Any]] = (), **info: Any):
        super().__init__(rows)
        self.summaries = info.get("summaries", [])
        self.out, self.submission = info.get("out"), info.get("submission")
        self.score, self.frames, self.seconds = info.get("score"), info.get("frames", 0), info.get("seconds", 0.0)
        self.skipped_files = info.get("skipped_files", [])

    @property
    def failed(self) -> list:
        return [s for s in self.summaries if s.status == "failed"]

    @property
    def done(self) -> list:
        return [s for s in self.summaries if s.status != "failed"]

    def report_line(self) -> str:
        """``videos done N, failed M, frames F, X frames/s``."""
        rate = self.frames / self.seconds if self.seconds > 0 else 0.0
        return (f"videos done {len(self.done)}, failed {len(self.failed)}, frames {self.frames}, "
                f"{rate:.1f} frames/s")


def predict(inputs: str | Path | Sequence[str | Path], model: str | Path | Sequence[str | Path] | None = None, *,
            constrain: str | None = None, faces: str = "detect", detector: str = "mtcnn",
            all_faces: bool = False, smooth: str = DEFAULT_SMOOTHING, batch_size: int = 64,
            out: str | Path | None = None, overwrite: bool = False, skip_done: bool = False,
            submission: str | Path | None = None, ground_truth: str | Path | None = None,
            plot: bool = False, annotate: bool = False, device: str = "auto", progress: bool | None = None,
            keep_rows: bool = True, full_every: int = 25, margin: float | None = None,
            align: str = "auto") -> Predictions:
    """Compound-expression labels for every frame of videos, frame folders and images.

    Writes into ``out`` a per-frame CSV per input, ``summary.csv`` and, if asked, the submission,
    timelines and annotated videos (see :mod:`cer.predict.outputs`). An input that cannot be read
    is reported in the summary (``status`` ``failed`` and the reason) and the others go on.

    Args:
        inputs: files or folders (recursed).
        model: a run folder or its ``best/``, or several: an ensemble whose probabilities are
            averaged before smoothing and constrained inference; default: the newest run of
            ``runs/four_stage/``.
        constrain: ``c-expr``, ``raf-compound``, ``basic`` or a YAML file; default: the model's.
        faces: ``detect`` (find faces) or ``full`` (every frame is already a face crop).
        detector: ``mtcnn`` or ``haar`` (with ``faces="detect"``).
        all_faces: every face with a face id; else the largest face, tracked.
        smooth: ``gaussian:SIGMA``, ``box:K`` (frames) or ``none``.
        batch_size: face crops per forward pass.
        out: output folder; default ``predictions/`` beside the first input.
        overwrite: replace existing outputs (else existing outputs are an error).
        skip_done: keep inputs whose per-frame CSV exists, predict the rest; rewrites the summary
            and the submission from all per-frame CSVs.
        submission: write the C-EXPR-DB submission (every frame, input order) to this file.
        ground_truth: a file in the submission format: report frame-level macro F1 against it.
        plot: write ``<name>_timeline.png``.
        annotate: write ``<name>_annotated.mp4`` (H.264) with boxes and labels drawn.
        device: ``auto``, ``cpu`` or ``cuda``.
        progress: progress bars; None shows them on a terminal only.
        keep_rows: return the per-frame rows (False keeps memory flat for long batches).
        full_every: see :class:`FaceSearch`.
        margin: context around a detected box, as a share of its longer side; default: the
            model's ``face_margin`` (the framing of its training faces), else 0.25.
        align: ``auto`` aligns detected faces on their five landmarks where the model records the
            template its training faces were aligned on (``face_template``), else box-crops them;
            ``box`` always box-crops; ``builtin`` aligns on the built-in renderer's template (models
            trained on the built-in data before they recorded it).

    Returns:
        The per-frame rows (if ``keep_rows``) with the summaries and the score attached.
    """
    import time

    from tqdm.auto import tqdm

    from cer.faces.detectors import create_detector
    from cer.models.trained import load_classifier
    from cer.predict.outputs import (
        OutputPaths,
        VideoSummary,
        fallback_label,
        read_frame_csv,
        score_submission,
        summarise_frame_csv,
        write_frame_csv,
        write_submission,
        write_summary,
    )
    from cer.predict.smoothing import parse_smoothing
    from cer.taxonomy import constraint_set
    from cer.video.frames import probe
    from cer.video.sources import find_sources

    inputs = [inputs] if isinstance(inputs, (str, Path)) else list(inputs)
    if faces not in ("detect", "full"):
        raise ValueError(f"faces={faces!r}: use 'detect' or 'full'")
    smoothing = parse_smoothing(smooth)
    skipped: list[Path] = []
    out = Path(out) if out is not None else Path(inputs[0]).resolve().parent / "predictions"
    # What an earlier run wrote (annotated videos) is never an input, wherever --out points.
    sources = [s for s in find_sources(inputs, skipped=skipped) if out.resolve() not in s.path.resolve().parents]
    if not sources:
        raise FileNotFoundError(f"no videos, frame folders or images under {', '.join(map(str, inputs))}")
    _check_unique_names(sources)
    paths = {s: OutputPaths.of(out, s.name) for s in sources}
    aggregates = [out / "summary.csv", *([Path(submission)] if submission else [])]
    _check_existing(sources, paths, aggregates, plot, annotate, overwrite, skip_done)

    folders = [default_model_dir()] if model is None else [model] if isinstance(model, (str, Path)) else list(model)
    members = [load_classifier(folder, "cer predict") for folder in folders]
    cset = constraint_set(constrain or _agreed(folders, members, "constrain", None, "--constrain"))
    if faces == "full":
        margin = 0.0  # the frame is the crop
    elif margin is None:  # models from before face_margin: the old fixed value
        margin = _agreed(folders, members, "face_margin", DEFAULT_MARGIN, "--margin")
    predictor = VideoPredictor(
        FaceClassifier(members, resolve_device(device)),
        create_detector("full" if faces == "full" else detector), cset, smoothing,
        all_faces=all_faces, batch_size=batch_size, margin=margin, full_every=full_every,
        template=None if faces == "full" else face_template(align, folders, members),
    )
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    summaries: list[VideoSummary] = []
    frames, started = 0, time.perf_counter()
    for source in tqdm(sources, desc="videos", unit="video", disable=_bar_off(progress)):
        target = paths[source]
        summary = VideoSummary(source.name, str(source.path), "done")
        summaries.append(summary)
        reused = skip_done and target.frame_csv.is_file()
        if reused:
            summary.reason = "predicted by an earlier run (--skip-done)"
            if keep_rows:
                rows.extend({"video": source.name, **row} for row in read_frame_csv(target.frame_csv))
        else:
            clock = time.perf_counter()
            try:
                total = probe(source)["frames"]
                with tqdm(total=total, desc=source.name, unit="frame", leave=False,
                          disable=_bar_off(progress)) as bar:
                    prediction = predictor.predict(source, bar.update)
                # The per-frame CSV goes last: while it is missing the input counts as not done.
                if plot:
                    from cer.predict.plots import plot_timeline
                    plot_timeline(prediction, target.timeline)
                if annotate:
                    from cer.predict.plots import write_annotated
                    write_annotated(source, prediction, target.annotated)
                write_frame_csv(target.frame_csv, prediction.rows(), cset.names)
            except Exception as error:  # one bad input must not stop the batch
                summary.status, summary.reason = "failed", _reason(error)
                summary.seconds = time.perf_counter() - clock
                for stale in (target.frame_csv, target.timeline, target.annotated):
                    stale.unlink(missing_ok=True)  # nothing of a failed input may pass for done
                continue
            summary.seconds = time.perf_counter() - clock
            frames += len(prediction.frames)
            summary.status, summary.reason = _status(prediction)
            if keep_rows:
                rows.extend({"video": source.name, **row} for row in prediction.rows())
        summarise_frame_csv(target.frame_csv, summary)
    seconds = time.perf_counter() - started

    write_summary(out / "summary.csv", summaries, cset.names)
    score = None
    if submission:
        finished = [(s.name, paths[src].frame_csv) for s, src in zip(summaries, sources) if s.status != "failed"]
        write_submission(Path(submission), finished, cset.names, fallback_label(summaries))
        if ground_truth:
            score = score_submission(Path(submission), Path(ground_truth), len(cset))
    return Predictions(rows, summaries=summaries, out=out, submission=submission, score=score,
                       frames=frames, seconds=seconds, skipped_files=skipped)


def face_template(align: str, folders: Sequence, members: Sequence[tuple[Any, dict[str, Any]]]) -> Any:
    """The landmark template detected faces are aligned on (None: box crops), for ``--align``."""
    if align == "box":
        return None
    if align == "builtin":
        from cer.synth.face_geometry import aligned_template

        return aligned_template()
    if align != "auto":
        raise ValueError(f"align must be auto, box or builtin, got {align!r}")
    recorded = [meta["face_template"] if "face_template" in meta else _builtin_template_of(meta) for _, meta in members]
    return _agreed(folders, [(None, {"face_template": t}) for t in recorded], "face_template", None, "--align")


def _builtin_template_of(meta: dict[str, Any]) -> Any:
    """For a CE model saved before models recorded ``face_template``: the built-in template if its
    stored config read only the built-in faces (no source has a path), else None (box crops)."""
    data = (meta.get("config") or {}).get("data") or {}
    sources = [*(data.get("single") or []), *(data.get("compound") or []), *([data["val"]] if data.get("val") else [])]
    if not sources or any(s.get("path") is not None for s in sources):
        return None
    from cer.synth.face_geometry import aligned_template

    return [list(p) for p in aligned_template()]


def _agreed(folders: Sequence, members: Sequence[tuple[Any, dict[str, Any]]], key: str, default: Any,
            option: str) -> Any:
    """The models' common ``key`` (``default`` where a model lacks it); an ensemble whose members
    disagree must be told which to use by ``option``."""
    values = {str(folder): meta.get(key, default) for folder, (_, meta) in zip(folders, members)}
    if len(set(map(repr, values.values()))) > 1:
        listed = "; ".join(f"{folder}: {value}" for folder, value in values.items())
        raise ValueError(f"the models differ in {key} ({listed}): choose one with {option}")
    return next(iter(values.values()))


def _bar_off(progress: bool | None) -> bool | None:
    return None if progress is None else not progress  # tqdm: None = off when not a terminal


def _status(prediction: VideoPrediction) -> tuple[str, str]:
    notes = []
    if prediction.errors:
        first = min(prediction.errors)
        notes.append(f"{len(prediction.errors)} frame(s) could not be decoded (first: frame {first}: "
                     f"{prediction.errors[first]}); they got interpolated labels")
    if len(prediction.face_pos) == 0:
        return "no_face", "; ".join(["no face found in any frame", *notes])
    return ("damaged" if notes else "ok"), "; ".join(notes)


def _reason(error: Exception) -> str:
    from cer.video.frames import VideoReadError

    return str(error) if isinstance(error, VideoReadError) else f"{type(error).__name__}: {error}"


def _check_unique_names(sources: Sequence[Source]) -> None:
    seen: dict[str, Source] = {}
    for source in sources:
        if source.name in seen:
            raise ValueError(
                f"two inputs are both named {source.name!r} ({seen[source.name].path} and {source.path}): "
                "their outputs would collide; predict them into separate --out folders"
            )
        seen[source.name] = source


def _check_existing(sources: Sequence[Source], paths: dict, aggregates: Sequence[Path], plot: bool,
                    annotate: bool, overwrite: bool, skip_done: bool) -> None:
    """Refuse to replace earlier outputs unless asked to (``overwrite``, or ``skip_done``, which
    keeps finished inputs and rebuilds the summary and submission from them)."""
    if overwrite:
        return
    existing = []
    for source in sources:
        target = paths[source]
        if target.frame_csv.exists():
            if not skip_done:
                existing.append(target.frame_csv)
            continue  # done: kept as it is
        wanted = [p for p, on in ((target.timeline, plot), (target.annotated, annotate)) if on]
        existing += [p for p in wanted if p.exists() and not skip_done]
    existing += [p for p in aggregates if p.exists() and not skip_done]
    if existing:
        more = f" and {len(existing) - 4} more" if len(existing) > 4 else ""
        shown = ", ".join(str(p) for p in existing[:4]) + more
        raise FileExistsError(
            f"{shown} already exist: pass --overwrite to replace them, or --skip-done to keep the "
            "inputs predicted before and predict only the rest"
        )
