"""Gaussian blendshapes (:mod:`headsplat.avatar.linear`) against the exact avatar they linearise."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from headsplat.avatar import load_avatar
from headsplat.avatar.linear import linearise, pose_linear
from headsplat.geometry import axis_angle_to_matrix
from headsplat.metrics import psnr


@pytest.fixture(scope="module")
def avatar_and_linear(trained_run):
    avatar = load_avatar(trained_run[0])
    return avatar, linearise(avatar)


def test_the_linear_avatar_is_the_exact_one_at_rest(avatar_and_linear):
    avatar, linear = avatar_and_linear
    condition = avatar.condition(avatar.neutral_expression)
    exact, posed = avatar.posed_gaussians(condition), pose_linear(linear, condition)
    # Half-precision deltas times the rest weights: within a thousandth of a cm.
    np.testing.assert_allclose(posed.means, exact.means, atol=1e-3)
    alignment = (posed.quats * exact.quats).sum(-1).abs()
    assert alignment.min() > 1 - 1e-4
    np.testing.assert_allclose(posed.scales, exact.scales, rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(posed.colours, exact.colours, atol=1e-6)
    np.testing.assert_allclose(posed.opacities, exact.opacities, atol=1e-6)


def test_the_export_keeps_the_vertices_the_gaussians_use(avatar_and_linear):
    avatar, linear = avatar_and_linear
    names = linear.expression_names
    assert linear.vertex_deltas.shape == (len(names), len(linear.vertices), 3)
    assert linear.triangles.max() == len(linear.vertices) - 1
    used = np.unique(avatar.head.triangles[avatar.gaussians.triangle].numpy())
    assert len(linear.vertices) == len(used) < avatar.head.n_vertices
    # The jaw moves the chin's vertices, not the scalp's.
    moved = np.linalg.norm(linear.vertex_deltas[names.index("jawOpen")].astype(np.float32), axis=1) > 0.05
    height = linear.vertices[:, 1]
    assert moved.any() and height[moved].mean() < height[~moved].mean()


def test_expressions_and_head_turns_render_as_the_exact_avatar(avatar_and_linear):
    avatar, linear = avatar_and_linear
    generator = torch.Generator().manual_seed(0)
    camera = avatar.camera(64)
    for _ in range(3):
        expression = torch.rand(len(linear.expression_names), generator=generator)
        turn = axis_angle_to_matrix(torch.tensor([0.1, 0.35, -0.05]))
        rotation = avatar.rest_rotation @ turn  # the head turns, the torso stays at rest
        condition = avatar.condition(
            expression, gaze=torch.tensor([[0.2, 0.1], [0.2, 0.1]]), rotation=rotation
        )
        exact = avatar.render(condition, camera).image
        linear_image = avatar.rasterize(pose_linear(linear, condition), camera).image
        # The binding is the avatar's, on its own mesh: the same render.
        assert psnr(linear_image, exact) > 50


def test_gaze_turns_the_eyeballs_as_the_exact_avatar(avatar_and_linear):
    avatar, linear = avatar_and_linear
    eye = torch.from_numpy((linear.vertex_eye[linear.triangles] >= 0).all(1))  # Gaussians on an eyeball
    assert eye.any()
    condition = avatar.condition(avatar.neutral_expression, gaze=torch.tensor([[0.3, -0.1], [0.25, -0.1]]))
    exact, posed = avatar.posed_gaussians(condition), pose_linear(linear, condition)
    np.testing.assert_allclose(posed.means[eye], exact.means[eye], atol=1e-3)
    still = avatar.posed_gaussians(avatar.condition(avatar.neutral_expression)).means[eye]
    assert (exact.means[eye] - still).norm(dim=-1).max() > 0.1  # the gaze did move them


def test_a_deformer_that_moves_gaussians_is_refused_and_a_colour_one_baked(trained_run):
    from headsplat.avatar.deformers.base import BuildContext, GaussianDeformer
    from headsplat.avatar.deformers.shading import Shading, ShadingConfig
    from headsplat.io.errors import InputError

    class Wobble(GaussianDeformer):
        Config = dict

        def forward(self, gaussians, ctx):
            return gaussians._replace(means=gaussians.means + ctx.condition.expression[0])

    avatar = load_avatar(trained_run[0])
    build = BuildContext(avatar.head, len(avatar.gaussians))
    shading = Shading(ShadingConfig(), build).requires_grad_(False)
    shading.coefficients.fill_(0.3)
    avatar.gaussian_deformers["shading"] = shading
    linear = linearise(avatar)  # colours only: baked as the training camera saw the head from the front
    model_space = avatar.condition(
        avatar.neutral_expression, rotation=torch.eye(3), translation=torch.zeros(3)
    )
    front = torch.diag(torch.tensor([1.0, -1.0, -1.0]))  # model axes -> OpenCV, facing the camera
    exact = avatar.posed_gaussians(replace(model_space, torso=None), front)
    np.testing.assert_allclose(linear.colours, exact.colours.numpy(), atol=1e-5)
    assert np.abs(linear.colours - avatar.gaussians.rgb().numpy()).max() > 0.01  # the light is in them
    avatar.gaussian_deformers["wobble"] = Wobble()
    with pytest.raises(InputError, match="wobble moves its Gaussians"):
        linearise(avatar)
