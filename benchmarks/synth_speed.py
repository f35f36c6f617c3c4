"""How fast the synthetic faces render, against decoding the same faces from JPEG, on one core.

The full still-image pipeline is timed: sample an identity, FACS prototype AUs and a scene, then
``render_image``. The faces are saved as JPEG (quality 90) and decoded back (PIL open, convert to
RGB, ``np.asarray``): that is what a data loader reading a real data set pays per image, so a
render/decode ratio near 1 means rendering on the fly costs no more than reading files.

    python benchmarks/synth_speed.py --n 500 --size 112
    python benchmarks/synth_speed.py --n 500 --floor
    python benchmarks/synth_speed.py --n 200 --sweep 32,64,112,160,224
    python benchmarks/synth_speed.py --n 0 --haar 200    # only the face-detector check

``--sweep 32,112,224`` renders and decodes at several sizes and splits each cost into a part per
face and a part per pixel (least squares over the sizes): the per-pixel ratio is what would remain
of the render/decode ratio if every per-call overhead were gone, e.g. by rendering many faces per
call.

``--floor`` also times a deliberately minimal face drawn with the renderer's own primitives: its
pose grid, 12 Gaussian shades and 6 ellipses over the whole square, to RGBA (a real face paints
about 30 Gaussians, 10 soft lines and 15 coverages, each in its own window), against the same
decode: a floor for any face drawn this way.

``--haar N`` also checks that the faces look like faces to a classic detector: N frontal-ish faces
(|yaw| <= 10, |pitch|, |roll| <= 8 degrees) of 100-140 px on 320x240 scenes of moderate
difficulty, and the share that OpenCV's Haar frontal-face cascade finds.
"""

from __future__ import annotations

import os

# One core: keep numpy's and OpenCV's thread pools out of the measurement.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from cer.synth.face import Pose, render_face  # noqa: E402
from cer.synth.face_fields import blob, coverage, planar  # noqa: E402
from cer.synth.face_geometry import Raster  # noqa: E402
from cer.synth.identity import Identity, sample_identity  # noqa: E402
from cer.synth.preview import prototype_aus, sheet_classes  # noqa: E402
from cer.synth.scene import composite, render_background, render_image, sample_scene  # noqa: E402


def render_faces(n: int, size: int, seed: int) -> tuple[list[np.ndarray], float, float]:
    """Render ``n`` random faces; returns them with the wall and CPU seconds it took."""
    classes = sheet_classes()
    rng = np.random.default_rng(seed)
    faces = []
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(n):
        identity = sample_identity(rng)
        aus = prototype_aus(classes[i % len(classes)][1], rng)
        pose = Pose(float(rng.uniform(-20, 20)), float(rng.uniform(-10, 10)), float(rng.uniform(-10, 10)))
        faces.append(render_image(identity, aus, pose, sample_scene(rng), size))
    return faces, time.perf_counter() - wall, time.process_time() - cpu


def decode_faces(paths: list[Path]) -> tuple[float, float]:
    """Decode every JPEG as a data loader would; returns wall and CPU seconds."""
    wall, cpu = time.perf_counter(), time.process_time()
    for p in paths:
        with Image.open(p) as im:
            np.asarray(im.convert("RGB"))
    return time.perf_counter() - wall, time.process_time() - cpu


def haar_detection_rate(n: int, seed: int, difficulty: float = 0.5) -> float:
    """Share of ``n`` pasted faces that the Haar frontal-face cascade finds where they are."""
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    classes = sheet_classes()
    rng = np.random.default_rng(seed)
    found = 0
    for i in range(n):
        identity, aus = sample_identity(rng), prototype_aus(classes[i % len(classes)][1], rng)
        side = int(rng.integers(100, 141))
        pose = Pose(float(rng.uniform(-10, 10)), float(rng.uniform(-8, 8)), float(rng.uniform(-8, 8)))
        scene = sample_scene(rng, difficulty)
        x, y = int(rng.integers(0, 320 - side)), int(rng.integers(0, 240 - side))
        background = render_background(scene, 240, 320)
        image = composite(render_face(identity, aus, pose, side), scene, background, (x, y))
        boxes = cascade.detectMultiScale(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), 1.1, 3, minSize=(30, 30))
        # A hit is a box centred on the face (the middle of the pasted square).
        cx, cy = x + side / 2, y + side / 2
        found += any(abs(bx + bw / 2 - cx) < 0.2 * side and abs(by + bh / 2 - cy) < 0.25 * side
                     for bx, by, bw, bh in boxes)
    return found / max(n, 1)


def minimal_face_ms(n: int, size: int, seed: int) -> float:
    """Milliseconds a face for the pose grid, 12 Gaussians and 6 ellipses over the whole square."""
    rng = np.random.default_rng(seed)
    gaussians = rng.uniform((-0.8, -0.8, 0.05, 0.05), (0.8, 0.8, 0.3, 0.3), (12, 4))
    ellipses = rng.uniform((-0.8, -0.8, 0.05, 0.05), (0.8, 0.8, 0.3, 0.3), (6, 4))
    colours = [planar(c) for c in rng.uniform(0.0, 1.0, (6, 3))]
    whole = (slice(0, size), slice(0, size))
    start = time.perf_counter()
    for _ in range(n):
        pose = Pose(float(rng.uniform(-20, 20)), float(rng.uniform(-10, 10)), float(rng.uniform(-10, 10)))
        r = Raster(Identity(), pose, size, "face", 0.0)
        r.darken(whole, sum(0.1 * blob(r.u - cu, r.v - cv, su, sv) for cu, cv, su, sv in gaussians))
        for (cu, cv, su, sv), colour in zip(ellipses, colours):
            d = (np.sqrt(((r.u - cu) / su) ** 2 + ((r.v - cv) / sv) ** 2) - 1.0) * su
            r.blend(whole, coverage(d, r.px), colour)
        r.rgba()
    return 1000 * (time.perf_counter() - start) / n


def render_and_decode(n: int, size: int, seed: int) -> dict[str, float]:
    """Render ``n`` faces of ``size`` px, save them as JPEG, decode them back: wall and CPU seconds."""
    render_faces(min(n, 10), size, seed + 1)  # warm caches and imports
    faces, render_wall, render_cpu = render_faces(n, size, seed)
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, face in enumerate(faces):
            paths.append(Path(tmp) / f"{i:05d}.jpg")
            Image.fromarray(face).save(paths[-1], quality=90)
        decode_faces(paths[: min(len(paths), 20)])  # warm the file cache
        decode_wall, decode_cpu = decode_faces(paths)
    return {"render_wall": render_wall, "render_cpu": render_cpu,
            "decode_wall": decode_wall, "decode_cpu": decode_cpu}


def sweep(n: int, sizes: list[int], seed: int) -> dict[str, float]:
    """Per-face and per-pixel parts of the render and decode costs, fitted over several sizes."""
    pixels, render_ms, decode_ms = [], [], []
    print(f"{n} faces at each size, one core")
    for size in sizes:
        t = render_and_decode(n, size, seed)
        pixels.append(size * size)
        render_ms.append(1000 * t["render_wall"] / n)
        decode_ms.append(1000 * t["decode_wall"] / n)
        print(f"{size:4d} px: render {render_ms[-1]:7.2f} ms, decode {decode_ms[-1]:6.3f} ms, "
              f"ratio {render_ms[-1] / decode_ms[-1]:5.1f}")
    # cost = per_face + per_pixel * pixels, least squares over the sizes.
    render_px, render_fixed = np.polyfit(pixels, render_ms, 1)
    decode_px, decode_fixed = np.polyfit(pixels, decode_ms, 1)
    if decode_px <= 0:
        raise SystemExit("decode time did not grow with the size (timing noise): sweep over larger sizes "
                         "or more faces, e.g. --sweep 64,160,320")
    result = {"render_per_face_ms": float(render_fixed), "render_per_pixel_us": float(1000 * render_px),
              "decode_per_face_ms": float(decode_fixed), "decode_per_pixel_us": float(1000 * decode_px),
              "per_pixel_ratio": float(render_px / decode_px)}
    print(f"render = {render_fixed:.2f} ms a face + {1000 * render_px:.4f} us a pixel")
    print(f"decode = {decode_fixed:.3f} ms a face + {1000 * decode_px:.4f} us a pixel")
    print(f"per-pixel render / decode = {result['per_pixel_ratio']:.1f} (the ratio left with no per-call overhead)")
    return result


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=500, help="number of faces to render (default 500)")
    parser.add_argument("--size", type=int, default=112, help="side of each face in pixels (default 112)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--sweep", metavar="SIZES", default=None,
                        help="comma-separated sides (e.g. 32,112,224): fit per-face and per-pixel costs instead")
    parser.add_argument("--floor", action="store_true",
                        help="also time a minimal face drawn with the renderer's primitives (a floor)")
    parser.add_argument("--haar", type=int, default=0, metavar="N",
                        help="also measure the Haar face-detection rate on N pasted faces (default 0: skip)")
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)

    result: dict[str, float] = {}
    if args.haar:
        result["haar_detection_rate"] = haar_detection_rate(args.haar, args.seed)
        print(f"Haar frontal-face cascade found {result['haar_detection_rate']:.1%} of {args.haar} faces")
    if args.n <= 0:
        return result
    if args.sweep:
        try:
            sizes = [int(s) for s in args.sweep.split(",")]
        except ValueError:
            sizes = []
        if len(sizes) < 2 or min(sizes) < 8:
            parser.error(f"--sweep {args.sweep}: give two or more sides of 8 px or more, e.g. 32,112,224")
        if args.floor:
            parser.error("--floor times the plain run's size: run it without --sweep")
        return result | sweep(args.n, sizes, args.seed)
    t = render_and_decode(args.n, args.size, args.seed)

    n = args.n
    result |= {
        "render_per_s": n / t["render_wall"],
        "decode_per_s": n / t["decode_wall"],
        "render_ms": 1000 * t["render_wall"] / n,
        "decode_ms": 1000 * t["decode_wall"] / n,
        "render_cpu_ms": 1000 * t["render_cpu"] / n,
        "decode_cpu_ms": 1000 * t["decode_cpu"] / n,
        "ratio": t["render_wall"] / t["decode_wall"],
        "ratio_cpu": t["render_cpu"] / max(t["decode_cpu"], 1e-9),
    }
    print(f"{n} faces of {args.size}x{args.size} px, one core")
    print(f"render: {result['render_per_s']:8.1f} faces/s  ({result['render_ms']:.2f} ms wall, "
          f"{result['render_cpu_ms']:.2f} ms CPU per face)")
    print(f"decode: {result['decode_per_s']:8.1f} images/s ({result['decode_ms']:.2f} ms wall, "
          f"{result['decode_cpu_ms']:.2f} ms CPU per image)")
    print(f"render_time / decode_time = {result['ratio']:.1f} (wall), {result['ratio_cpu']:.1f} (CPU)")
    if args.floor:
        result["minimal_face_ms"] = minimal_face_ms(n, args.size, args.seed)
        print(f"minimal face: {result['minimal_face_ms']:.2f} ms, "
              f"{result['minimal_face_ms'] / result['decode_ms']:.1f}x the decode")
    return result


if __name__ == "__main__":
    main()
