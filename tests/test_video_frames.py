"""Finding sources and streaming their frames: counts, numbering, order, threads, damaged files."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from pyfeat_data import pyfeat_test_data

from cer.video.frames import (
    FRAMES_FOLDER_FPS,
    Frame,
    VideoReadError,
    iter_frames,
    probe,
)
from cer.video.sources import Source, find_sources

FPS = 25
WIDTH, HEIGHT = 64, 48


def frame_image(k: int) -> np.ndarray:
    """Frame ``k`` (0-based): its brightness grows with k, so decoded order can be checked."""
    rng = np.random.default_rng(k)
    image = np.full((HEIGHT, WIDTH, 3), min(20 + 3 * k, 180), dtype=np.uint8)
    image[8:24, (2 * k) % (WIDTH - 16):(2 * k) % (WIDTH - 16) + 16] = 255
    return np.clip(image + rng.integers(0, 64, image.shape), 0, 255).astype(np.uint8)


def write_video(path: Path, n: int, codec: str = "libx264", faststart: bool = False) -> Path:
    """An ``n``-frame video written with PyAV (x264 default settings: B-frames, reordering)."""
    import av

    options = {"movflags": "faststart"} if faststart else {}
    codec_options = {"threads": "1"} if codec == "libx264" else {"x265-params": "log-level=error:pools=1"}
    with av.open(str(path), "w", options=options) as container:
        stream = container.add_stream(codec, rate=FPS, options=codec_options)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        for k in range(n):
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame_image(k), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def video(path: Path) -> Source:
    return Source("video", path, path.stem)


def brightness(frames: list[Frame]) -> list[float]:
    return [float(f.image.mean()) for f in frames if f.image is not None]


@pytest.fixture(scope="module")
def mp4(tmp_path_factory) -> Path:
    return write_video(tmp_path_factory.mktemp("video") / "clip.mp4", 37)


# --- decoding -------------------------------------------------------------------------------------


def test_h264_decodes_every_frame_numbered_from_one(mp4):
    frames = list(iter_frames(video(mp4)))
    assert [f.index for f in frames] == list(range(1, 38))
    assert all(f.error is None and f.image.shape == (HEIGHT, WIDTH, 3) and f.image.dtype == np.uint8
               for f in frames)
    np.testing.assert_allclose([f.timestamp for f in frames], np.arange(37) / FPS, atol=1e-6)
    assert np.all(np.diff(brightness(frames)) > 0), "frames out of presentation order"
    assert probe(video(mp4)) == {"frames": 37, "fps": 25.0, "width": WIDTH, "height": HEIGHT, "codec": "h264"}


def test_hevc_decodes(tmp_path):
    path = write_video(tmp_path / "clip.mov", 13, codec="libx265")
    frames = list(iter_frames(video(path)))
    assert [f.index for f in frames] == list(range(1, 14))
    assert np.all(np.diff(brightness(frames)) > 0)
    assert probe(video(path))["codec"] == "hevc"


def test_threaded_and_unthreaded_give_the_same_frames(mp4):
    threaded = list(iter_frames(video(mp4), threaded=True, queue_size=2))
    plain = list(iter_frames(video(mp4), threaded=False))
    assert len(threaded) == len(plain) == 37
    for a, b in zip(threaded, plain):
        assert (a.index, a.timestamp) == (b.index, b.timestamp)
        np.testing.assert_array_equal(a.image, b.image)


def decoder_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("cer-decode-")]


def test_closing_early_stops_the_decoding_thread(mp4):
    assert decoder_threads() == []
    frames = iter_frames(video(mp4), queue_size=2)
    first = [next(frames) for _ in range(3)]
    assert [f.index for f in first] == [1, 2, 3]
    assert len(decoder_threads()) == 1  # blocked on the full queue, 34 frames still to decode
    frames.close()
    assert decoder_threads() == []


def test_an_unused_iterator_starts_no_thread(mp4):
    frames = iter_frames(video(mp4))
    assert decoder_threads() == []
    del frames


# --- damaged files --------------------------------------------------------------------------------


@pytest.mark.parametrize("threaded", [True, False])
@pytest.mark.parametrize("content", [b"", b"these are not the frames you are looking for\n" * 20])
def test_empty_or_non_video_file_raises_before_any_frame(tmp_path, content, threaded):
    path = tmp_path / "broken.mp4"
    path.write_bytes(content)
    with pytest.raises(VideoReadError, match="broken.mp4") as caught:
        next(iter_frames(video(path), threaded=threaded))
    assert caught.value.path == str(path)
    with pytest.raises(VideoReadError, match="broken.mp4"):
        probe(video(path))


def cut_in_half(path: Path, out: Path) -> Path:
    data = path.read_bytes()
    out.write_bytes(data[: len(data) // 2])
    return out


def test_truncated_mp4_without_its_index_cannot_be_opened(mp4, tmp_path):
    # PyAV writes the moov index at the end: half a file has no index at all.
    path = cut_in_half(mp4, tmp_path / "half.mp4")
    with pytest.raises(VideoReadError, match="half.mp4.*cannot open"):
        next(iter_frames(video(path)))


@pytest.mark.parametrize("threaded", [True, False])
def test_truncated_faststart_mp4_yields_what_it_holds_then_raises(tmp_path, threaded):
    path = cut_in_half(write_video(tmp_path / "full.mp4", 60, faststart=True), tmp_path / "half.mp4")
    frames = []
    with pytest.raises(VideoReadError, match="half.mp4.*truncated: the container lists 60 frames") as caught:
        for frame in iter_frames(video(path), threaded=threaded):
            frames.append(frame)  # noqa: PERF402 (list() would drop the frames read before the error)
    good = [f for f in frames if f.image is not None]
    assert 15 < len(good) < 45
    assert [f.index for f in frames] == list(range(1, len(frames) + 1))
    assert caught.value.frame == len(frames) + 1
    np.testing.assert_array_equal(good[0].image, next(iter_frames(video(tmp_path / "full.mp4"))).image)


def corrupt_one_packet(path: Path, out: Path, packet_number: int) -> float:
    """Zero the bytes of one packet (decode order); returns that packet's time in seconds."""
    import av

    with av.open(str(path)) as container:
        packets = [p for p in container.demux(video=0) if p.size]
        position, size = packets[packet_number].pos, packets[packet_number].size
        at = float(packets[packet_number].pts * packets[packet_number].time_base)
    data = bytearray(path.read_bytes())
    data[position:position + size] = bytes(size)
    out.write_bytes(bytes(data))
    return at


def test_an_undecodable_frame_mid_stream_gives_an_error_frame_in_its_place(mp4, tmp_path):
    lost_at = corrupt_one_packet(mp4, tmp_path / "damaged.mp4", 20)
    frames = list(iter_frames(video(tmp_path / "damaged.mp4")))
    assert [f.index for f in frames] == list(range(1, 38))
    broken = [f for f in frames if f.image is None]
    assert len(broken) == 1 and "undecodable" in broken[0].error
    assert broken[0].timestamp == pytest.approx(lost_at)
    assert broken[0].index == round(lost_at * FPS) + 1
    assert all(f.error is None for f in frames if f is not broken[0])


# --- frame folders and still images ---------------------------------------------------------------


def write_image(path: Path, image: np.ndarray) -> Path:
    import cv2

    assert cv2.imwrite(str(path), image[..., ::-1].copy())  # RGB -> BGR for OpenCV
    return path


def test_frames_folder_in_numeric_order_with_gaps_and_a_broken_image(tmp_path):
    folder = tmp_path / "video_7"
    folder.mkdir()
    for number in (100, 9, 10, 2):
        write_image(folder / f"{number}.png", frame_image(number // 10))
    (folder / "00050.jpg").write_bytes(b"not a jpeg")
    frames = list(iter_frames(Source("frames", folder, "video_7")))
    assert [f.index for f in frames] == [2, 9, 10, 50, 100]
    assert [f.timestamp for f in frames] == [(i - 1) / FRAMES_FOLDER_FPS for i in (2, 9, 10, 50, 100)]
    assert frames[3].image is None and "00050.jpg" in frames[3].error
    np.testing.assert_array_equal(frames[4].image, frame_image(10))
    assert probe(Source("frames", folder, "video_7"))["frames"] == 5


def test_still_image_is_one_rgb_frame(tmp_path):
    red = np.zeros((10, 12, 3), np.uint8)
    red[..., 0] = 200
    path = write_image(tmp_path / "face.png", red)
    (frame,) = list(iter_frames(Source("image", path, "face")))
    assert (frame.index, frame.timestamp, frame.error) == (1, 0.0, None)
    np.testing.assert_array_equal(frame.image, red)
    assert probe(Source("image", path, "face")) == {"frames": 1, "fps": None, "width": 12, "height": 10,
                                                    "codec": "png"}


def test_unreadable_still_image_raises(tmp_path):
    path = tmp_path / "photo.jpg"
    path.write_text("not an image")
    with pytest.raises(VideoReadError, match="photo.jpg"):
        next(iter_frames(Source("image", path, "photo")))


# --- real videos ------------------------------------------------------------------------------------


@pytest.mark.network
def test_real_videos_decode_to_their_frame_count():
    data = pyfeat_test_data()
    # face_noface.mov is HEVC from a phone; no_face.mp4 lists 98 frames of which an edit list drops 3.
    for name, codec, count in [("face_noface.mov", "hevc", 169), ("no_face.mp4", "h264", 95)]:
        frames = list(iter_frames(video(data / name)))
        assert probe(video(data / name))["codec"] == codec
        assert [f.index for f in frames] == list(range(1, count + 1)), name
        assert all(f.image is not None and f.image.shape == (540, 960, 3) for f in frames)
        assert np.all(np.diff([f.timestamp for f in frames]) > 0)


# --- finding sources --------------------------------------------------------------------------------


def test_find_sources_recurses_and_tells_kinds_apart(tmp_path):
    tree = tmp_path / "inputs"
    frames = tree / "cropped_aligned" / "12-24-1920x1080"
    frames.mkdir(parents=True)
    for number in (1, 2, 10):
        (frames / f"{number:05d}.jpg").write_bytes(b"x")
    (tree / "stills").mkdir()
    for name in ("b.JPG", "a.png", "00003.jpg", "notes.txt", ".DS_Store"):
        (tree / "stills" / name).write_bytes(b"x")
    (tree / "clips" / ".hidden").mkdir(parents=True)
    (tree / "clips" / ".hidden" / "secret.mp4").write_bytes(b"x")
    for name in ("Talk.MOV", "a.webm", "talk.srt"):
        (tree / "clips" / name).write_bytes(b"x")
    skipped: list[Path] = []
    sources = find_sources([tree / "stills", tree, tree / "clips" / "Talk.MOV"], skipped=skipped)
    assert [(s.kind, s.path.relative_to(tree).as_posix(), s.name) for s in sources] == [
        ("video", "clips/Talk.MOV", "Talk"),
        ("video", "clips/a.webm", "a"),
        ("frames", "cropped_aligned/12-24-1920x1080", "12-24-1920x1080"),
        # a numbered image beside other files is a still, not a frames folder
        ("image", "stills/00003.jpg", "00003"),
        ("image", "stills/a.png", "a"),
        ("image", "stills/b.JPG", "b"),
    ]
    assert skipped == [tree / "clips" / "talk.srt", tree / "stills" / "notes.txt"]
    assert find_sources([tree]) == sources  # the same tree gives the same list, duplicates merged


def test_find_sources_names_a_missing_input(tmp_path):
    with pytest.raises(FileNotFoundError, match="no_such_video.mp4"):
        find_sources([tmp_path, tmp_path / "no_such_video.mp4"])


def test_freed_memory_is_given_back_on_glibc():
    import platform

    from cer.video.heap import release_freed_memory

    assert release_freed_memory() is (platform.libc_ver()[0] == "glibc")
