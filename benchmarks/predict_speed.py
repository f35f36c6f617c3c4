"""Speed and memory of ``cer predict`` against a naive per-frame loop, one run each.

The video: a 640 x 360, 25 fps H.264 clip of a synthetic face going through compound-expression
episodes (``cer.synth``'s C-EXPR-DB renderer at that frame size), or any video given with
``--video`` (looped to the length asked). The long video for the memory check is the short one
repeated (packets copied with shifted timestamps: no re-encoding).

- ``cer predict``: ``cer.predict.predict`` as the command runs it (background decoding, face search
  around the tracked face, batched classification, smoothing, the per-frame CSV).
- naive: what the published notebooks do: OpenCV ``VideoCapture``, the detector on every whole
  frame, every face classified alone (batch 1).

Both use the same model and the same detector, and run in child processes one after the other, so
that each one's peak resident memory (``ru_maxrss``) is its own. Goals (issue 4): >= 3x the naive
frames/s; peak memory on the long video within 1.2x of the short one.

    python benchmarks/predict_speed.py                          # 1 min and 10 min
    python benchmarks/predict_speed.py --seconds 20 --long-seconds 120 --naive-seconds 10
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FPS = 25
FRAME_SIZE = (640, 360)


def make_synthetic_video(folder: Path, seconds: float, seed: int) -> Path:
    """One C-EXPR-DB-style video of ``seconds`` at 640 x 360 (rendered frame by frame)."""
    from cer.synth.layouts import c_expr_db

    frames = int(round(seconds * FPS))
    size = c_expr_db.CExprSize(videos=1, frames=(frames, frames), frame_size=FRAME_SIZE, face_size=(120, 170))
    c_expr_db.write(folder, size, seed=seed, workers=1)
    return folder / "videos" / "01.mp4"


def video_seconds(path: Path) -> float:
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for p in container.demux(stream) if p.size)
        return frames / float(stream.average_rate or FPS)


def loop_video(source: Path, target: Path, times: int) -> Path:
    """``source`` played ``times`` times in a row: its packets copied with shifted timestamps (whole
    copies only, so that no frame loses the frames it is predicted from)."""
    import av

    with av.open(str(target), "w", format="mp4") as out:
        out_stream, offset = None, 0
        for _ in range(times):
            with av.open(str(source)) as src:
                stream = src.streams.video[0]
                if out_stream is None:
                    out_stream = out.add_stream_from_template(stream)
                end = 0
                for packet in src.demux(stream):
                    if not packet.size:
                        continue
                    end = max(end, packet.pts + (packet.duration or 1))
                    packet.pts += offset
                    packet.dts += offset
                    packet.stream = out_stream
                    out.mux(packet)
                offset += end
    return target


def untrained_model(folder: Path) -> Path:
    """The default architecture with fresh weights: speed does not depend on what it learned."""
    import torch

    from cer.models.backbone import create_backbone
    from cer.models.trained import save_classifier
    from cer.taxonomy import CE_BASIC

    torch.manual_seed(0)
    save_classifier(create_backbone("vit_face_tiny", 96, 6), folder, "vit_face_tiny", 96, {
        "label_space": CE_BASIC.name,
        "classes": list(CE_BASIC.classes), "mean": [0.5] * 3, "std": [0.5] * 3, "constrain": "c-expr",
    })
    return folder


# --- the two contenders (each runs in a child process) ------------------------------------------


def run_pipeline(video: Path, model: Path, detector: str, out: Path) -> dict:
    from cer.predict import predict

    result = predict(video, model, detector=detector, out=out, overwrite=True, progress=False, keep_rows=False)
    if result.failed:
        raise RuntimeError(result.failed[0].reason)
    return {"frames": result.frames, "seconds": result.seconds,
            "with_face": result.summaries[0].frames_with_face}


def run_naive(video: Path, model: Path, detector: str, max_frames: int | None) -> dict:
    import cv2
    import torch

    from cer.compound.constrained import constrained_argmax
    from cer.faces.crop import DEFAULT_MARGIN, crop_face
    from cer.faces.detectors import create_detector
    from cer.models.backbone import normalise
    from cer.models.trained import load_classifier
    from cer.taxonomy import constraint_set

    net, meta = load_classifier(model, "predict_speed")
    cset = constraint_set(meta["constrain"])
    margin = meta.get("face_margin", DEFAULT_MARGIN)  # the crop `cer predict` cuts for this model
    faces = create_detector(detector)
    capture = cv2.VideoCapture(str(video))
    frames = with_face = 0
    labels = []
    start = time.perf_counter()
    with torch.inference_mode():
        while max_frames is None or frames < max_frames:
            ok, bgr = capture.read()
            if not ok:
                break
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            boxes = faces.detect([rgb])[0]
            for box in boxes:
                crop = torch.from_numpy(crop_face(rgb, box, meta["img_size"], margin)).permute(2, 0, 1)[None]
                probs = torch.sigmoid(net(normalise(crop, meta["mean"], meta["std"])))
                labels.append(int(constrained_argmax(probs, cset)[0]))
            frames += 1
            with_face += bool(boxes)
    capture.release()
    return {"frames": frames, "seconds": time.perf_counter() - start, "with_face": with_face}


def child(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        if args.child == "pipeline":
            result = run_pipeline(Path(args.video), Path(args.model), args.detector, Path(scratch))
        else:
            result = run_naive(Path(args.video), Path(args.model), args.detector, args.max_frames)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(json.dumps(result))


def in_child(kind: str, video: Path, model: Path, detector: str, max_frames: int | None = None) -> dict:
    command = [sys.executable, __file__, "--child", kind, "--video", str(video), "--model", str(model),
               "--detector", detector]
    if max_frames:
        command += ["--max-frames", str(max_frames)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{kind} run failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60, help="length of the short video (s)")
    parser.add_argument("--long-seconds", type=float, default=600, help="length of the long video (s); 0 skips it")
    parser.add_argument("--naive-seconds", type=float, default=None,
                        help="time the naive loop on the first N seconds only (default: the whole short video)")
    parser.add_argument("--video", type=Path, default=None, help="loop this video instead of rendering one")
    parser.add_argument("--model", type=Path, default=None,
                        help="trained model (default: the newest run under runs/, else fresh weights)")
    parser.add_argument("--detector", default="mtcnn", choices=["mtcnn", "haar"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work-dir", type=Path, default=None, help="keep the videos here (default: a temp folder)")
    parser.add_argument("--child", choices=["pipeline", "naive"], help=argparse.SUPPRESS)
    parser.add_argument("--max-frames", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args)

    with tempfile.TemporaryDirectory() as scratch:
        work = args.work_dir or Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        model = args.model
        if model is None:
            from cer.predict.pipeline import default_model_dir

            try:
                model = default_model_dir()
            except FileNotFoundError:
                model = untrained_model(work / "untrained")
        print(f"model: {model}\ndetector: {args.detector}")

        t = time.perf_counter()
        short = work / "short.mp4"
        if args.video:
            loop_video(args.video, short, max(1, math.ceil(args.seconds / video_seconds(args.video))))
        else:
            short = make_synthetic_video(work / "render", args.seconds, args.seed)
        short_s = video_seconds(short)
        print(f"video: {args.video or 'synthetic face'}, {short_s:.0f} s at 640x360 (made in "
              f"{time.perf_counter() - t:.0f} s)")

        pipeline = in_child("pipeline", short, model, args.detector)
        naive_frames = int(args.naive_seconds * FPS) if args.naive_seconds else None
        naive = in_child("naive", short, model, args.detector, naive_frames)
        rate_p, rate_n = (r["frames"] / r["seconds"] for r in (pipeline, naive))
        print(f"\n{'':<14}{'frames':>8}{'with face':>11}{'seconds':>9}{'frames/s':>10}{'peak RSS MB':>13}")
        for name, r in (("cer predict", pipeline), ("naive loop", naive)):
            print(f"{name:<14}{r['frames']:>8}{r['with_face']:>11}{r['seconds']:>9.1f}"
                  f"{r['frames'] / r['seconds']:>10.1f}{r['peak_rss_mb']:>13.0f}")
        print(f"speed-up: {rate_p / rate_n:.2f}x (goal >= 3x)")

        if args.long_seconds:
            long = loop_video(short, work / "long.mp4", max(1, round(args.long_seconds / short_s)))
            longer = in_child("pipeline", long, model, args.detector)
            ratio = longer["peak_rss_mb"] / pipeline["peak_rss_mb"]
            print(f"\npeak RSS of cer predict: {short_s:.0f} s video {pipeline['peak_rss_mb']:.0f} MB, "
                  f"{video_seconds(long):.0f} s video {longer['peak_rss_mb']:.0f} MB: {ratio:.2f}x (goal <= 1.2x); "
                  f"{longer['frames'] / longer['seconds']:.1f} frames/s on the long one")

if __name__ == "__main__":
    main()
