"""`headsplat eval`: metrics under both protocols, the side-by-side video, and a subject that moved."""

import json
import shutil

import numpy as np
import pytest
import torch

from headsplat.cli import main
from headsplat.evaluation.error_budget import PARTS
from headsplat.evaluation.evaluate import evenly_spaced, training_corrections
from headsplat.io.run import RunFolder
from headsplat.io.video import iter_mp4, read_png


def test_eval_writes_metrics_and_a_side_by_side_video(trained_run, capsys):
    run, _ = trained_run
    assert main(["eval", str(run)]) == 0
    assert "PSNR" in capsys.readouterr().out
    metrics = json.loads((run / "eval" / "metrics.json").read_text())
    assert metrics["test_frames"] == 2 and metrics["steps"] == 8 and metrics["size"] == 32
    assert 5 < metrics["psnr"] < 60 and 0 < metrics["ssim"] <= 1 and 0 <= metrics["lpips"] < 1
    assert metrics["gaussians"] > 100 and metrics["render_fps"] > 0 and metrics["strategy"] == "sampling"
    assert len(metrics["per_frame"]["psnr"]) == 2 and metrics["per_frame"]["frame"] == [8, 9]
    # Scores inside the regions of each test frame, under both protocols.
    for scores in (metrics, metrics["tracked"]):
        for region in ("mouth", "eyes", "outline"):
            assert 3 < scores[f"{region}_psnr"] < 60 and 0 < scores[f"{region}_ssim"] <= 1
        assert scores["outline_psnr"] < scores["psnr"]  # where a 32 px silhouette errs
    assert len(metrics["per_frame"]["mouth_psnr"]) == 2
    # The training frames at the tracked poses and at the aligned ones the run trained on (its
    # checkpoint's corrections: the alignment ran at step 4 of 8).
    corrections = training_corrections(RunFolder(run))
    assert corrections["rotation"].shape == (10, 3) and corrections["rotation"][:8].abs().max() > 0
    assert metrics["train_psnr_aligned"] != metrics["train_psnr"]
    assert 5 < metrics["train_psnr_aligned"] < 60
    # Where the error lies, under both protocols and on training frames refined the same way.
    budgets = (metrics, metrics["tracked"], metrics["train_refined"])
    for summary in (scores["error_budget"] for scores in budgets):
        assert sum(summary[part]["share"] for part in PARTS) == pytest.approx(100.0)
        assert summary["outline"]["psnr"] < summary["psnr"] < summary["outline"]["psnr_if_perfect"]
    assert 5 < metrics["train_refined"]["psnr"] < 60 and "mouth_psnr" in metrics["train_refined"]
    neutral = metrics["neutral"]
    assert neutral["frame"] in range(8) and 5 < neutral["psnr"] < 60
    # The rest face is scored on held-out frames only (the two test frames of 10).
    assert sorted(neutral["rest_frames"]) == [8, 9] and 5 < neutral["rest_psnr"] < 60
    assert read_png(run / "eval" / "neutral.png").shape == (32, 96, 3)
    frames = list(iter_mp4(run / "eval" / "side_by_side.mp4"))
    assert len(frames) == 2 and frames[0].shape == (32, 96, 3)
    # The headline scores are after refining the test frames' tracking; the tracked ones beside.
    assert metrics["protocol"] == "refined (20 steps per frame)" and metrics["refine_minutes"] > 0
    assert metrics["psnr"] > metrics["tracked"]["psnr"]
    assert main(["eval", str(run), "--refine-steps", "0", "--no-video"]) == 0
    tracked = json.loads((run / "eval" / "metrics.json").read_text())
    assert tracked["protocol"] == "tracked" and tracked["refine_minutes"] == 0
    assert tracked["psnr"] == tracked["tracked"]["psnr"] == metrics["tracked"]["psnr"]
    assert tracked["train_refined"] is None
    assert main(["eval", str(run), "--refine-steps", "0", "--no-video", "--eval-frames", "1"]) == 0
    one = json.loads((run / "eval" / "metrics.json").read_text())
    assert one["test_frames"] == 1 and one["per_frame"]["frame"] == [8]


def test_an_evaluation_subset_is_evenly_spaced_from_first_to_last():
    frames = np.arange(100, 268)  # d6's 168 test frames
    assert evenly_spaced(frames, None) is frames and evenly_spaced(frames, 500) is frames
    picked = evenly_spaced(frames, 57)
    assert len(picked) == len(set(picked.tolist())) == 57 and picked[0] == 100 and picked[-1] == 267
    assert np.ptp(np.diff(picked)) <= 1


def test_eval_finds_a_moved_subject_with_subject_and_refuses_another(trained_run, tmp_path, capsys):
    run, subject = trained_run
    moved_run, moved_subject = tmp_path / "run", tmp_path / "elsewhere"
    shutil.copytree(run, moved_run)
    shutil.copytree(subject, moved_subject)
    config = json.loads((moved_run / "config.json").read_text())
    config["subject"]["path"] = str(tmp_path / "gone")
    (moved_run / "config.json").write_text(json.dumps(config))
    assert main(["eval", str(moved_run), "--refine-steps", "0", "--no-video"]) == 2
    error = capsys.readouterr().err
    assert "gone" in error and "--subject" in error
    assert (
        main(["eval", str(moved_run), "--subject", str(moved_subject), "--refine-steps", "0", "--no-video"])
        == 0
    )
    # Another subject (its tracking differs) is refused.
    with open(moved_subject / "tracking.npz", "ab") as stream:
        stream.write(b"\0")
    assert main(["eval", str(moved_run), "--subject", str(moved_subject), "--no-video"]) == 2
    assert "not the subject" in capsys.readouterr().err


def test_a_photometrically_tracked_subject_is_scored_at_its_landmark_fit_too(ict_model, tmp_path, capsys):
    """Three protocols: refined, tracked (here the photometric tracking) and landmark-tracked, the
    landmark fit the subject keeps (here 11 degrees and 1.5 cm off) rendered and scored."""
    from headsplat.avatar import load_avatar
    from headsplat.evaluation.evaluate import mean_psnr
    from headsplat.geometry import axis_angle_to_matrix
    from headsplat.io.subject import load_subject
    from headsplat.training.data import load_frame_data
    from headsplat.training.run import train_run
    from tests.synthetic_subject import tiny_config, write_synthetic_subject

    subject = write_synthetic_subject(tmp_path / "subject", ict_model, 32)
    with np.load(subject / "tracking.npz") as data:
        tracking = dict(data)
    turn = axis_angle_to_matrix(torch.tensor([0.0, 0.2, 0.0]))
    tracking.update(
        tracker=np.array("photometric"),
        landmark_fit_rotation=tracking["rotation"] @ turn.numpy(),
        landmark_fit_translation=tracking["translation"] + np.array([1.5, 0, 0], np.float32),
        landmark_fit_expression=tracking["expression"],
    )
    np.savez(subject / "tracking.npz", **tracking)
    train_run(subject, tmp_path / "run", tiny_config(32, 8), model=ict_model, log=lambda _: None)
    assert main(["eval", str(tmp_path / "run"), "--no-video", "--refine-steps", "2"]) == 0
    printed = capsys.readouterr().out
    assert "photo-tracked: PSNR" in printed and "landmark-tracked: PSNR" in printed
    metrics = json.loads((tmp_path / "run" / "eval" / "metrics.json").read_text())
    assert metrics["tracker"] == "photometric" and "error_budget" in metrics["landmark_tracked"]
    avatar = load_avatar(tmp_path / "run")
    data = load_frame_data(load_subject(subject), 32).with_torso(avatar.rest_pose())
    for scores, frames in (
        (metrics["tracked"], data),
        (metrics["landmark_tracked"], data.landmark_tracked()),
    ):
        assert scores["psnr"] == pytest.approx(
            mean_psnr(avatar, frames, [8, 9], background=avatar.info["background"])
        )
    assert abs(metrics["landmark_tracked"]["psnr"] - metrics["tracked"]["psnr"]) > 0.01
