"""Decoding and writing video: frame-rate capping, re-iteration, image folders, mp4 round trip."""

import cv2
import numpy as np
import pytest

from headsplat.io.errors import InputError
from headsplat.io.video import ClipReader, iter_mp4, read_clip, write_mp4


def _frames(n: int, size: int = 32) -> list[np.ndarray]:
    """Frames whose mean brightness encodes their index (survives H.264)."""
    return [np.full((size, size, 3), 20 + 7 * i, dtype=np.uint8) for i in range(n)]


def test_mp4_round_trip_and_fps_cap(tmp_path):
    path = tmp_path / "clip.mp4"
    write_mp4(path, _frames(30), fps=30)
    assert len(list(iter_mp4(path))) == 30
    clip = read_clip(path, max_fps=25)
    assert clip.source_fps == pytest.approx(30) and clip.fps == pytest.approx(25)
    assert clip.n_source == 30 and len(clip.frames) == 25
    # Every 6th source frame is skipped, evenly spread, and the kept frames are the right ones.
    skipped = np.setdiff1d(np.arange(30), clip.source_index)
    assert len(skipped) == 5 and (np.diff(skipped) == 6).all()
    brightness = clip.frames.reshape(25, -1).mean(1)
    assert np.allclose(brightness, 20 + 7 * clip.source_index, atol=3)


def test_reader_decodes_again_on_each_pass(tmp_path):
    path = tmp_path / "clip.mp4"
    write_mp4(path, _frames(8), fps=25)
    reader = ClipReader(path)
    first = [(i, image.copy()) for i, image in reader]
    second = list(reader)
    assert [i for i, _ in first] == [i for i, _ in second] == list(range(8))
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(first, second, strict=True))
    assert reader.n_source == 8 and reader.decode_seconds > 0


def test_image_folder_in_name_order(tmp_path):
    for i, image in enumerate(_frames(5)):
        cv2.imwrite(str(tmp_path / f"f{i:03d}.png"), image)
    (tmp_path / "notes.txt").write_text("ignored")
    clip = read_clip(tmp_path, folder_fps=10)
    assert clip.fps == 10 and len(clip.frames) == 5
    assert clip.frames[:, 0, 0, 0].tolist() == [20, 27, 34, 41, 48]


def test_empty_folder_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="contains no frames"):
        read_clip(tmp_path)
