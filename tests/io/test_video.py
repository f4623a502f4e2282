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


def write_tone(path, seconds: float, rate: int = 16000):
    """An audio-only .m4a: a 440 Hz tone of ``seconds``."""
    import av

    samples = (0.3 * np.sin(2 * np.pi * 440 * np.arange(int(seconds * rate)) / rate)).astype(np.float32)
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=rate, layout="mono")
        for start in range(0, len(samples), 1024):
            frame = av.AudioFrame.from_ndarray(
                samples[None, start : start + 1024], format="flt", layout="mono"
            )
            frame.sample_rate, frame.pts = rate, start
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def _audio_seconds(path) -> float | None:
    import av

    with av.open(str(path)) as container:
        if not container.streams.audio:
            return None
        track = container.streams.audio[0]
        return sum(frame.samples for frame in container.decode(track)) / track.rate


def test_mp4_takes_the_sound_of_another_file_cut_to_its_length(tmp_path):
    tone = write_tone(tmp_path / "tone.m4a", 3.0)
    path = tmp_path / "clip.mp4"
    write_mp4(path, _frames(25), fps=25, audio=tone)
    assert len(list(iter_mp4(path))) == 25
    assert 1.0 <= _audio_seconds(path) < 1.2  # one second, up to an AAC frame and its priming
    silent = tmp_path / "silent.mp4"
    write_mp4(silent, _frames(5), fps=25)
    write_mp4(tmp_path / "still_silent.mp4", _frames(5), fps=25, audio=silent)
    assert _audio_seconds(tmp_path / "still_silent.mp4") is None
