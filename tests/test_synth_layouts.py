"""``cer synth``: the synthetic data sets match the published layouts and what SYNTH_INFO says.

The files are parsed here with the csv module, independently of ``cer.data``'s readers, so a
mistake shared by writer and reader would still show.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import cer.synth.generate as generate_module
from cer.cli import main as cer_main
from cer.synth.expression import (
    AU_PRESENT_THRESHOLD,
    Target,
    matching_prototype,
    sample_pattern,
    still_expression,
)
from cer.synth.face import face_box, render_face
from cer.synth.generate import COMPLETE_MARKER, SCALES, SYNTH_VERSION, default_layout, generate
from cer.synth.layouts.aff_wild2 import INVALID_SHARE
from cer.synth.layouts.c_expr_db import plan_videos, video_content
from cer.taxonomy import (
    AFFWILD2_AUS,
    AFFWILD2_EXPR,
    C_EXPR,
    CE_BASIC,
    RAF_BASIC,
    RAF_COMPOUND,
    compound_components,
)

AU_HEADER = [f"AU{n}" for n in AFFWILD2_AUS]
MTL_HEADER = ["image", "valence", "arousal", "expression", *AU_HEADER]


@pytest.fixture(scope="session")
def tiny(tiny_synth_render) -> tuple[Path, dict]:
    """All three layouts at the tiny scale, seed 0, on two worker processes (the session's one render)."""
    return tiny_synth_render


def tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def runs(mask: np.ndarray) -> int:
    """Number of contiguous True spans."""
    return int(np.sum(np.diff(np.concatenate([[0], mask.astype(int)])) == 1))


# --- labels -----------------------------------------------------------------------------------


def test_other_matches_no_prototype_and_labels_follow_the_taxonomy():
    rng = np.random.default_rng(0)
    for _ in range(200):
        pattern = sample_pattern(Target.other(), rng)
        assert matching_prototype(set(pattern.weights)) is None
    for k, name in enumerate(RAF_COMPOUND.classes):
        target = Target.compound(*compound_components(name))
        sample = still_expression(target, rng)
        assert sample.raf_compound == k and sample.raf_basic is None and sample.affwild2_expr is None
        if name.replace(" ", "_").lower() in [c.lower() for c in C_EXPR.classes]:
            assert C_EXPR.classes[sample.c_expr].lower() == name.replace(" ", "_").lower()
        else:
            assert sample.c_expr is None
    happy = still_expression(Target.basic(CE_BASIC.index("happiness")), rng)
    assert RAF_BASIC.classes[happy.raf_basic] == "Happiness"
    assert AFFWILD2_EXPR.classes[happy.affwild2_expr] == "Happiness"
    assert happy.valence > 0 and happy.au_occurrence[AFFWILD2_AUS.index(12)] == 1
    assert happy.au_occurrence == tuple(int(happy.aus[a] >= AU_PRESENT_THRESHOLD) for a in AFFWILD2_AUS)
    assert AFFWILD2_EXPR.classes[still_expression(Target.other(), rng).affwild2_expr] == "Other"
    assert still_expression(Target.neutral(), rng).raf_basic == RAF_BASIC.index("Neutral")


def test_same_seed_same_expression():
    a = still_expression(Target.compound(0, 1), np.random.default_rng(7))
    b = still_expression(Target.compound(0, 1), np.random.default_rng(7))
    assert a == b


# --- RAF-DB -------------------------------------------------------------------------------------


@pytest.mark.parametrize("subset, n_classes", [("basic", 7), ("compound", 11)])
def test_raf_db_files_match_info(tiny, subset, n_classes):
    root, infos = tiny
    raf = root / "raf-db"
    info = json.loads((raf / "SYNTH_INFO.json").read_text())
    assert info == infos["raf-db"] and info["image_size"] == 100 and info["seed"] == 0
    lines = (raf / subset / "EmoLabel" / "list_patition_label.txt").read_text().splitlines()
    per_class: dict[str, Counter] = {"train": Counter(), "test": Counter()}
    for line in lines:
        name, label = line.split(" ")
        split, number = name.removesuffix(".jpg").split("_")
        assert number.isdigit() and len(number) >= (5 if (subset, split) == ("basic", "train") else 4)
        assert 1 <= int(label) <= n_classes
        per_class[split][label] += 1
        image = raf / subset / "Image" / "aligned" / f"{split}_{number}_aligned.jpg"
        with Image.open(image) as im:
            assert im.format == "JPEG" and im.size == (100, 100) and im.mode == "RGB"
    for split in ("train", "test"):
        assert sum(per_class[split].values()) == info[subset][split]
        assert dict(per_class[split]) == info[subset]["per_class"][split]
        assert set(per_class[split]) == {str(k) for k in range(1, n_classes + 1)}  # every class present
    if subset == "basic":  # RAF-DB's imbalance, tempered: happiness most, fear least
        train = info["basic"]["per_class"]["train"]
        assert max(train, key=train.get) == "4" and min(train, key=train.get) == "2"
    else:  # C-EXPR's classes get the larger test share
        test = info["compound"]["per_class"]["test"]
        assert test["1"] > test["2"]  # happily surprised (C-EXPR) vs happily disgusted (not)


def test_raf_db_splits_are_identity_disjoint(tiny):
    root, _ = tiny
    info = json.loads((root / "raf-db" / "SYNTH_INFO.json").read_text())
    header, rows = read_csv(root / "raf-db" / "SYNTH_IDENTITIES.csv")
    assert header == ["subset", "image", "identity"]
    ids: dict[str, set[str]] = defaultdict(set)
    for subset, image, identity in rows:
        assert (root / "raf-db" / subset / "Image" / "aligned" / image).is_file()
        ids[image.split("_")[0]].add(identity)
    assert not ids["train"] & ids["test"]
    assert {s: len(v) for s, v in ids.items()} == info["identities"]
    assert len(rows) == sum(info[s][split] for s in ("basic", "compound") for split in ("train", "test"))


def test_a_larger_compound_test_set_of_more_people_leaves_every_other_face_as_it_was(tmp_path):
    from dataclasses import replace

    from cer.synth.layouts import raf_db

    small = replace(SCALES["tiny"].raf_db, basic_train=14, basic_test=14, compound_train_per_class=1,
                    compound_test_per_c_expr_class=1, compound_test_per_other_class=1,
                    train_identities=4, test_identities=3)
    larger = replace(small, compound_test_per_c_expr_class=4, compound_test_identities=12)
    for name, size in (("small", small), ("larger", larger)):
        raf_db.write(tmp_path / name, size, seed=0, workers=1)

    def ids(root: Path, subset: str, split: str) -> dict[str, str]:
        _, rows = read_csv(root / "SYNTH_IDENTITIES.csv")
        return {image: who for s, image, who in rows if s == subset and image.startswith(split)}

    def files(root: Path, subset: str, split: str) -> dict[str, bytes]:
        return {p.name: p.read_bytes() for p in (root / subset / "Image" / "aligned").glob(f"{split}_*")}

    a, b = tmp_path / "small", tmp_path / "larger"
    for subset, split in (("basic", "train"), ("basic", "test"), ("compound", "train")):
        assert files(a, subset, split) == files(b, subset, split) and ids(a, subset, split) == ids(b, subset, split)
    assert len(files(b, "compound", "test")) == 7 * 4 + 4 * 1
    # Its people: the basic test split's 3 and up to 9 more, none of them a training identity.
    test_people = set(ids(b, "compound", "test").values())
    train_people = set(ids(b, "basic", "train").values()) | set(ids(b, "compound", "train").values())
    assert len(test_people) > 3 and not test_people & train_people
    assert all(4 <= int(who.removeprefix("raf")) < 4 + 12 for who in test_people)


# --- Aff-Wild2 ----------------------------------------------------------------------------------


def test_aff_wild2_mtl_files(tiny):
    root, _ = tiny
    aff = root / "aff-wild2"
    info = json.loads((aff / "SYNTH_INFO.json").read_text())
    videos = info["videos"]
    assert not set(videos["train"]) & set(videos["validation"])  # one identity per video
    assert any(v.endswith(("_left", "_right")) for v in videos["train"] + videos["validation"])
    for split, key, file in [("train", "training", "training_set_annotations.txt"),
                             ("validation", "validation", "validation_set_annotations.txt")]:
        header, rows = read_csv(aff / file)
        assert header == MTL_HEADER and all(len(r) == 16 for r in rows)
        counts = Counter(tuple(r) for r in rows)
        assert sum(n - 1 for n in counts.values()) == info[key]["duplicates"] >= 1
        # Exact repeats only: each image appears with one set of labels.
        assert len({r[0] for r in rows}) == len(counts) == info[key]["unique"]
        assert len(rows) == info[key]["rows"]
        unique = list(dict.fromkeys(tuple(r) for r in rows))
        frames = defaultdict(list)
        for r in unique:
            video, name = r[0].split("/")
            frames[video].append(int(name.removesuffix(".jpg")))
            assert len(name) == 9 and (aff / "cropped_aligned" / r[0]).is_file()
        assert sorted(frames) == sorted(videos[split])
        for video, numbers in frames.items():
            assert sorted(numbers) == list(range(1, len(numbers) + 1))
            assert len(list((aff / "cropped_aligned" / video).iterdir())) == len(numbers)
        invalid = {
            "va": np.array([r[1] == "-5" for r in unique]),
            "expr": np.array([r[3] == "-1" for r in unique]),
            "au": np.array([r[4] == "-1" for r in unique]),
        }
        assert all((r[1] == "-5") == (r[2] == "-5") for r in unique)  # V and A go together
        assert all(len(set(r[4:])) == 1 for r in unique if r[4] == "-1")  # all 12 AUs or none
        for task, mask in invalid.items():
            assert int((~mask).sum()) == info[key]["valid"][task]
            assert abs(mask.mean() - INVALID_SHARE[split][task.upper()]) <= 1 / len(mask)
            start = 0
            for video in dict.fromkeys(r[0].split("/")[0] for r in unique):
                n = len(frames[video])
                assert runs(mask[start:start + n]) <= 2  # contiguous spans, as annotators skip
                start += n
        valid = [r for r in unique if r[1] != "-5"]
        assert all(-1 <= float(r[1]) <= 1 and -1 <= float(r[2]) <= 1 for r in valid)
        assert all(0 <= int(r[3]) <= 7 for r in unique if r[3] != "-1")
    with Image.open(next((aff / "cropped_aligned").rglob("00001.jpg"))) as im:
        assert im.format == "JPEG" and im.size == (112, 112)


def test_aff_wild2_tracks_agree_with_mtl_rows(tiny):
    root, _ = tiny
    aff = root / "aff-wild2"
    info = json.loads((aff / "SYNTH_INFO.json").read_text())
    tracks = {
        "VA": ("VA_Estimation_Challenge", "valence,arousal", slice(1, 3)),
        "EXPR": ("EXPR_Classification_Challenge", ",".join(AFFWILD2_EXPR.classes), slice(3, 4)),
        "AU": ("AU_Detection_Challenge", ",".join(AU_HEADER), slice(4, 16)),
    }
    for split, folder, file in [("train", "Train_Set", "training_set_annotations.txt"),
                                ("validation", "Validation_Set", "validation_set_annotations.txt")]:
        _, rows = read_csv(aff / file)
        by_image = {r[0]: r for r in rows}
        for task, (challenge, header, columns) in tracks.items():
            files = sorted((aff / "Annotations" / challenge / folder).glob("*.txt"))
            assert len(files) == info["tracks"][task][split]
            for path in files:
                lines = path.read_text().splitlines()
                assert lines[0] == header and path.stem in info["videos"][split]
                assert len(lines) - 1 == len(list((aff / "cropped_aligned" / path.stem).iterdir()))
                for i, line in enumerate(lines[1:], start=1):
                    assert line.split(",") == by_image[f"{path.stem}/{i:05d}.jpg"][columns]


# --- C-EXPR-DB ----------------------------------------------------------------------------------


def test_c_expr_db_videos_lists_and_boxes(tiny):
    import av

    root, _ = tiny
    cdb = root / "c-expr-db"
    info = json.loads((cdb / "SYNTH_INFO.json").read_text())
    width, height = info["size"]
    frame_list = (cdb / "frame_list.txt").read_text().splitlines()
    assert len(frame_list) == info["frames"]
    per_video = defaultdict(list)
    for name in frame_list:
        video, frame = name.split("/")
        per_video[video].append(int(frame.removesuffix(".jpg")))
    assert sorted(per_video) == [f"{k:02d}" for k in range(1, info["videos"] + 1)]
    for video, numbers in per_video.items():
        assert numbers == list(range(1, len(numbers) + 1))
        with av.open(str(cdb / "videos" / f"{video}.mp4")) as container:
            stream = container.streams.video[0]
            assert stream.codec_context.name == "h264" and stream.average_rate == info["fps"] == 25
            decoded = list(container.decode(stream))
        assert len(decoded) == len(numbers)
        assert decoded[0].format.name == "yuv420p"
        assert (decoded[0].width, decoded[0].height) == (width, height)

    header, truth = read_csv(cdb / "ground_truth.csv")
    assert header == ["image_location", *C_EXPR.classes]
    assert [r[0] for r in truth] == frame_list and all(len(r) == 2 for r in truth)
    per_class = Counter(r[1] for r in truth)
    assert dict(per_class) == {k: v for k, v in info["per_class_frames"].items() if v}
    assert set(per_class) == {str(k) for k in range(len(C_EXPR))}  # every class present

    header, boxes = read_csv(cdb / "face_boxes.csv")
    assert header == ["image_location", "x", "y", "w", "h"] and [r[0] for r in boxes] == frame_list
    for _, x, y, w, h in boxes:
        x, y, w, h = map(int, (x, y, w, h))
        assert 0 <= x and 0 <= y and x + w <= width and y + h <= height
        assert 60 <= min(w, h) <= max(w, h) <= 130  # tiny: 80-100 px faces, wider when rolled


def visible_skin(identity, aus, pose, side: int) -> np.ndarray:
    """Pixels of ``render_face`` that show skin: those that change with the skin colour alone."""
    face = render_face(identity, aus, pose, side)
    green = render_face(dataclasses.replace(identity, skin=(0.1, 0.9, 0.1)), aus, pose, side)
    return np.abs(face[..., :3].astype(int) - green[..., :3]).sum(-1) > 60


def test_c_expr_db_boxes_are_the_renderers_face_box_and_frame_the_face(tiny):
    root, _ = tiny
    size = SCALES["tiny"].c_expr_db
    _, rows = read_csv(root / "c-expr-db" / "face_boxes.csv")
    boxes = {name: tuple(map(int, box)) for name, *box in rows}
    checked = 0
    for video in plan_videos(size, seed=0):
        content = video_content(video, seed=0, frame_size=size.frame_size)
        for f in range(0, video.n_frames, 5):
            frame, side = content.frames[f], content.side
            x, y, w, h = boxes[f"{video.name}/{f + 1:05d}.jpg"]
            # face_box() on the rendered head square, moved to where it is pasted, to the pixel.
            bx, by, bw, bh = face_box(content.identity, frame.pose, side, framing="head", aus=frame.aus)
            bx, by = bx + frame.at[0], by + frame.at[1]
            assert np.allclose([x, y, x + w, y + h], [bx, by, bx + bw, by + bh], atol=0.5)
            # The box frames the visible skin (neck and forehead above the brows stay outside it).
            skin = visible_skin(content.identity, frame.aus, frame.pose, side)
            box = np.zeros_like(skin)
            box[y - frame.at[1]:y + h - frame.at[1], x - frame.at[0]:x + w - frame.at[0]] = True
            assert (skin & box).sum() / (skin | box).sum() > 0.6
            checked += 1
    assert checked >= 15


# --- the project's readers read back what SYNTH_INFO says was written ----------------------------


def test_readers_read_back_synth_info(tiny):
    from cer.data.affwild2_mtl import read_affwild2_mtl, task_counts
    from cer.data.affwild2_tracks import read_affwild2_tracks
    from cer.data.c_expr_db import read_c_expr_db
    from cer.data.raf_db import read_raf_db

    root, infos = tiny
    raf = infos["raf-db"]
    for subset in ("basic", "compound"):
        for split in ("train", "test"):
            records = read_raf_db(root / "raf-db", subset, split)
            assert len(records) == raf[subset][split]
            found = Counter(str(r.expression + 1) for r in records)
            assert dict(found) == raf[subset]["per_class"][split]
    aff = infos["aff-wild2"]
    for split, key in (("train", "training"), ("validation", "validation")):
        records, stats = read_affwild2_mtl(root / "aff-wild2", split, return_stats=True)
        assert (stats.rows, stats.duplicates, stats.unique) == (aff[key]["rows"], aff[key]["duplicates"],
                                                                aff[key]["unique"])
        counts = task_counts(records)
        assert {t: counts[t] for t in ("au", "va", "expr")} == aff[key]["valid"]
        for task in ("VA", "EXPR", "AU"):
            videos = {r.video for r in read_affwild2_tracks(root / "aff-wild2", task, split)}
            assert len(videos) == aff["tracks"][task][split]
    cdb = infos["c-expr-db"]
    records = read_c_expr_db(root / "c-expr-db")
    assert len(records) == cdb["frames"]
    per_class = {k: v for k, v in cdb["per_class_frames"].items() if v}
    assert dict(Counter(str(r.expression) for r in records)) == per_class


# --- determinism, the command, the cache --------------------------------------------------------


def test_cli_refuses_non_empty_then_reproduces_bytes(tiny, tmp_path):
    root, _ = tiny
    out = tmp_path / "cli"
    runner = CliRunner()
    other = runner.invoke(cer_main, ["synth", str(out), "--layout", "c-expr-db", "--scale", "tiny",
                                     "--seed", "1", "--workers", "1", "--preview"])
    assert other.exit_code == 0, other.output
    assert "c-expr-db" in other.output and "frames" in other.output
    with Image.open(out / "contact_sheet.png") as sheet:
        assert sheet.format == "PNG" and sheet.size[0] > 112
    assert tree_digest(out / "c-expr-db") != tree_digest(root / "c-expr-db")  # another seed

    refused = runner.invoke(cer_main, ["synth", str(out), "--scale", "tiny"])
    assert refused.exit_code == 2 and "--overwrite" in refused.output

    # Seed 0 again, on one worker instead of two: the same bytes as the fixture, mp4 included.
    again = runner.invoke(cer_main, ["synth", str(out), "--layout", "c-expr-db", "--scale", "tiny",
                                     "--workers", "1", "--overwrite"])
    assert again.exit_code == 0, again.output
    assert tree_digest(out / "c-expr-db") == tree_digest(root / "c-expr-db")
    assert sorted(p.name for p in out.iterdir()) == ["c-expr-db", "contact_sheet.png"]  # no staging left


def test_synth_help_is_light():
    result = CliRunner().invoke(cer_main, ["synth", "--help"])
    assert result.exit_code == 0
    for option in ("--layout", "--seed", "--scale", "--workers", "--preview", "--overwrite"):
        assert option in result.output
    code = ("import sys, cer.cli, cer.synth.command; "
            "print(sorted(m for m in ('torch', 'av', 'cv2', 'matplotlib', 'timm') if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"


def test_interrupted_layout_leaves_nothing(tmp_path, monkeypatch):
    def broken(root, scale, seed, workers):
        (root / "half.txt").write_text("half")
        raise KeyboardInterrupt

    monkeypatch.setitem(generate_module._WRITERS, "raf-db", broken)
    with pytest.raises(KeyboardInterrupt):
        generate(tmp_path / "out", layout="raf-db", scale="tiny")
    assert list((tmp_path / "out").iterdir()) == []


def test_default_layout_is_rendered_once_alone_and_a_stale_one_again(tmp_path, monkeypatch):
    calls = []

    def fake_generate(out, layout, seed, scale):
        calls.append((layout, seed, scale))
        (Path(out) / layout).mkdir(parents=True)
        (Path(out) / layout / "faces.txt").write_text(f"call {len(calls)}")

    monkeypatch.setenv("CER_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(generate_module, "generate", fake_generate)
    first = default_layout("raf-db", "tiny", seed=3)
    assert first == tmp_path / "cache" / "synth" / "tiny-seed3" / "raf-db"
    assert default_layout("raf-db", "tiny", seed=3) == first and calls == [("raf-db", 3, "tiny")]
    # Only the layout asked for is rendered, and no staging folder is left beside it.
    assert sorted(p.name for p in first.parent.iterdir()) == ["raf-db"]

    # A layout of an older renderer version (or of the earlier all-layouts cache, without its own
    # marker) is rendered again and replaced.
    (first / COMPLETE_MARKER).write_text(f"{SYNTH_VERSION - 1}\n")
    assert default_layout("raf-db", "tiny", seed=3) == first and len(calls) == 2
    assert (first / "faces.txt").read_text() == "call 2"
    assert sorted(p.name for p in first.parent.iterdir()) == ["raf-db"]
    with pytest.raises(ValueError, match="unknown layout 'rafdb'"):
        default_layout("rafdb")
