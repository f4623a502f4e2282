"""`headsplat train` -> `headsplat export --ply`: the standard 3DGS layout, read back with plyfile."""

import json

import numpy as np
import pytest
import torch
from plyfile import PlyData

from headsplat.apps.export.ply import FIELDS
from headsplat.avatar.gaussians.attributes import world_gaussians
from headsplat.cli import main
from headsplat.training.trainer import load_avatar
from tests.synthetic_subject import write_synthetic_subject


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, ict_model):
    folder = tmp_path_factory.mktemp("export")
    subject = write_synthetic_subject(folder / "subject", ict_model, 32)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("headsplat.training.trainer.load_head_model", lambda path=None: ict_model)
        args = ["train", str(subject), "-o", str(folder / "run"), "--steps", "8", "--size", "32"]
        assert main([*args, "--texels-per-cm", "0.5"]) == 0
    return folder / "run", ict_model


def test_ply_holds_the_avatar_in_the_standard_layout(trained_run, tmp_path, monkeypatch):
    run, model = trained_run
    monkeypatch.setattr("headsplat.training.trainer.load_head_model", lambda path=None: model)
    path = tmp_path / "avatar.ply"
    assert main(["export", str(run), "--ply", str(path)]) == 0
    vertex = PlyData.read(str(path))["vertex"]
    assert vertex.data.dtype.names == FIELDS
    assert all(vertex.data.dtype[name] == np.dtype("<f4") for name in FIELDS)

    state, _, _ = load_avatar(run, model)
    neutral = state.head.canonical(torch.zeros(1, model.n_expression), torch.zeros(1, 2, 2))[0]
    means, quats, scales, opacities, _ = world_gaussians(state.params, neutral, state.head.triangles)
    assert vertex.count == len(means) == len(state.params["triangle"])
    column = lambda *names: np.stack([vertex[n] for n in names], axis=1)  # noqa: E731
    np.testing.assert_allclose(column("x", "y", "z"), means.detach().numpy(), atol=1e-5)
    np.testing.assert_allclose(column("rot_0", "rot_1", "rot_2", "rot_3"), quats.detach().numpy(), atol=1e-6)
    np.testing.assert_allclose(
        np.exp(column("scale_0", "scale_1", "scale_2")), scales.detach().numpy(), rtol=1e-5
    )
    np.testing.assert_allclose(1 / (1 + np.exp(-vertex["opacity"])), opacities.detach().numpy(), atol=1e-6)
    np.testing.assert_allclose(column("f_dc_0", "f_dc_1", "f_dc_2"), state.params["sh0"].detach().numpy())
    assert (column("nx", "ny", "nz") == 0).all()
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())  # no partial file left


def test_run_folder_errors(trained_run, tmp_path, capsys):
    run, _ = trained_run
    config = json.loads((run / "config.json").read_text())
    assert config["steps"] == 8 and config["size"] == 32
    assert config["still_torso"] and config["complete_unseen"]  # the defaults
    assert main(["train", config["subject"], "-o", str(run), "--steps", "8"]) == 2
    assert "--resume" in capsys.readouterr().err
    assert main(["export", str(tmp_path), "--ply", str(tmp_path / "x.ply")]) == 2
    assert "not a headsplat run folder" in capsys.readouterr().err


def test_train_flags_switch_off_the_still_torso_and_the_completion(trained_run, tmp_path, monkeypatch):
    run, model = trained_run
    monkeypatch.setattr("headsplat.training.trainer.load_head_model", lambda path=None: model)
    subject = json.loads((run / "config.json").read_text())["subject"]
    args = [
        "train",
        subject,
        "-o",
        str(tmp_path / "run"),
        "--steps",
        "2",
        "--size",
        "32",
        "--texels-per-cm",
        "0.5",
    ]
    assert main([*args, "--moving-torso", "--no-completion"]) == 0
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert not config["still_torso"] and not config["complete_unseen"]


def test_eval_writes_metrics_and_a_side_by_side_video(trained_run, monkeypatch, capsys):
    from headsplat.io.video import iter_mp4

    run, model = trained_run
    monkeypatch.setattr("headsplat.training.trainer.load_head_model", lambda path=None: model)
    assert main(["eval", str(run)]) == 0
    assert "PSNR" in capsys.readouterr().out
    metrics = json.loads((run / "eval" / "metrics.json").read_text())
    assert metrics["test_frames"] == 2 and metrics["steps"] == 8 and metrics["size"] == 32
    assert 5 < metrics["psnr"] < 60 and 0 < metrics["ssim"] <= 1 and 0 <= metrics["lpips"] < 1
    assert metrics["gaussians"] > 100 and metrics["render_fps"] > 0
    assert len(metrics["per_frame"]["psnr"]) == 2
    frames = list(iter_mp4(run / "eval" / "side_by_side.mp4"))
    assert len(frames) == 2 and frames[0].shape == (32, 96, 3)
    # The headline scores are after refining the test frames' tracking; the tracked ones beside.
    assert metrics["protocol"] == "refined (20 steps per frame)" and metrics["refine_minutes"] > 0
    assert metrics["psnr"] > metrics["tracked"]["psnr"]
    assert main(["eval", str(run), "--refine-steps", "0", "--no-video"]) == 0
    tracked = json.loads((run / "eval" / "metrics.json").read_text())
    assert tracked["protocol"] == "tracked" and tracked["refine_minutes"] == 0
    assert tracked["psnr"] == tracked["tracked"]["psnr"] == metrics["tracked"]["psnr"]


def test_orbit_video_turns_the_head(trained_run, monkeypatch):
    from headsplat.io.video import iter_mp4

    run, model = trained_run
    monkeypatch.setattr("headsplat.training.trainer.load_head_model", lambda path=None: model)
    assert main(["render", str(run), "--orbit", "--frames", "4"]) == 0
    frames = np.stack(list(iter_mp4(run / "orbit.mp4"))).astype(float)
    assert frames.shape == (4, 32, 32, 3)
    background = np.abs(frames - 255).max(-1) < 20  # trained on a white background
    assert 0.1 < (~background).mean() < 0.9  # a head fills part of each frame
    # The profile's silhouette differs from the front's; a half turn mirrors it left-right.
    assert (background[0] != background[1]).mean() > 0.05
    assert (background[0] != background[2][:, ::-1]).mean() < (background[0] != background[1]).mean()
    assert main(["render", str(run)]) == 2  # nothing asked for
