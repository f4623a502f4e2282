"""The avatar as an artifact: it renders conditions through cameras, saves to one file and loads
back, and a run folder moved without its subject and head model still renders and exports."""

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from headsplat.avatar import Avatar, load_avatar
from headsplat.cli import main
from headsplat.io.errors import InputError
from headsplat.io.subject import load_subject
from headsplat.training.data import load_frame_data

PYTHON_MD = Path(__file__).resolve().parents[2] / "docs" / "python.md"


def test_an_avatar_file_loads_back_bit_for_bit(trained_run, tmp_path):
    run, _ = trained_run
    avatar = load_avatar(run)
    path = avatar.save(tmp_path / "me.safetensors")
    again = Avatar.load(path)
    assert again.state_dict().keys() == avatar.state_dict().keys()
    assert all(torch.equal(again.state_dict()[k], v) for k, v in avatar.state_dict().items())
    assert again.metadata() == avatar.metadata()
    condition = avatar.condition()
    assert torch.equal(again.render(condition).image, avatar.render(condition).image)
    assert again.expression_names[:2] == ["browDown_L", "browDown_R"]  # ARKit names travel along


def test_a_format_1_avatar_renders_as_it_did_its_hair_bound_as_its_face(trained_run):
    """Format 1 had one binding range for every Gaussian; the hair's own came with format 2."""
    avatar = load_avatar(trained_run[0])
    meta = avatar.metadata()
    meta["config"]["gaussians"] |= {"hair_max_offset": 3.0, "hair_scale_ratio_max": 30.0}
    gaussians = meta["config"]["gaussians"]
    assert Avatar.from_state(avatar.state_dict(), meta).gaussians.config.hair_max_offset == 3.0
    old = {**meta, "format_version": 1}
    old["config"] = {**meta["config"], "gaussians": dict(gaussians)}
    del old["config"]["gaussians"]["hair_max_offset"], old["config"]["gaussians"]["hair_scale_ratio_max"]
    loaded = Avatar.from_state(avatar.state_dict(), old)
    assert loaded.gaussians.config.hair_max_offset == gaussians["max_offset"]
    assert loaded.gaussians.config.hair_scale_ratio_max == gaussians["scale_ratio_max"]
    hair = avatar.head.hair_triangles()[avatar.gaussians.triangle]
    offsets = loaded.gaussians.offset_distance(loaded.head.hair_triangles())
    expected = gaussians["max_offset"] * torch.tanh(avatar.gaussians.offset)
    assert hair.any() and torch.equal(offsets, expected)
    with pytest.raises(InputError, match="avatar format 7"):
        Avatar.from_state(avatar.state_dict(), {**meta, "format_version": 7})


def test_the_rest_face_is_the_most_neutral_training_frames(speaking_run):
    """The rest expression is a face the person made: the tracked expression of the training frame
    whose weights are smallest, not a per-weight statistic no frame shows."""
    run, subject = speaking_run
    avatar = load_avatar(run)
    found = load_subject(subject)
    train, _ = found.split()
    expression = torch.from_numpy(found.tracking["expression"][train]).float()
    most_neutral = expression[int(expression.norm(dim=1).argmin())]
    assert torch.equal(avatar.neutral_expression, most_neutral)
    assert not torch.allclose(avatar.neutral_expression, expression.median(0).values)


def test_the_avatar_renders_the_training_frames_conditions(trained_run):
    """A subject's tracked condition, through the training camera, renders the frame's pose: the
    avatar's silhouette covers the frame's mask."""
    run, subject = trained_run
    avatar = load_avatar(run)
    data = load_frame_data(load_subject(subject), avatar.size).with_torso(avatar.rest_pose())
    for f in (0, 9):
        alpha = avatar.render(data.condition(f), data.camera()).alpha[..., 0]
        mask = data.alpha(f)[..., 0] > 0.5
        assert alpha[mask].mean() > 0.8 and alpha[~mask].mean() < 0.3


def test_a_moved_run_renders_and_exports_without_its_subject_or_head_model(
    trained_run, tmp_path, monkeypatch, capsys
):
    run, _ = trained_run
    moved = tmp_path / "moved" / "run"
    shutil.copytree(run, moved)
    monkeypatch.setenv("HEADSPLAT_ICT_MODEL", str(tmp_path / "nowhere.npz"))
    monkeypatch.setenv("HEADSPLAT_CACHE", str(tmp_path / "empty-cache"))
    config = (moved / "config.json").read_text()
    (moved / "config.json").write_text(
        config.replace(str(trained_run[1].resolve()), str(tmp_path / "deleted"))
    )
    assert main(["eval", str(moved)]) == 2
    assert "--subject" in capsys.readouterr().err
    assert main(["render", str(moved), "--orbit", "--frames", "2"]) == 0
    assert main(["export", str(moved), "--ply", str(tmp_path / "me.ply")]) == 0
    assert (moved / "orbit.mp4").is_file() and (tmp_path / "me.ply").stat().st_size > 1000

    # The Python page's load_avatar snippet, on the moved run.
    snippet = re.search(r"```python\n(.*?headsplat\.load_avatar.*?)```", PYTHON_MD.read_text(), re.S).group(1)
    namespace = {}
    exec(snippet.replace('"runs/me"', repr(str(moved))), namespace)
    image = namespace["image"]
    assert image.shape == (512, 512, 3) and image.min() >= 0 and image.max() <= 1
    neutral = (
        namespace["avatar"].render(namespace["avatar"].condition(), namespace["avatar"].camera(512)).image
    )
    assert (image - neutral).abs().mean() > 1e-3  # the expression and the turn show
    assert np.isfinite(image.numpy()).all()
