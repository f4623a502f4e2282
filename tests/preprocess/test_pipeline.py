"""End-to-end ``headsplat preprocess`` on a short real clip: what the subject folder holds, and how good."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch

from headsplat.io.errors import InputError
from headsplat.io.subject import FORMAT_VERSION, load_subject
from headsplat.io.video import iter_mp4, read_clip, read_png
from headsplat.preprocess.crop import Crop
from headsplat.preprocess.landmarks import person_segmenter
from headsplat.preprocess.matting import unknown_band
from headsplat.preprocess.pipeline import preprocess
from headsplat.preprocess.qa import neck_rim_vertices
from headsplat.render.mesh import project_points

from .helpers import fast_config, leftovers, resized, short_fit, write_clip

N_FRAMES = 16
SIZE = 128


@pytest.fixture(scope="module")
def run(tmp_path_factory, d18_160, head_model):
    """16 frames of d18 (160x160, 25 fps) preprocessed at 128 px with the overlay."""
    root = tmp_path_factory.mktemp("pipeline")
    video = write_clip(root / "in" / "d18.mp4", d18_160[:N_FRAMES])
    config = fast_config(overlay=True, fit=short_fit(40))
    logs: list[str] = []
    report = preprocess(video, root / "out" / "subject", config, model=head_model, log=logs.append)
    return video, root / "out" / "subject", report, logs


@pytest.fixture(scope="module")
def tracking(run):
    with np.load(run[1] / "tracking.npz") as data:
        return dict(data)


@pytest.fixture(scope="module")
def meta(run):
    return json.loads((run[1] / "meta.json").read_text())


def test_folder_layout(run):
    """The subject folder holds frames/, masks/, tracking.npz, meta.json and qa/{overlay.mp4,report.json},
    one PNG per kept frame, and no temporary sibling is left beside it."""
    _, subject, report, _ = run
    assert sorted(p.name for p in subject.iterdir()) == ["frames", "masks", "meta.json", "qa", "tracking.npz"]
    assert sorted(p.name for p in (subject / "qa").iterdir()) == [
        "coverage.png",
        "overlay.mp4",
        "report.json",
    ]
    names = [f"{i:06d}.png" for i in range(N_FRAMES)]
    assert sorted(p.name for p in (subject / "frames").iterdir()) == names
    assert sorted(p.name for p in (subject / "masks").iterdir()) == names
    assert report["frames_after_fps_cap"] == report["frames_kept"] == N_FRAMES
    assert report["frames_without_face"] == []
    assert report["frames_with_second_face"] == 0
    assert json.loads((subject / "qa" / "report.json").read_text()) == report
    assert leftovers(subject.parent) == []
    assert load_subject(subject).n_frames == N_FRAMES


def test_frames_are_the_rgb_crops(run, meta):
    """Each frame PNG is 128x128 RGB and equals the recorded crop window of the decoded source frame
    (so the crop in meta.json is right and the colour channels are not swapped)."""
    video, subject, _, _ = run
    clip = read_clip(video)
    crop = Crop(**meta["crop"])
    assert min(crop.x, crop.y) >= 0 and max(crop.x, crop.y) + crop.side <= 160
    for f in range(N_FRAMES):
        frame = read_png(subject / "frames" / f"{f:06d}.png")
        assert frame.shape == (SIZE, SIZE, 3)
        np.testing.assert_array_equal(frame, crop.apply(clip.frames[f], SIZE))


def test_masks(run):
    """Masks are 128x128 single-channel, neither empty nor full (person area 10-90 %), and in the
    face centre they say person."""
    _, subject, _, _ = run
    for f in range(N_FRAMES):
        mask = read_png(subject / "masks" / f"{f:06d}.png")
        assert mask.shape == (SIZE, SIZE) and mask.dtype == np.uint8
        area = (mask > 127).mean()
        assert 0.1 < area < 0.9, f"frame {f}: person area {area:.2f}"
    with np.load(subject / "tracking.npz") as data:
        centre = np.round(data["landmarks"][:, 1]).astype(int)  # landmark 1: nose tip
    for f in range(N_FRAMES):
        mask = read_png(subject / "masks" / f"{f:06d}.png")
        assert mask[centre[f, 1], centre[f, 0]] == 255


def test_tracking_arrays(tracking, head_model):
    """tracking.npz has every documented array with consistent shapes; rotations are proper rotations,
    the head is in front of the camera, expressions are in [0, 1], and the recorded per-frame error
    is the mean distance between detected and fitted landmarks."""
    F = N_FRAMES
    E, n_id = head_model.n_expression, head_model.n_identity
    shapes = {
        "K": (3, 3),
        "rotation": (F, 3, 3),
        "translation": (F, 3),
        "expression": (F, E),
        "identity": (n_id,),
        "landmarks": (F, 478, 2),
        "landmarks_fitted": (F, 478, 2),
        "landmark_error_px": (F,),
        "source_frame": (F,),
        "expression_names": (E,),
    }
    assert {k: tracking[k].shape for k in shapes} == shapes
    assert (E, n_id) == (53, 100)
    assert list(tracking["expression_names"]) == list(head_model.expression_names)
    np.testing.assert_array_equal(tracking["source_frame"], np.arange(F))

    R = tracking["rotation"].astype(np.float64)
    np.testing.assert_allclose(R @ R.transpose(0, 2, 1), np.broadcast_to(np.eye(3), R.shape), atol=1e-4)
    np.testing.assert_allclose(np.linalg.det(R), 1.0, atol=1e-4)
    assert (tracking["translation"][:, 2] > 0).all(), "head behind the camera"
    expression = tracking["expression"]
    assert expression.min() >= 0.0 and expression.max() <= 1.0
    assert np.isfinite(tracking["identity"]).all()

    K = tracking["K"]
    assert K[0, 0] > 0 and K[0, 0] == pytest.approx(K[1, 1])
    np.testing.assert_allclose(K[:2, 2], SIZE / 2)
    fitted, detected = tracking["landmarks_fitted"], tracking["landmarks"]
    assert (detected >= 0).all() and (detected <= SIZE).all()
    error = np.linalg.norm(fitted - detected, axis=-1).mean(-1)
    np.testing.assert_allclose(tracking["landmark_error_px"], error, atol=1e-3)


def test_fit_reprojects_the_mesh_onto_the_landmarks(tracking, head_model):
    """Projecting the fitted mesh's landmark points with K, rotation and translation gives the stored
    fitted landmarks (the saved parameters reproduce the fit)."""
    rig = head_model.rig(head_model.landmarks)
    points = rig.evaluate(
        torch.from_numpy(tracking["identity"]),
        torch.from_numpy(tracking["expression"]),
        torch.from_numpy(tracking["gaze"]),
    ).numpy()
    for f in (0, N_FRAMES - 1):
        camera = points[f] @ tracking["rotation"][f].T + tracking["translation"][f]
        projected = project_points(camera, tracking["K"])
        np.testing.assert_allclose(projected, tracking["landmarks_fitted"][f], atol=0.05)


def test_landmark_error(run, tracking):
    """Mean landmark error under 2 px at 128 px (the target is 3 px at 512 px); no frame over 3 px."""
    report = run[2]
    assert report["landmark_error_px"]["mean"] < 2.0
    assert report["landmark_error_px"]["max_frame"] < 3.0
    assert report["landmark_error_px"]["per_frame"] == pytest.approx(tracking["landmark_error_px"], abs=1e-3)
    assert report["landmark_error_px"]["mean"] == pytest.approx(
        tracking["landmark_error_px"].mean(), abs=1e-3
    )


def test_overlay_video(run):
    """qa/overlay.mp4 decodes to one 128x128 RGB frame per kept frame, showing the crop underneath."""
    _, subject, _, _ = run
    frames = list(iter_mp4(subject / "qa" / "overlay.mp4"))
    assert len(frames) == N_FRAMES
    assert all(frame.shape == (SIZE, SIZE, 3) for frame in frames)
    crop = read_png(subject / "frames" / "000000.png").astype(np.float32)
    assert np.abs(frames[0].astype(np.float32) - crop).mean() < 40  # an overlay on the crop, not noise


def test_meta(run, meta, head_model):
    """meta.json: format version, size, frame count, fps, head model id, and a split in which the
    last 20 % of the frames are the test set and every frame is in exactly one set."""
    video = run[0]
    assert meta["format_version"] == FORMAT_VERSION
    assert meta["size"] == SIZE
    assert meta["n_frames"] == N_FRAMES
    assert meta["fps"] == 25
    assert meta["source"] == str(video.resolve())
    assert meta["head_model"]["sha256"] == head_model.checksum
    train, test = meta["split"]["train"], meta["split"]["test"]
    n_test = round(0.2 * N_FRAMES)
    assert test == list(range(N_FRAMES - n_test, N_FRAMES))
    assert train == list(range(N_FRAMES - n_test))


def test_report_timings(run):
    """qa/report.json times each stage (decode, detect, landmarks, tracking, masks) and per 100 frames."""
    report = run[2]
    assert {"decode", "detect", "landmarks", "tracking", "masks"} <= set(report["seconds"])
    assert all(seconds >= 0 for seconds in report["seconds"].values())
    assert report["seconds_per_100_frames"] > 0


def test_coverage_says_a_frontal_clip_never_showed_the_back_of_the_head(run):
    """d18 looks at the camera: its face's front is seen, the back of its head never, and the log
    and the report say so with what to record instead."""
    _, subject, report, logs = run
    coverage = report["coverage"]
    assert coverage["seen"]["the face's front"] > 0.6 and coverage["seen"]["the back of the head"] == 0.0
    assert abs(coverage["yaw_deg"][0]) < 15 and abs(coverage["yaw_deg"][1]) < 15
    assert any("0% of the back of the head" in w and "turning slowly" in w for w in coverage["warnings"])
    assert sum("warning: the clip showed" in line for line in logs) == len(coverage["warnings"])
    figure = read_png(subject / "qa" / "coverage.png")
    assert figure.shape == (256, 768, 3)


def test_log_lines(run):
    """Progress goes to the log: the clip's frame count and size, the tracking error and the output."""
    video, subject, _, logs = run
    text = "\n".join(logs)
    assert f"{video}: {N_FRAMES} frames" in text
    assert "mean landmark error" in text
    assert str(subject) in text


def test_masks_are_cut_below_the_neck(tmp_path, d18_source, head_model):
    """With a crop reaching well below the chin (d18 framed with its shirt extended downwards, margin
    1.5), the masks are cut at the fitted neck's lower end: below it the mask is empty although the
    segmenter sees the person there; above the chin it equals the segmenter's output."""
    frames = [
        cv2.copyMakeBorder(resized(f, 96), 48, 80, 64, 64, cv2.BORDER_REPLICATE) for f in d18_source[:8]
    ]  # 224x224: face ~50 px wide, the replicated shirt fills the bottom
    video = write_clip(tmp_path / "in" / "torso.mp4", frames)
    subject = tmp_path / "out" / "subject"
    preprocess(
        video, subject, fast_config(margin=1.5, fit=short_fit(30)), model=head_model, log=lambda _: None
    )

    with np.load(subject / "tracking.npz") as data:
        tracking = dict(data)
    rim = neck_rim_vertices(head_model)
    cut_frames = 0
    with person_segmenter() as segment:
        for f in range(len(tracking["rotation"])):
            image = read_png(subject / "frames" / f"{f:06d}.png")
            mask = read_png(subject / "masks" / f"{f:06d}.png").astype(np.int16)
            person = np.round(segment(image) * 255).astype(np.int16)
            chin = int(tracking["landmarks"][f, :, 1].max())
            np.testing.assert_allclose(mask[:chin], person[:chin], atol=1)  # untouched above the chin
            vertices = head_model.vertices(
                torch.from_numpy(tracking["identity"]), torch.from_numpy(tracking["expression"][f])
            ).numpy()
            camera = vertices[rim] @ tracking["rotation"][f].T + tracking["translation"][f]
            rim_bottom = project_points(camera, tracking["K"])[:, 1].max()
            assert chin < rim_bottom, "the fitted neck ends above the chin"
            below = slice(int(np.ceil(rim_bottom)) + 1, SIZE)
            assert (mask[below] == 0).all(), f"frame {f}: mask not cut below the neck (row {rim_bottom:.0f})"
            cut_frames += (person[below] > 127).mean() > 0.2
    assert cut_frames >= 1, "the segmenter saw no person below the neck: the test clip does not test the cut"


def test_photometric_tracking_refines_the_landmark_fit_and_reports_both(run, tmp_path, head_model, tracking):
    from headsplat.track.photometric import PhotometricConfig

    video = run[0]
    assert str(tracking["tracker"]) == "landmarks" and run[2]["tracker"] == "landmarks"
    photometric = PhotometricConfig(size=64, points=1500, appearance_steps=40, frame_steps=6, rounds=1)
    config = fast_config(fit=short_fit(40), tracking="photometric", photometric=photometric)
    report = preprocess(video, tmp_path / "subject", config, model=head_model, log=lambda _: None)
    with np.load(tmp_path / "subject" / "tracking.npz") as data:
        refined = dict(data)
    assert str(refined["tracker"]) == "photometric" and report["tracker"] == "photometric"
    # The landmark fit is the start (the same settings: the same fit), kept for eval's
    # landmark-tracked protocol; the pixels moved it a little.
    assert report["landmark_fit_error_px"] == run[2]["landmark_error_px"]
    for name in ("rotation", "translation", "expression"):
        np.testing.assert_array_equal(refined[f"landmark_fit_{name}"], tracking[name])
    assert "landmark_fit_rotation" not in tracking
    assert 0 < np.abs(refined["translation"] - tracking["translation"]).max() < 2.0  # cm
    residual = report["photometric_residual"]
    assert len(residual["photometric"]["per_frame"]) == N_FRAMES
    assert residual["photometric"]["mean"] < residual["landmark_fit"]["mean"]
    assert report["seconds"]["photometric_tracking"] > 0
    # The fitted landmarks and their error are the refined tracking's.
    error = np.linalg.norm(refined["landmarks_fitted"] - refined["landmarks"], axis=-1).mean(-1)
    np.testing.assert_allclose(error, refined["landmark_error_px"], rtol=1e-5)
    with pytest.raises(InputError, match="landmarks, photometric"):
        preprocess(video, tmp_path / "other", fast_config(tracking="pixels"), model=head_model)
    assert not (tmp_path / "other").exists()


def test_soft_mattes_change_the_masks_at_their_edge_alone(run, tmp_path, head_model):
    """``matte="soft"`` on the same frames: the masks agree with the segmenter's away from its
    edge and differ at it (matted, then averaged over still frames); the report says which."""
    video, subject, _, _ = run
    soft = tmp_path / "soft"
    config = fast_config(overlay=False, fit=short_fit(40), matte="soft")
    report = preprocess(video, soft, config, model=head_model, log=lambda _: None)
    assert report["matte"] == "soft"
    assert json.loads((soft / "meta.json").read_text())["config"]["matte"] == "soft"
    changed = 0.0
    for f in range(N_FRAMES):
        before = read_png(subject / "masks" / f"{f:06d}.png") / 255.0
        after = read_png(soft / "masks" / f"{f:06d}.png") / 255.0
        far = ~unknown_band(before > 0.5, 8.0)  # 4 px of band at 128 px, plus the frames' motion
        assert np.abs(after - before)[far].max() < 0.1, f"frame {f}: the mask changed away from its edge"
        changed += np.abs(after - before)[~far].mean() / N_FRAMES
    assert changed > 0.02  # the segmenter's edge moved
    with pytest.raises(InputError, match="matte 'hard'"):
        preprocess(video, tmp_path / "bad", fast_config(matte="hard"), model=head_model)
