"""``cer predict``: compound-expression labels for every frame of videos, frame folders and images."""

from __future__ import annotations

import sys

import click

from cer.predict.smoothing import DEFAULT_SMOOTHING  # numpy only: `--help` stays quick


def _check_smoothing(ctx: click.Context, param: click.Parameter, value: str) -> str:
    from cer.predict.smoothing import parse_smoothing

    try:
        parse_smoothing(value)
    except ValueError as err:
        raise click.BadParameter(str(err)) from None
    return value


def _check_constrain(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    from cer.taxonomy import constraint_set

    if value is None:
        return None
    try:
        constraint_set(value)
    except (KeyError, ValueError, FileNotFoundError) as err:
        raise click.BadParameter(err.args[0] if err.args else str(err)) from None
    return value


@click.command("predict", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--model", type=click.Path(exists=True, file_okay=False), multiple=True,
              help="Trained model: a run folder or its best/ (default: the newest run under "
                   "runs/four_stage/, else the newest run under runs/). Repeat for an ensemble: "
                   "the models' probabilities are averaged before constrained inference.")
@click.option("--constrain", default=None, callback=_check_constrain,
              help="Classes to predict: c-expr, raf-compound, basic or a YAML file "
                   "(default: the set the model was trained for).")
@click.option("--faces", type=click.Choice(["detect", "full"]), default="detect", show_default=True,
              help="detect: find faces in each frame; full: every frame is already a face crop.")
@click.option("--detector", type=click.Choice(["mtcnn", "haar"]), default="mtcnn", show_default=True,
              help="Face detector for --faces detect (mtcnn finds turned heads; haar needs no weights).")
@click.option("--all-faces", is_flag=True,
              help="Predict every face, each with a face id (default: the largest face, tracked).")
@click.option("--smooth", default=DEFAULT_SMOOTHING, show_default=True, callback=_check_smoothing,
              help="Temporal filter of the scores, in frames: gaussian:SIGMA, box:K or none.")
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True,
              help="Face crops per forward pass of the model.")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Output folder (default: predictions/ next to the first input).")
@click.option("--overwrite", is_flag=True, help="Replace outputs that already exist.")
@click.option("--skip-done", is_flag=True,
              help="Keep inputs whose per-frame CSV exists and predict only the rest "
                   "(summary and submission are rebuilt from all of them).")
@click.option("--submission", type=click.Path(dir_okay=False), default=None,
              help="Also write the C-EXPR-DB submission (image_location,<classes>; VV/NNNNN.jpg,<index>) "
                   "for every frame to this file. Frames without a face get the label interpolated from "
                   "their neighbours; a video without any face, the label predicted most often in the run.")
@click.option("--ground-truth", type=click.Path(exists=True, dir_okay=False), default=None,
              help="A file in the submission format: report frame-level macro F1 against it "
                   "(needs --submission).")
@click.option("--plot", is_flag=True, help="Write <video>_timeline.png: scores over time and the label band.")
@click.option("--annotate", is_flag=True, help="Write <video>_annotated.mp4 (H.264) with boxes and labels drawn.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
              help="Where the model runs (auto: cuda when available).")
@click.option("--full-every", type=click.IntRange(min=1), default=25, show_default=True,
              help="Frames between whole-frame detections; the frames in between look for the "
                   "faces where they were (new faces are found at the next whole frame). 1 detects "
                   "on every whole frame.")
@click.option("--margin", type=click.FloatRange(min=-0.5), default=None,
              help="Context added around a detected face box, as a share of its longer side, so that "
                   "crops are framed like the training faces [default: the model's face_margin, "
                   "else 0.25].")
@click.option("--align", type=click.Choice(["auto", "box", "builtin"]), default="auto", show_default=True,
              help="auto: align each detected face on its five landmarks (MTCNN) as the model's training "
                   "faces were aligned, where the model records how (face_template); else crop the box "
                   "with --margin. box: always crop the box. builtin: align on the built-in renderer's "
                   "template (models trained on the built-in faces before they recorded it).")
def predict(inputs: tuple[str, ...], model: tuple[str, ...], constrain: str | None, faces: str, detector: str,
            all_faces: bool, smooth: str, batch_size: int, out: str | None, overwrite: bool,
            skip_done: bool, submission: str | None, ground_truth: str | None, plot: bool, annotate: bool,
            device: str, full_every: int, margin: float | None, align: str) -> None:
    """Label every frame of INPUTS (videos, folders of frames, images; folders are searched) with a
    compound expression.

    Writes one per-frame CSV per video and summary.csv into --out. An input that cannot be read is
    reported in summary.csv and the others go on; the exit code is 1 if any input failed.

    \b
    Example:
      cer predict videos/ --constrain c-expr --submission predictions/submission.csv
      cer predict videos/ --model runs/four_stage/seed0 --model runs/four_stage/seed1
    """
    if ground_truth and not submission:
        raise click.UsageError("--ground-truth scores the submission: add --submission FILE")
    from cer.predict.pipeline import predict as run_predict

    try:
        result = run_predict(
            list(inputs), list(model) or None, constrain=constrain, faces=faces, detector=detector, all_faces=all_faces,
            smooth=smooth, batch_size=batch_size, out=out, overwrite=overwrite, skip_done=skip_done,
            submission=submission, ground_truth=ground_truth, plot=plot, annotate=annotate, device=device,
            progress=None, keep_rows=False, full_every=full_every, margin=margin, align=align,
        )
    except (FileExistsError, FileNotFoundError, ValueError, RuntimeError) as err:
        raise click.ClickException(str(err)) from None
    if result.skipped_files:
        click.echo(f"left out {len(result.skipped_files)} file(s) that are neither videos nor images, "
                   f"e.g. {result.skipped_files[0]}", err=True)
    for summary in result.failed:
        click.echo(f"failed: {summary.path}: {summary.reason}", err=True)
    click.echo(f"outputs in {result.out}" + (f"; submission {result.submission}" if result.submission else ""))
    if result.score is not None:
        score = result.score
        missing = f", {score['missing']} ground-truth frames without a prediction" if score["missing"] else ""
        click.echo(f"frame-level macro F1 {score['f1']:.4f} over {score['frames']} frames{missing}")
    click.echo(result.report_line())
    sys.exit(1 if result.failed else 0)
