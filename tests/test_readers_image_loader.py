"""load_rgb: image files upright and RGB, video frames by number with one decode per pass."""

from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from cer.data import DataFormatError, FaceRecord, image_loader, load_rgb
from cer.data.image_loader import VideoFrames, close_videos


def write_video(path: Path, frames: int, size: int = 32) -> None:
    """Frame i (1-based) is a flat grey of level 20 * i."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = size, size, "yuv420p"
        for i in range(1, frames + 1):
            image = np.full((size, size, 3), 20 * i, dtype=np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())


@pytest.fixture(autouse=True)
def fresh_cache():
    close_videos()
    yield
    close_videos()


def test_image_file_upright_rgb(tmp_path):
    stored = np.zeros((16, 32), dtype=np.uint8)
    stored[:, :16] = 255  # left half white as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # EXIF orientation 6: turn 90 degrees clockwise to display
    Image.fromarray(stored, mode="L").save(tmp_path / "face.jpg", exif=exif, quality=95)
    rgb = load_rgb(FaceRecord(image=str(tmp_path / "face.jpg")))
    assert rgb.shape == (32, 16, 3) and rgb.dtype == np.uint8  # grey became RGB, portrait now
    assert rgb[:16].mean() > 200 and rgb[16:].mean() < 50  # the stored left half is on top


def test_unreadable_files_are_named(tmp_path):
    (tmp_path / "bad.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(DataFormatError, match="bad.jpg: cannot read as an image"):
        load_rgb(FaceRecord(image=str(tmp_path / "bad.jpg")))
    Image.new("RGB", (64, 64), (10, 200, 30)).save(tmp_path / "cut.jpg")
    data = (tmp_path / "cut.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataFormatError, match="cut.jpg: cannot read as an image"):
        load_rgb(FaceRecord(image=str(tmp_path / "cut.jpg")))
    with pytest.raises(FileNotFoundError):
        load_rgb(FaceRecord(image=str(tmp_path / "gone.jpg")))
    (tmp_path / "junk.mp4").write_bytes(b"\x00" * 100)
    with pytest.raises(DataFormatError, match="junk.mp4: cannot open as a video"):
        load_rgb(FaceRecord(image=str(tmp_path / "junk.mp4"), frame=1))
    with pytest.raises(DataFormatError, match="a video file needs the record's frame number"):
        load_rgb(FaceRecord(image=str(tmp_path / "junk.mp4")))


def test_video_frames_by_number_decode_once(tmp_path, monkeypatch):
    write_video(tmp_path / "clip.mp4", 8)
    opens = []
    original = VideoFrames._open
    monkeypatch.setattr(VideoFrames, "_open", lambda self: (opens.append(self.path), original(self))[1])
    levels = [load_rgb(FaceRecord(image=str(tmp_path / "clip.mp4"), frame=i)).mean() for i in range(1, 9)]
    assert len(opens) == 1
    assert np.allclose(levels, [20 * i for i in range(1, 9)], atol=4)  # lossy H.264, flat frames
    again = load_rgb(FaceRecord(image=str(tmp_path / "clip.mp4"), frame=3))  # within the kept frames
    assert len(opens) == 1 and abs(again.mean() - 60) < 4
    assert again.shape == (32, 32, 3) and again.dtype == np.uint8
    again[:] = 0  # in-place changes by a caller must not reach the kept frame
    assert abs(load_rgb(FaceRecord(image=str(tmp_path / "clip.mp4"), frame=3)).mean() - 60) < 4


def test_jump_back_past_kept_frames_re_decodes(tmp_path):
    write_video(tmp_path / "clip.mp4", 6)
    video = VideoFrames(str(tmp_path / "clip.mp4"), kept_frames=2)
    last = video.frame(6)
    first = video.frame(1)
    assert abs(last.mean() - 120) < 4 and abs(first.mean() - 20) < 4
    with pytest.raises(DataFormatError, match="frame 7 asked for, but the video has 6 frames"):
        video.frame(7)
    with pytest.raises(DataFormatError, match="frame 9 asked for, but the video has 6 frames"):
        video.frame(9)  # known count: no second decode to find out
    video.close()


def test_open_videos_lru(tmp_path):
    for name in ("a", "b"):
        write_video(tmp_path / f"{name}.mp4", 2)
    cache = image_loader._OpenVideos(size=1)
    cache.frame(str(tmp_path / "a.mp4"), 1)
    cache.frame(str(tmp_path / "b.mp4"), 2)
    assert list(cache._videos) == [str(tmp_path / "b.mp4")]
    cache.clear()
