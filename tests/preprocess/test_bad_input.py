"""``headsplat preprocess`` on bad input: a clear error naming the culprit, and nothing left behind.

Bad input must give exit code 2 (CLI) or :class:`InputError` (API) with a message that names the
offending file or folder, and must leave neither the subject folder nor a ``.partial-`` sibling.
Awkward but valid input (a second face, frames without a face, an image folder) must succeed
and be reported.
"""

from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pytest

import headsplat.preprocess.pipeline as pipeline
from headsplat.cli import main
from headsplat.io.errors import InputError
from headsplat.io.subject import load_subject
from headsplat.io.video import read_png
from headsplat.preprocess.crop import Crop
from headsplat.preprocess.landmarks import FaceLandmarker
from headsplat.preprocess.pipeline import preprocess
from headsplat.track.fit import fit_landmarks

from .helpers import (
    FAST_FIT,
    fast_config,
    grey_like,
    leftovers,
    resized,
    snapshot,
    write_clip,
    write_png,
)


@pytest.fixture
def out(tmp_path):
    """An empty folder to hold the subject folder, kept apart from the inputs so leftovers show."""
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


@pytest.fixture
def fast_cli_tracking(monkeypatch):
    """Make CLI runs track with few steps (the CLI always uses the default, slow FitConfig)."""

    def fast_fit(shape, landmarks, image_size, *, weights=None, frame_index=None, config=None, identity=None):
        return fit_landmarks(
            shape,
            landmarks,
            image_size,
            weights=weights,
            frame_index=frame_index,
            config=FAST_FIT,
            identity=identity,
        )

    monkeypatch.setattr(pipeline, "fit_landmarks", fast_fit)


def cli(video, subject, model_path, *extra: str) -> int:
    return main(
        ["preprocess", str(video), "-o", str(subject), "--size", "128", "--model", str(model_path), *extra]
    )


def assert_cli_refused(rc: int, capsys, *named) -> str:
    """Exit code 2 and one ``error:`` message on stderr that names each of ``named``."""
    err = capsys.readouterr().err
    assert rc == 2, err
    message = [line for line in err.splitlines() if line.startswith("error: ")]
    assert message, f"no 'error: ' line on stderr:\n{err}"
    for path in named:
        assert str(path) in err, f"the error does not name {path}:\n{err}"
    return err


def assert_nothing_written(out) -> None:
    assert sorted(p.name for p in out.iterdir()) == [], "a failed run left files in the output's parent"


@pytest.fixture(scope="module")
def small_subject(tmp_path_factory, d18_160, head_model):
    """A real subject folder made from a folder of 6 PNG frames (image-folder input)."""
    root = tmp_path_factory.mktemp("small_subject")
    for i, frame in enumerate(d18_160[:6]):
        write_png(root / "images" / f"img_{i:03d}.png", frame)
    logs: list[str] = []
    report = preprocess(
        root / "images", root / "subject", fast_config(folder_fps=10), model=head_model, log=logs.append
    )
    return root / "subject", report, logs


# --- unreadable files -------------------------------------------------------------------------


def _real_mp4_bytes(tmp_path, frames) -> bytes:
    return write_clip(tmp_path / "real.mp4", frames[:8]).read_bytes()


def _random_bytes(tmp_path, frames) -> bytes:
    return np.random.default_rng(0).integers(0, 256, 20_000, dtype=np.uint8).tobytes()


def _header_then_garbage(tmp_path, frames) -> bytes:
    """The first 3 KB of a real mp4 (ftyp and most of mdat) followed by garbage: no moov atom."""
    data = _real_mp4_bytes(tmp_path, frames)
    return data[:3000] + np.random.default_rng(1).integers(0, 256, 20_000, dtype=np.uint8).tobytes()


def _garbage_payload(tmp_path, frames) -> bytes:
    """A real mp4 whose index (moov) is intact but whose coded frames (mdat) are random bytes."""
    data = bytearray(_real_mp4_bytes(tmp_path, frames))
    start = data.find(b"mdat") - 4
    size = int.from_bytes(data[start : start + 4], "big")
    data[start + 8 : start + size] = (
        np.random.default_rng(0).integers(0, 256, size - 8, dtype=np.uint8).tobytes()
    )
    return bytes(data)


def _empty(tmp_path, frames) -> bytes:
    return b""


@pytest.mark.parametrize(
    "make",
    [_random_bytes, _header_then_garbage, _garbage_payload, _empty],
    ids=lambda f: f.__name__.strip("_"),
)
def test_unreadable_video_is_refused(make, tmp_path, out, capsys, d18_160, model_path):
    """Random bytes, a cut-off mp4 with garbage, an mp4 with a garbage payload and a 0-byte file named
    clip.mp4: exit code 2, the error names the file, and no subject folder or partial is left."""
    video = tmp_path / "in" / "clip.mp4"
    video.parent.mkdir()
    video.write_bytes(make(tmp_path, d18_160))
    rc = cli(video, out / "subject", model_path)
    assert_cli_refused(rc, capsys, video)
    assert_nothing_written(out)


def test_missing_video_is_refused(tmp_path, out, capsys, model_path):
    """A path that does not exist: exit code 2 naming it, nothing written."""
    video = tmp_path / "nowhere" / "clip.mp4"
    rc = cli(video, out / "subject", model_path)
    err = assert_cli_refused(rc, capsys, video)
    assert "no such file" in err
    assert_nothing_written(out)


# --- videos without (enough) face ---------------------------------------------------------------


def test_video_without_face_is_refused(tmp_path, out, head_model):
    """8 frames of smooth colour noise: InputError naming the video and saying no face was found."""
    rng = np.random.default_rng(0)
    frames = [
        cv2.resize(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8), (128, 128), interpolation=cv2.INTER_CUBIC)
        for _ in range(8)
    ]
    video = write_clip(tmp_path / "in" / "noise.mp4", frames)
    with pytest.raises(InputError, match="no face") as error:
        preprocess(video, out / "subject", fast_config(), model=head_model, log=lambda _: None)
    assert str(video) in str(error.value)
    assert_nothing_written(out)


def test_face_in_only_one_frame_is_refused(tmp_path, out, d18_160, head_model):
    """Only frame 0 of 8 shows a face (the rest are grey): fewer than 2 usable frames -> InputError
    naming the video and the count; nothing written."""
    frames = [d18_160[0]] + [grey_like(d18_160[0])] * 7
    video = write_clip(tmp_path / "in" / "one_face.mp4", frames)
    with pytest.raises(InputError, match=r"only 1 frame") as error:
        preprocess(video, out / "subject", fast_config(), model=head_model, log=lambda _: None)
    assert str(video) in str(error.value)
    assert_nothing_written(out)


# --- image folders -----------------------------------------------------------------------------


def test_image_folder_input(small_subject, head_model):
    """A folder of 6 PNG frames of a face is valid input: 6 tracked frames at the folder frame rate,
    readable with load_subject."""
    subject, report, _ = small_subject
    assert report["frames_after_fps_cap"] == report["frames_kept"] == 6
    assert report["frames_without_face"] == []
    meta = json.loads((subject / "meta.json").read_text())
    assert meta["n_frames"] == 6
    assert meta["fps"] == 10
    assert sorted(p.name for p in (subject / "frames").iterdir()) == [f"{i:06d}.png" for i in range(6)]
    loaded = load_subject(subject)
    assert loaded.n_frames == 6
    np.testing.assert_array_equal(loaded.tracking["source_frame"], np.arange(6))
    assert leftovers(subject.parent) == []


def test_image_folder_with_unreadable_image_is_refused(tmp_path, out, d18_160, head_model):
    """A garbage file named bad.png among 5 good frames: InputError naming bad.png, nothing written."""
    folder = tmp_path / "images"
    for i, frame in enumerate(d18_160[:5]):
        write_png(folder / f"{i:03d}.png", frame)
    (folder / "bad.png").write_bytes(b"this is not a png" * 100)
    with pytest.raises(InputError) as error:
        preprocess(folder, out / "subject", fast_config(), model=head_model, log=lambda _: None)
    assert str(folder / "bad.png") in str(error.value)
    assert_nothing_written(out)


def test_empty_image_folder_is_refused(tmp_path, out, capsys, model_path):
    """A folder with no images: exit code 2 naming the folder, nothing written."""
    folder = tmp_path / "images"
    folder.mkdir()
    rc = cli(folder, out / "subject", model_path)
    assert_cli_refused(rc, capsys, folder)
    assert_nothing_written(out)


# --- the output folder -------------------------------------------------------------------------


def test_existing_subject_needs_overwrite(small_subject, tmp_path, capsys, model_path):
    """An existing subject folder without --overwrite: exit code 2 naming it, contents untouched."""
    subject = tmp_path / "subject"
    shutil.copytree(small_subject[0], subject)
    before = snapshot(subject)
    rc = cli(tmp_path / "any.mp4", subject, model_path)
    err = assert_cli_refused(rc, capsys, subject)
    assert "--overwrite" in err
    assert snapshot(subject) == before
    assert leftovers(tmp_path) == []


def test_overwrite_replaces_a_subject_folder(
    small_subject, tmp_path, capsys, d18_160, model_path, fast_cli_tracking
):
    """--overwrite over a real subject folder: exit code 0 and the folder now holds only the new run
    (a stale file of the old one is gone, meta names the new source), no temporary siblings."""
    subject = tmp_path / "subject"
    shutil.copytree(small_subject[0], subject)
    (subject / "stale.txt").write_text("from the old run")
    video = write_clip(tmp_path / "new.mp4", d18_160[:8])
    rc = cli(video, subject, model_path, "--overwrite", "--no-overlay", "--tracking", "landmarks")
    assert rc == 0, capsys.readouterr().err
    assert not (subject / "stale.txt").exists()
    meta = json.loads((subject / "meta.json").read_text())
    assert meta["source"] == str(video.resolve())
    assert meta["n_frames"] == 8
    assert len(list((subject / "frames").iterdir())) == 8
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.mp4", "subject"]


@pytest.mark.parametrize("meta", [None, '{"album": "holiday"}'])
def test_overwrite_refuses_a_folder_that_is_not_a_subject(meta, tmp_path, capsys, model_path):
    """--overwrite over a non-empty folder without a subject's meta.json (none, or another
    program's file of that name): exit code 2 naming it, files untouched."""
    folder = tmp_path / "my_photos"
    folder.mkdir()
    if meta is not None:
        (folder / "meta.json").write_text(meta)
    (folder / "holiday.jpg").write_bytes(b"precious")
    (folder / "notes").mkdir()
    (folder / "notes" / "todo.txt").write_text("keep me")
    before = snapshot(folder)
    rc = cli(tmp_path / "any.mp4", folder, model_path, "--overwrite")
    err = assert_cli_refused(rc, capsys, folder)
    assert "not a headsplat subject folder" in err
    assert snapshot(folder) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["my_photos"]


@pytest.mark.parametrize("overwrite", [False, True])
def test_output_path_that_is_a_file_is_refused(overwrite, tmp_path, capsys, model_path):
    """SUBJECT naming an existing regular file is refused (with or without --overwrite), the file kept."""
    target = tmp_path / "subject"
    target.write_text("a file, not a folder")
    rc = cli(tmp_path / "any.mp4", target, model_path, *(["--overwrite"] if overwrite else []))
    assert_cli_refused(rc, capsys, target)
    assert target.read_text() == "a file, not a folder"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["subject"]


def test_failure_while_writing_keeps_the_old_subject(
    small_subject, tmp_path, d18_160, head_model, monkeypatch
):
    """An error in the middle of writing (here: the overlay video) with overwrite: the exception
    propagates, the old subject folder is intact and no .partial-/.old- sibling remains."""
    subject = tmp_path / "subject"
    shutil.copytree(small_subject[0], subject)
    before = snapshot(subject)
    video = write_clip(tmp_path / "in" / "clip.mp4", d18_160[:6])

    def broken_write_mp4(*args, **kwargs):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(pipeline, "write_mp4", broken_write_mp4)
    with pytest.raises(OSError, match="simulated"):
        preprocess(
            video, subject, fast_config(overlay=True), overwrite=True, model=head_model, log=lambda _: None
        )
    assert snapshot(subject) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "subject"]


def test_load_subject_refuses_non_subjects(tmp_path):
    """load_subject on a folder without meta.json, and on a missing path: InputError naming it."""
    folder = tmp_path / "not_a_subject"
    folder.mkdir()
    (folder / "frames").mkdir()
    with pytest.raises(InputError) as error:
        load_subject(folder)
    assert str(folder) in str(error.value)
    missing = tmp_path / "missing"
    with pytest.raises(InputError) as error:
        load_subject(missing)
    assert str(missing) in str(error.value)


# --- hard but valid clips ----------------------------------------------------------------------


def test_second_face_tracks_the_larger_one(tmp_path, out, d18_160, head_model):
    """Each frame shows d18 twice, a 192 px copy on the left and a 112 px copy on the right: the run
    succeeds, warns about the second face, counts it in the report, and tracks the larger copy."""
    big, small, width, height = 192, 112, 320, 192
    frames = []
    for frame in d18_160[:6]:
        canvas = np.full((height, width, 3), 128, np.uint8)
        canvas[:big, :big] = resized(frame, big)
        top = (height - small) // 2
        canvas[top : top + small, width - small :] = resized(frame, small)
        frames.append(canvas)
    video = write_clip(tmp_path / "in" / "two_faces.mp4", frames)
    logs: list[str] = []
    report = preprocess(video, out / "subject", fast_config(), model=head_model, log=logs.append)

    assert report["frames_with_second_face"] >= 3
    assert any("second face" in line for line in logs), logs
    assert report["frames_kept"] == 6

    # The large copy alone, to know how wide its face is.
    with FaceLandmarker(video=False, max_faces=1) as landmarker:
        (alone,) = landmarker(resized(d18_160[0], big))
    big_width = alone[:, 0].max() - alone[:, 0].min()

    meta = json.loads((out / "subject" / "meta.json").read_text())
    crop = Crop(**meta["crop"])
    with np.load(out / "subject" / "tracking.npz") as tracking:
        landmarks = tracking["landmarks"]
    source = crop.x + landmarks * (crop.side / meta["size"])  # back to source pixels
    assert source[..., 0].max() < big, "tracked landmarks reach into the small copy"
    widths = source[..., 0].max(1) - source[..., 0].min(1)
    np.testing.assert_allclose(widths, big_width, rtol=0.15)  # the small face would be ~0.58x as wide
    assert crop.x + crop.side / 2 < big


@pytest.mark.parametrize(
    ("fps", "n_source", "grey"),
    [(25.0, 10, (3, 6)), (50.0, 20, (6, 12))],
    ids=["25fps", "50fps-capped-to-25"],
)
def test_frames_without_face_are_dropped_and_reported(
    fps, n_source, grey, tmp_path, out, d18_160, head_model
):
    """Two frames replaced by grey: success, exactly those source frame indices listed as without a
    face, 8 frames kept, and every tracked array / image folder has 8 entries. At 50 fps the 25 fps
    cap keeps the even source frames, so the report must give source indices, not positions."""
    frames = [grey_like(f) if i in grey else f for i, f in enumerate(d18_160[:n_source])]
    video = write_clip(tmp_path / "in" / "lost.mp4", frames, fps=fps)
    logs: list[str] = []
    report = preprocess(video, out / "subject", fast_config(), model=head_model, log=logs.append)

    decoded = np.arange(0, n_source, round(fps / 25))  # what the 25 fps cap keeps
    kept = [i for i in decoded if i not in grey]
    assert report["frames_without_face"] == list(grey)
    assert report["frames_kept"] == len(kept) == 8
    assert len(report["landmark_error_px"]["per_frame"]) == 8
    assert any("no face in 2 frames" in line for line in logs), logs
    subject = out / "subject"
    with np.load(subject / "tracking.npz") as tracking:
        for key in (
            "rotation",
            "translation",
            "expression",
            "landmarks",
            "landmarks_fitted",
            "landmark_error_px",
        ):
            assert len(tracking[key]) == 8, key
        np.testing.assert_array_equal(tracking["source_frame"], kept)
    assert len(list((subject / "frames").iterdir())) == 8
    assert len(list((subject / "masks").iterdir())) == 8
    # No grey frame slipped into the crops.
    for f in range(8):
        assert read_png(subject / "frames" / f"{f:06d}.png").std() > 10
    assert leftovers(out) == []
