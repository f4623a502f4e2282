"""`headsplat fit VIDEO -o OUT`: the whole chain into one run folder, resumable, movable."""

import json
import shutil
from itertools import islice

import cv2
import numpy as np
import pytest

from headsplat.cli import main
from headsplat.io.video import iter_mp4, write_mp4
from tests.shared_data import D18, require_ict_model, require_shared


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    """The first 24 frames of d18 at 160 x 160."""
    frames = [
        cv2.resize(f, (160, 160), interpolation=cv2.INTER_AREA)
        for f in islice(iter_mp4(require_shared(D18)), 24)
    ]
    path = tmp_path_factory.mktemp("fit") / "d18.mp4"
    write_mp4(path, frames, 25.0)
    return path


def test_fit_makes_a_run_folder_that_resumes_and_moves(video, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HEADSPLAT_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "runs" / "me"
    args = ["fit", str(video), "-o", str(out), "--model", str(require_ict_model()), "--crop-size", "128"]
    # The landmark tracker: the photometric one (the default) is tested with preprocess and took
    # three quarters of this test, which is about the folder, not the tracking.
    args += ["--size", "32", "--steps", "4", "--texels-per-cm", "0.5", "--tracking", "landmarks"]
    assert main(args) == 0
    for name in ("subject/meta.json", "avatar.safetensors", "eval/metrics.json", "orbit.mp4", "avatar.ply"):
        assert (out / name).is_file(), name
    config = json.loads((out / "config.json").read_text())
    assert config["subject"]["path"] == "subject" and config["config"]["steps"] == 4
    metrics = json.loads((out / "eval" / "metrics.json").read_text())
    assert metrics["test_frames"] == 5 and metrics["steps"] == 4
    assert len(list(iter_mp4(out / "orbit.mp4"))) == 60
    capsys.readouterr()

    assert main(args) == 2  # an existing run: --resume or --overwrite
    assert "--resume" in capsys.readouterr().err
    # A run interrupted after training: --resume redoes only what is missing.
    shutil.rmtree(out / "eval")
    (out / "orbit.mp4").unlink()
    ply = (out / "avatar.ply").stat().st_mtime_ns
    assert main([*args[:4], "--resume"]) == 0
    log = capsys.readouterr().err
    assert "preprocess: " in log and "train: " in log and log.count("skipped") == 3
    assert (out / "eval" / "metrics.json").is_file() and (out / "orbit.mp4").is_file()
    assert (out / "avatar.ply").stat().st_mtime_ns == ply

    # The folder moves as a whole: the subject inside goes with it.
    moved = tmp_path / "elsewhere"
    shutil.move(out, moved)
    assert main(["eval", str(moved), "--refine-steps", "0", "--no-video"]) == 0
    assert np.isfinite(json.loads((moved / "eval" / "metrics.json").read_text())["psnr"])


def test_fit_of_a_file_that_is_no_video_leaves_nothing(tmp_path, monkeypatch, capsys):
    """Refused, it leaves no run folder behind (one that would make the corrected command demand
    --overwrite); a folder that was there stays, empty as it was."""
    monkeypatch.setenv("HEADSPLAT_CACHE", str(tmp_path / "cache"))
    notes = tmp_path / "notes.mp4"
    notes.write_text("not a video")
    model = ["--model", str(require_ict_model())]
    assert main(["fit", str(notes), "-o", str(tmp_path / "runs" / "me"), *model]) == 2
    error = capsys.readouterr().err
    assert "error:" in error and "notes.mp4" in error and "cannot be read as a video" in error
    assert not (tmp_path / "runs").exists()
    (tmp_path / "mine").mkdir()
    assert main(["fit", str(notes), "-o", str(tmp_path / "mine"), *model]) == 2
    assert (tmp_path / "mine").is_dir() and not any((tmp_path / "mine").iterdir())


def test_the_tracker_and_the_matte_are_chosen_on_the_command_line(capsys):
    from headsplat.apps.options import fit_configs_from_args
    from headsplat.cli import build_parser

    args = build_parser().parse_args(["fit", "clip.mp4", "-o", "out", "--tracking", "landmarks"])
    assert fit_configs_from_args(args)[1].tracking == "landmarks"
    args = build_parser().parse_args(["fit", "clip.mp4", "-o", "out"])
    assert fit_configs_from_args(args)[1].tracking == "photometric"
    assert fit_configs_from_args(args)[1].matte == "segmenter"
    args = build_parser().parse_args(["fit", "clip.mp4", "-o", "out", "--matte", "soft"])
    assert fit_configs_from_args(args)[1].matte == "soft"
    with pytest.raises(SystemExit) as exit_code:
        build_parser().parse_args(["preprocess", "clip.mp4", "-o", "out", "--tracking", "pixels"])
    assert exit_code.value.code == 2 and "photometric" in capsys.readouterr().err


@pytest.mark.parametrize("photos", [1, 3])
def test_fit_of_a_few_photos_writes_the_avatar_and_says_there_is_nothing_held_out(
    video, tmp_path, monkeypatch, capsys, photos
):
    """A folder of one photo, and of three of different sizes: the fewshot preset, the avatar, its
    orbit and .ply, and no eval (every photo trained)."""
    monkeypatch.setenv("HEADSPLAT_CACHE", str(tmp_path / "cache"))
    frames = list(iter_mp4(video))
    album = tmp_path / "album"
    album.mkdir()
    for i, side in zip(range(photos), (160, 150, 140), strict=False):
        image = cv2.resize(frames[8 * i], (side, side))
        cv2.imwrite(str(album / f"photo{i}.png"), np.pad(image, ((0, 0), (0, 20 * i), (0, 0)))[..., ::-1])
    out = tmp_path / "me"
    args = ["fit", str(album), "-o", str(out), "--model", str(require_ict_model()), "--crop-size", "128"]
    args += ["--size", "32", "--steps", "4", "--texels-per-cm", "0.5", "--tracking", "landmarks"]
    assert main(args) == 0
    log = capsys.readouterr().err
    assert f"{photos} photo(s): the fewshot preset" in log and "no held-out frames" in log
    for name in ("avatar.safetensors", "orbit.mp4", "avatar.ply"):
        assert (out / name).is_file(), name
    assert not (out / "eval").exists()
    config = json.loads((out / "config.json").read_text())["config"]
    assert config["mirrored"]["share"] == 0.25
    assert json.loads((out / "subject" / "meta.json").read_text())["split"]["train"] == list(range(photos))
