"""`headsplat reenact`: an avatar driven by a tracked subject, an ARKit capture or a motion file."""

from itertools import islice

import cv2
import numpy as np
import pytest
import torch

from headsplat.avatar.avatar import load_avatar
from headsplat.cli import main
from headsplat.drive.motion import load_motion
from headsplat.evaluation.regions import region_masks
from headsplat.io.errors import InputError
from headsplat.io.subject import load_subject
from headsplat.io.video import iter_mp4, to_uint8, write_mp4
from headsplat.training.data import load_frame_data
from tests.drive.test_arkit import _write_live_link_face
from tests.io.test_video import _audio_seconds, write_tone
from tests.shared_data import D18, require_ict_model, require_shared
from tests.synthetic_subject import SPEAKING_SIZE, write_synthetic_subject


def _frames(path) -> np.ndarray:
    return np.stack(list(iter_mp4(path))).astype(float)


def test_self_reenactment_replays_the_tracking(trained_run, tmp_path):
    run, subject_folder = trained_run
    video = tmp_path / "self.mp4"
    assert main(["reenact", str(run), str(subject_folder), "--absolute", "-o", str(video)]) == 0
    frames = _frames(video)
    assert frames.shape == (10, 32, 64, 3)  # driver | avatar, every frame of the subject
    motion = load_motion(tmp_path / "self.motion.npz")
    subject = load_subject(subject_folder)
    assert torch.allclose(motion.rotation, torch.from_numpy(subject.tracking["rotation"]))
    # The avatar half is what eval renders from the tracking (up to the video codec).
    avatar = load_avatar(run)
    data = load_frame_data(subject, 32).with_torso(avatar.rest_pose())
    with torch.no_grad():
        expected = to_uint8(avatar.render(data.condition(7)).image).astype(float)
    assert np.abs(frames[7, :, 32:] - expected).mean() < 6
    assert np.abs(frames[7, :, :32] - frames[7, :, 32:]).mean() < np.abs(frames[7, :, :32] - 255).mean()

    # Relative: the same head motion about the avatar's rest pose; the turn still shows.
    assert main(["reenact", str(run), str(subject_folder), "-o", str(tmp_path / "rel.mp4")]) == 0
    relative = load_motion(tmp_path / "rel.motion.npz")
    steps = relative.rotation[1:] @ relative.rotation[:-1].transpose(1, 2)
    assert torch.allclose(steps, motion.rotation[1:] @ motion.rotation[:-1].transpose(1, 2), atol=1e-4)
    smooth = ["reenact", str(run), str(subject_folder), "--smooth", "1", "-o", str(tmp_path / "smooth.mp4")]
    assert main(smooth) == 0
    smoothed = load_motion(tmp_path / "smooth.motion.npz")
    gap = (smoothed.rotation - relative.rotation).abs().max()
    assert 1e-4 < gap < 0.1  # the synthetic head's steady turn lags a little behind
    still = tmp_path / "still.mp4"
    assert main(["reenact", str(run), str(subject_folder), "--no-pose", "-o", str(still)]) == 0
    turning, held = _frames(tmp_path / "rel.mp4")[:, :, 32:], _frames(still)[:, :, 32:]
    assert np.abs(turning[0] - turning[-1]).mean() > 3 * np.abs(held[0] - held[-1]).mean()


def test_a_drivers_jaw_opens_the_avatars_mouth(speaking_run, ict_model, tmp_path):
    """A driver who faces the camera and opens the jaw (0 -> 1 over six frames) drives an avatar
    trained on a subject that talks: its mouth opens where the driver's does, in both modes."""
    run, _ = speaking_run
    expression = np.zeros((6, ict_model.n_expression), np.float32)
    expression[:, ict_model.expression_index("jawOpen")] = [0, 0, 0, 0.3, 0.6, 1.0]
    driver = tmp_path / "driver"
    write_synthetic_subject(
        driver, ict_model, SPEAKING_SIZE, distance=60.0, expression=expression, yaw_degrees=(0, 0)
    )
    subject = load_subject(driver)
    alpha = cv2.imread(str(driver / "masks" / "000005.png"), cv2.IMREAD_GRAYSCALE) / 255.0
    mouth = region_masks(subject.landmarks(SPEAKING_SIZE)[5], alpha)["mouth"]

    def mouth_change(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.abs(a - b)[mouth].mean())

    for mode in ("relative", "absolute"):
        video = tmp_path / f"{mode}.mp4"
        options = ["--absolute"] if mode == "absolute" else []
        assert main(["reenact", str(run), str(driver), *options, "-o", str(video)]) == 0
        frames = _frames(video)
        driven, avatar = frames[:, :, :SPEAKING_SIZE], frames[:, :, SPEAKING_SIZE:]
        # The jaw's opening moves the avatar's mouth; two frames of a closed jaw leave it still
        # (measured: 30 and 49 grey levels, 0.4 still). In relative mode the avatar's rest, its
        # clip's median, holds the mouth half open already, so it opens less from there.
        opening, still = mouth_change(avatar[5], avatar[0]), mouth_change(avatar[1], avatar[0])
        assert opening > max(15.0, 10 * still), (mode, opening, still)
        # The mouth's dark inside shows (measured: 13 and 26 grey levels darker).
        assert avatar[5][mouth].mean() < avatar[0][mouth].mean() - 8, mode
    # The same person's jaw, as tracked: the open mouth looks like the driver's (measured: 13.5
    # grey levels off, the closed mouth 45.5 off the driver's open one).
    assert mouth_change(avatar[5], driven[5]) < 0.5 * mouth_change(avatar[0], driven[5])


def test_an_arkit_capture_drives_expression_and_head(trained_run, tmp_path):
    run, _ = trained_run
    take = _write_live_link_face(tmp_path / "take.csv", seconds=0.4)
    video = tmp_path / "take.mp4"
    with pytest.warns(UserWarning, match="TongueOut"):
        assert main(["reenact", str(run), "--arkit", str(take), "-o", str(video), "--fps", "10"]) == 0
    frames = _frames(video)
    assert frames.shape == (5, 32, 32, 3)  # the avatar alone, 0.4 s at 10 fps
    motion = load_motion(tmp_path / "take.motion.npz")
    jaw = motion.expression[:, list(motion.expression_names).index("jawOpen")]
    assert torch.allclose(jaw, torch.linspace(0, 1, 5), atol=0.05)  # the take's sub-frame jitter
    # Played back, the motion file renders the same video.
    replay = tmp_path / "replay.mp4"
    assert main(["reenact", str(run), str(tmp_path / "take.motion.npz"), "-o", str(replay)]) == 0
    assert np.abs(_frames(replay) - frames).max() < 1e-6


def test_bad_requests_fail_cleanly(trained_run, tmp_path, capsys, monkeypatch):
    run, subject_folder = trained_run
    out = tmp_path / "out.mp4"
    take = _write_live_link_face(tmp_path / "take.csv", seconds=0.1)
    take.with_name("notes.mp4").write_text("not a video")
    monkeypatch.setenv("HEADSPLAT_CACHE", str(tmp_path / "cache"))
    cases = [
        ["reenact", str(run), "-o", str(out)],  # no driver
        ["reenact", str(run), str(subject_folder), "--arkit", str(take), "-o", str(out)],  # two
        ["reenact", str(run), str(subject_folder), "--absolute", "--no-pose", "-o", str(out)],
        ["reenact", str(run), str(tmp_path / "missing.mp4"), "-o", str(out)],
        ["reenact", str(run), str(take.with_name("notes.mp4")), "-o", str(out)],  # not a video
        ["reenact", str(run), "--weights", str(take), "-o", str(out)],  # a capture is no weight table
    ]
    for args in cases:
        assert main(args) == 2, args
        assert "error:" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "cache") == ["notes.mp4", "take.csv"]
    assert not list((tmp_path / "cache").rglob("*.npz"))  # nothing half-written, no driver cached


def test_a_video_driver_is_tracked_once_and_cached(trained_run, tmp_path, monkeypatch, capsys):
    run, _ = trained_run
    frames = [
        cv2.resize(f, (160, 160), interpolation=cv2.INTER_AREA)
        for f in islice(iter_mp4(require_shared(D18)), 12)
    ]
    driver = tmp_path / "driver.mp4"
    write_mp4(driver, frames, 25.0, audio=write_tone(tmp_path / "voice.m4a", 1.0))
    monkeypatch.setenv("HEADSPLAT_CACHE", str(tmp_path / "cache"))
    args = ["reenact", str(run), str(driver), "--model", str(require_ict_model()), "--size", "48"]
    # The landmark fit keeps it quick; the photometric default is tested below, with a tiny schedule.
    args += ["--tracking", "landmarks"]
    assert main(args) == 0
    assert "[headsplat preprocess]" in capsys.readouterr().err
    video = run / "reenact_driver.mp4"  # the default: beside the avatar
    out = _frames(video)
    assert out.shape == (12, 48, 96, 3)
    assert 0.48 <= _audio_seconds(video) < 0.7  # the driver's sound for its 12 frames
    assert np.abs(out[0, :, :48] - cv2.resize(frames[0], (48, 48), interpolation=cv2.INTER_AREA)).mean() < 12
    cached = list((tmp_path / "cache" / "drivers").iterdir())
    assert len(cached) == 1 and (cached[0] / "tracking.npz").is_file()
    assert main(args) == 0  # the second time, the cached tracking
    assert "[headsplat preprocess]" not in capsys.readouterr().err
    # The avatar half is the avatar rendering the motion tracked from the driver (up to the codec).
    avatar = load_avatar(run)
    conditions = list(load_motion(run / "reenact_driver.motion.npz").conditions(avatar.rest_pose()))
    for f in (0, 11):
        with torch.no_grad():
            expected = to_uint8(avatar.render(conditions[f], avatar.camera(48)).image).astype(float)
        assert np.abs(out[f, :, 48:] - expected).mean() < 6
        assert np.abs(expected - 255 * avatar.info["background"]).max(-1).mean() > 20  # a head there
    video.unlink()
    (run / "reenact_driver.motion.npz").unlink()


def test_reenact_writes_into_a_folder_that_does_not_exist_yet(trained_run, tmp_path):
    run, _ = trained_run
    weights = tmp_path / "weights.csv"
    weights.write_text("jawOpen\n0.0\n0.8\n")
    video = tmp_path / "new" / "deeper" / "out.mp4"
    assert main(["reenact", str(run), "--weights", str(weights), "-o", str(video)]) == 0
    assert _frames(video).shape == (2, 32, 32, 3) and (video.parent / "out.motion.npz").is_file()


def test_a_video_driver_tracked_photometrically_is_cached_apart(trained_run, tmp_path, monkeypatch):
    from headsplat.drive.driver import driver_subject
    from headsplat.preprocess.pipeline import PreprocessConfig
    from headsplat.track.photometric import PhotometricConfig

    monkeypatch.setenv("HEADSPLAT_CACHE", str(tmp_path / "cache"))
    frames = [
        cv2.resize(f, (128, 128), interpolation=cv2.INTER_AREA)
        for f in islice(iter_mp4(require_shared(D18)), 8)
    ]
    driver = tmp_path / "driver.mp4"
    write_mp4(driver, frames, 25.0)
    tiny = PhotometricConfig(size=64, points=1000, appearance_steps=10, frame_steps=3, rounds=1)
    found = {}
    for tracking in ("landmarks", "photometric"):
        config = PreprocessConfig(size=128, overlay=False, tracking=tracking, photometric=tiny)
        subject = driver_subject(driver, require_ict_model(), tmp_path / "cache", config)
        found[tracking] = subject.path
        assert str(subject.tracking["tracker"]) == tracking
    assert found["landmarks"] != found["photometric"] and found["photometric"].name.endswith("-photometric")
    # `reenact` tracks a video photometrically unless `--tracking landmarks` asks otherwise.
    asked = []

    def record(source, model_path=None, cache=None, config=None):
        asked.append(config.tracking)
        raise InputError("stop here")

    monkeypatch.setattr("headsplat.apps.reenact.driver_subject", record)
    run, _ = trained_run
    for options in ([], ["--tracking", "landmarks"]):
        assert main(["reenact", str(run), str(driver), *options, "-o", str(tmp_path / "o.mp4")]) == 2
    assert asked == ["photometric", "landmarks"]


def test_arkit_weights_start_from_the_avatars_rest(trained_run, tmp_path):
    from headsplat.apps.reenact import driving_motion

    run, _ = trained_run
    avatar = load_avatar(run)
    jaw = avatar.expression_names.index("jawOpen")
    avatar.neutral_expression[jaw] = 0.2  # as if its clip's tracker read the jaw a little open at rest
    weights = tmp_path / "weights.csv"
    weights.write_text("jawOpen,EyeBlinkLeft\n0.0,0.0\n0.5,0.3\n0.9,1.0\n")
    motion, subject = driving_motion(avatar, weights=weights)
    assert subject is None
    assert torch.allclose(motion.expression[:, jaw], torch.tensor([0.2, 0.7, 1.0]))  # rest + weight, clamped
    blink = avatar.expression_names.index("eyeBlink_L")
    assert torch.allclose(motion.expression[:, blink], torch.tensor([0.0, 0.3, 1.0]))
    absolute, _ = driving_motion(avatar, weights=weights, mode="absolute")
    assert torch.allclose(absolute.expression[:, jaw], torch.tensor([0.0, 0.5, 0.9]))
