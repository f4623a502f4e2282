"""Test-time tracking refinement: a frozen avatar pulls a wrongly tracked frame back into place."""

from dataclasses import replace

import torch

from headsplat.avatar.gaussians.store import rgb_to_sh0
from headsplat.geometry import axis_angle_to_matrix
from headsplat.io.subject import load_subject
from headsplat.metrics import psnr
from headsplat.training.data import load_frame_data
from headsplat.training.refine import RefineConfig, fit_corrections, project_gaze
from headsplat.training.run import new_avatar
from tests.synthetic_subject import tiny_config

SIZE = 64


def _colourful_avatar(synthetic_subject, ict_model):
    """An untrained avatar with random colours (every shift of the head changes the image)."""
    subject = load_subject(synthetic_subject)
    avatar = new_avatar(ict_model, subject, tiny_config(SIZE, texels_per_cm=0.8))
    colours = torch.rand(len(avatar.gaussians), 3, generator=torch.Generator().manual_seed(0))
    avatar.gaussians.sh0.data = rgb_to_sh0(colours)
    data = load_frame_data(subject, SIZE).with_torso(avatar.rest_pose())
    return avatar, data


def _scores(avatar, conditions, targets):
    with torch.no_grad():
        return [
            float(psnr(avatar.render(c, background=0.0).image, t))
            for c, t in zip(conditions, targets, strict=True)
        ]


def test_refinement_undoes_a_tracking_error_and_leaves_the_avatar_alone(synthetic_subject, ict_model):
    avatar, data = _colourful_avatar(synthetic_subject, ict_model)
    _, test_frames = data.subject.split()
    truth = [data.condition(int(f)) for f in test_frames]
    with torch.no_grad():
        targets = [avatar.render(c, background=0.0).image for c in truth]
    # The tracker erred by 2 degrees and 3 mm on the test frames.
    error = axis_angle_to_matrix(torch.tensor([0.03, -0.02, 0.01]))
    shift = torch.tensor([0.3, -0.2, 0.0])
    tracked = [replace(c, rotation=c.rotation @ error, translation=c.translation + shift) for c in truth]
    before = _scores(avatar, tracked, targets)
    gaussians = {k: v.detach().clone() for k, v in avatar.state_dict().items()}
    refined = fit_corrections(
        avatar, tracked, data.camera(), targets, background=0.0, config=RefineConfig(steps=40)
    ).apply(tracked)
    after = _scores(avatar, refined, targets)
    assert all(a > b + 6 for a, b in zip(after, before, strict=True)), (before, after)
    assert min(after) > 30, after
    assert all(torch.equal(gaussians[k], v) for k, v in avatar.state_dict().items())
    assert all(p.requires_grad for p in avatar.gaussians.parameters())  # the flags are restored
    assert all(p.grad is None for p in avatar.parameters())
    assert all(not c.rotation.requires_grad for c in refined)


def test_an_expression_correction_outside_the_range_can_come_back(synthetic_subject, ict_model):
    """The previous frame left a jawOpen correction of about -0.5 and this frame's tracking says 0:
    a clamp inside the render would hold the corrected weight at 0 with no gradient, however open
    the mouth in the image. Projection keeps the weight in [0, 1], so refinement opens the jaw."""
    avatar, data = _colourful_avatar(synthetic_subject, ict_model)
    jaw = ict_model.expression_index("jawOpen")
    first, second = data.condition(6), data.condition(7)
    opened = second.expression.clone()
    opened[jaw] = 0.6
    with torch.no_grad():
        targets = [
            avatar.render(c, background=0.0).image for c in (first, replace(second, expression=opened))
        ]
    wrong = first.expression.clone()
    wrong[jaw] = 0.5  # the first frame's tracking opens the jaw; its image does not
    config = RefineConfig(steps=40, lr_rotation=0.0, lr_translation=0.0)
    conditions = [replace(first, expression=wrong), second]
    refined = fit_corrections(
        avatar, conditions, data.camera(), targets, background=0.0, config=config
    ).apply(conditions)
    assert refined[0].expression[jaw] < 0.15  # the first frame closed the jaw: a correction near -0.5
    assert refined[1].expression[jaw] > 0.3, float(refined[1].expression[jaw])
    assert all(((c.expression >= 0) & (c.expression <= 1)).all() for c in refined)


def test_refinement_finds_a_look_the_tracking_missed(synthetic_subject, ict_model):
    """The eyes look up and to the side in the images; the tracking says they look ahead. Gaze
    refinement turns the eyeballs back to where the image has them."""
    avatar, data = _colourful_avatar(synthetic_subject, ict_model)
    look = torch.tensor([0.2, 0.15])  # yaw, pitch (radians), both eyes
    tracked = [data.condition(f) for f in (6, 7)]
    truth = [replace(c, gaze=c.gaze + look) for c in tracked]
    with torch.no_grad():
        targets = [avatar.render(c, background=0.0).image for c in truth]
    config = RefineConfig(steps=40, lr_rotation=0.0, lr_translation=0.0, lr_expression=0.0, lr_gaze=1e-2)
    refined = fit_corrections(avatar, tracked, data.camera(), targets, background=0.0, config=config).apply(
        tracked
    )
    for before, after, true in zip(tracked, refined, truth, strict=True):
        assert (after.gaze - true.gaze).abs().max() < 0.3 * (before.gaze - true.gaze).abs().max()
    assert min(_scores(avatar, refined, targets)) > max(_scores(avatar, tracked, targets)) + 3


def test_gaze_projection_keeps_both_eyes_in_range():
    gaze = torch.tensor([[0.5, -0.1], [0.3, 0.0]])  # (eye, yaw/pitch)
    projected = project_gaze(torch.tensor([0.3, -0.7]), gaze, 0.6)
    assert torch.allclose(projected, torch.tensor([0.1, -0.5]))
    assert ((gaze + projected).abs() <= 0.6 + 1e-6).all()
    inside = torch.tensor([0.05, 0.2])
    assert torch.equal(project_gaze(inside, gaze, 0.6), inside)
