"""The head's motion as an input: measured from the frames before, zero for a still head, carried
by every sequence of conditions, and moving only the hair's Gaussians."""

import math

import pytest
import torch

from headsplat.avatar import load_avatar
from headsplat.avatar.condition import MOTION, MOTION_SECONDS, head_motion
from headsplat.avatar.deformers.base import BuildContext
from headsplat.avatar.deformers.hair_motion import HairMotion, HairMotionConfig
from headsplat.avatar.deformers.uv_decoder import feature_atlas
from headsplat.avatar.linear import linearise
from headsplat.cli import main
from headsplat.drive.motion import Motion
from headsplat.geometry import axis_angle_to_matrix
from headsplat.io.errors import InputError
from headsplat.io.subject import load_subject
from headsplat.training.data import load_frame_data
from tests.avatar.helpers import train_with_deformer


def turning(n: int, rate: float, fps: float, start: int = 0) -> torch.Tensor:
    """(n, 3, 3) a head still until frame ``start``, then turning about y at ``rate`` rad/s."""
    angles = (torch.arange(n) - start).clamp_min(0) * rate / fps
    base = axis_angle_to_matrix(torch.tensor([0.2, -0.1, 0.05]))
    return axis_angle_to_matrix(angles[:, None] * torch.tensor([0.0, 1.0, 0.0])) @ base


def test_head_motion_is_zero_when_still_and_measures_a_steady_turn():
    fps = 25.0
    assert torch.equal(head_motion(turning(8, 0.0, fps), fps), torch.zeros(8, 6))
    motion = head_motion(turning(12, 2.0, fps, start=3), fps)
    assert torch.equal(motion[:4], torch.zeros(4, 6))  # still up to frame 3: nothing from the future
    expected = torch.tensor([0.0, 2.0 * MOTION_SECONDS, 0.0])
    torch.testing.assert_close(motion[5:, :3], expected.expand(7, 3), atol=1e-5, rtol=0)
    torch.testing.assert_close(
        motion[7:, 3:], torch.zeros(5, 3), atol=1e-5, rtol=0
    )  # steady: no acceleration
    assert motion[5, 4] > 0.1  # it sped up over frames 3-5
    # In the torso's axes: a torso turned a quarter about z has its x axis along the world's y.
    torso = axis_angle_to_matrix(torch.tensor([0.0, 0.0, math.pi / 2]))
    in_torso = head_motion(turning(12, 2.0, fps, start=3), fps, torso)
    torch.testing.assert_close(
        in_torso[8, :3], torch.tensor([2.0 * MOTION_SECONDS, 0.0, 0.0]), atol=1e-5, rtol=0
    )


def test_every_sequence_of_conditions_carries_its_motion(trained_run):
    run, subject_folder = trained_run
    avatar = load_avatar(run)
    subject = load_subject(subject_folder)
    data = load_frame_data(subject, 32).with_torso(avatar.rest_pose())
    whole = head_motion(data.rotation, subject.meta["fps"], avatar.rest_rotation)
    assert whole[1:].abs().max() > 0  # the synthetic head turns
    for f in range(subject.n_frames):
        torch.testing.assert_close(data.condition(f).extras[MOTION], whole[f], atol=1e-6, rtol=0)
    motion = Motion(
        data.expression, tuple(avatar.expression_names), data.gaze, data.rotation, data.translation, 25.0
    )
    driven = [c.extras[MOTION] for c in motion.conditions(avatar.rest_pose())]
    torch.testing.assert_close(torch.stack(driven), head_motion(data.rotation, 25.0, avatar.rest_rotation))


def test_only_the_hair_moves_and_nothing_when_the_head_is_still(trained_run):
    avatar = load_avatar(trained_run[0])
    condition = avatar.condition(avatar.neutral_expression)
    before = avatar.posed_gaussians(condition)
    deformer = HairMotion(HairMotionConfig(), BuildContext(avatar.head, len(avatar.gaussians)))
    avatar.gaussian_deformers["hair_motion"] = deformer
    still = condition.__class__(**{**condition.__dict__, "extras": {MOTION: torch.zeros(6)}})
    for pose in (condition, still):
        for a, b in zip(avatar.posed_gaussians(pose), before, strict=True):
            assert torch.equal(a, b)
    moving = condition.__class__(
        **{**condition.__dict__, "extras": {MOTION: torch.tensor([0, 0.5, 0, 0, 1.0, 0])}}
    )
    moved = (avatar.posed_gaussians(moving).means - before.means).norm(dim=-1)
    hair = avatar.head.hair_triangles()[avatar.gaussians.triangle]
    assert moved[hair].max() > 1e-3 and torch.equal(moved[~hair], torch.zeros(int((~hair).sum())))
    with pytest.raises(InputError, match="hair_motion moves its Gaussians"):
        linearise(avatar)


def test_hair_motion_trains_from_the_cli_and_drives_a_reenactment(
    synthetic_subject, ict_model, tmp_path, monkeypatch
):
    monkeypatch.setattr("headsplat.training.run.load_head_model", lambda path=None: ict_model)
    run = tmp_path / "run"
    assert train_with_deformer(synthetic_subject, run, "hair_motion", 3) == 0
    avatar = load_avatar(run)
    deformer = avatar.gaussian_deformers["hair_motion"]
    assert isinstance(deformer, HairMotion)
    start = feature_atlas(avatar.head, 8, 32)
    assert not torch.equal(deformer.features, start)  # the turning head taught it
    video = tmp_path / "driven.mp4"
    assert main(["reenact", str(run), str(synthetic_subject), "-o", str(video)]) == 0
    assert video.stat().st_size > 0
