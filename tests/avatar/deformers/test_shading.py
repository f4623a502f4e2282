"""The turning-head light: colours follow the world-space normals, a zero light changes nothing, and
a light seen at a few head poses is recovered from the colours alone."""

import pytest
import torch

from headsplat.avatar.avatar import AvatarConfig
from headsplat.avatar.deformers.base import BuildContext, DeformContext
from headsplat.avatar.deformers.shading import Shading, ShadingConfig, shading_factor
from headsplat.geometry import axis_angle_to_matrix, sh_basis
from tests.avatar.helpers import strip_avatar


def _shaded(
    module: Shading, avatar, rotation: torch.Tensor, view: torch.Tensor | None = None
) -> torch.Tensor:
    """(N, 3) colours of the strip avatar turned by ``rotation`` (3, 3), through ``module``, for a
    camera with world-to-camera rotation ``view``."""
    posed = avatar.head.neutral @ rotation.T
    gaussians = avatar.gaussians.posed(posed, avatar.head.triangles)
    head = avatar.head
    condition = avatar.condition(rotation=rotation)
    ctx = DeformContext(condition, head, avatar.gaussians, head.neutral, posed, view)
    return module(gaussians, ctx).colours


def test_the_basis_is_the_real_harmonics_of_degree_one_and_two():
    normals = torch.nn.functional.normalize(torch.randn(100, 3), dim=-1)
    basis = sh_basis(normals, 2)
    assert basis.shape == (100, 8) and sh_basis(normals, 1).shape == (100, 3)
    # Degree 1 is the normal itself (in the order y, z, x); degree 2 integrates to zero on the sphere.
    assert torch.equal(basis[:, :3], normals[:, [1, 2, 0]])
    sphere = torch.nn.functional.normalize(
        torch.randn(50_000, 3, generator=torch.Generator().manual_seed(0)), dim=-1
    )
    assert sh_basis(sphere, 2).mean(0).abs().max() < 0.02
    assert torch.equal(shading_factor(normals, torch.zeros(8, 3), 0.5), torch.ones(100, 3))


def test_a_head_turned_from_the_light_darkens_and_a_zero_light_changes_nothing():
    """The normals are the neutral mesh's turned with the head: the light follows head turns."""
    avatar = strip_avatar(6, AvatarConfig(mesh_deformers={}, gaussian_deformers={}))
    build = BuildContext(avatar.head, len(avatar.gaussians))
    module = Shading(ShadingConfig(degree=1), build)
    plain = avatar.gaussians.rgb()
    assert torch.equal(_shaded(module, avatar, torch.eye(3)), plain)
    with torch.no_grad():
        module.coefficients[1] = torch.tensor([0.5, 0.4, 0.3])  # light along the z axis
    facing = _shaded(module, avatar, torch.eye(3))
    turned = _shaded(module, avatar, axis_angle_to_matrix(torch.tensor([0.0, torch.pi / 2, 0.0])))
    expected = 1 + 0.5 * torch.tanh(torch.tensor([0.5, 0.4, 0.3]))
    assert torch.allclose(facing, plain * expected, atol=1e-5)  # the strip faces +z
    assert torch.allclose(turned, plain, atol=1e-5)  # side-on: no light from the z term
    # The light stays with the camera: a camera that circles to the side sees the side lit.
    quarter = axis_angle_to_matrix(torch.tensor([0.0, torch.pi / 2, 0.0]))
    assert torch.allclose(_shaded(module, avatar, quarter, view=quarter.T), facing, atol=1e-5)


def test_the_light_is_recovered_from_colours_at_a_few_head_poses():
    avatar = strip_avatar(4, AvatarConfig(mesh_deformers={}, gaussian_deformers={}))
    build = BuildContext(avatar.head, len(avatar.gaussians))
    generator = torch.Generator().manual_seed(1)
    truth = Shading(ShadingConfig(degree=2), build)
    with torch.no_grad():
        truth.coefficients.copy_(0.2 * torch.randn(8, 3, generator=generator))
    turns = [axis_angle_to_matrix(turn) for turn in torch.randn(16, 3, generator=generator)]
    targets = [_shaded(truth, avatar, turn).detach() for turn in turns]
    learned = Shading(ShadingConfig(degree=2), build)
    optimizer = torch.optim.Adam(learned.parameters(), lr=0.05)
    for _ in range(250):
        optimizer.zero_grad()
        pairs = zip(turns, targets, strict=True)
        loss = sum((_shaded(learned, avatar, turn) - target).pow(2).mean() for turn, target in pairs)
        loss.backward()
        optimizer.step()
    assert loss.item() < 1e-8
    assert torch.allclose(learned.coefficients, truth.coefficients, atol=1e-3)


def test_only_degrees_one_and_two_are_offered():
    avatar = strip_avatar(2, AvatarConfig(mesh_deformers={}, gaussian_deformers={}))
    with pytest.raises(ValueError, match="degree must be 1 or 2"):
        Shading(ShadingConfig(degree=3), BuildContext(avatar.head, 2))
