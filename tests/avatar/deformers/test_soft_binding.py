"""STAvatar's soft binding: the UV atlas, the deformer's contract, and training it from the CLI."""

import pytest
import torch

from headsplat.avatar import load_avatar
from headsplat.avatar.deformers.base import BuildContext, DeformContext
from headsplat.avatar.deformers.soft_binding import SoftBinding, SoftBindingConfig
from headsplat.avatar.gaussians.uv_atlas import atlas_grid, in_tiles, sample_atlas
from headsplat.avatar.linear import linearise
from headsplat.io.errors import InputError
from headsplat.strategy.base import copy_rows, random_barycentric
from tests.avatar.helpers import train_with_deformer


def test_materials_that_share_uvs_get_their_own_atlas_tiles():
    # Two triangles with the same UVs in tile 0 (as ICT's face and eyeballs), materials 0 and 2.
    uvs = torch.tensor([[[0.1, 0.1], [0.9, 0.1], [0.1, 0.9]]] * 2)
    material = torch.tensor([0, 2])
    bary = torch.tensor([[1.0, 0.0, 0.0], [0.2, 0.3, 0.5], [0.0, 0.0, 1.0]]).repeat(2, 1)
    triangle = torch.tensor([0, 0, 0, 1, 1, 1])
    grid = atlas_grid(uvs, material, triangle=triangle, bary=bary, n_materials=3, resolution=8)
    x = (grid[:, 0] + 1) / 2 * 3  # in tiles
    assert ((x[:3] > 0) & (x[:3] < 1)).all() and ((x[3:] > 2) & (x[3:] < 3)).all()
    torch.testing.assert_close(grid[:3, 1], grid[3:, 1])  # the same place within each tile
    # A UV in another unit tile (u in [1, 2)) lands at its fraction; on a tile's edge, half a texel in.
    shifted = atlas_grid(
        uvs + torch.tensor([1.0, 0.0]), material, triangle=triangle, bary=bary, n_materials=3, resolution=8
    )
    torch.testing.assert_close(shifted, grid)
    edge = atlas_grid(
        torch.zeros(1, 3, 2),
        torch.tensor([1]),
        triangle=torch.tensor([0]),
        bary=bary[:1],
        n_materials=3,
        resolution=8,
    )
    assert (edge[0, 0] + 1) / 2 * 3 == pytest.approx(1 + 0.5 / 8)
    # Sampling an atlas of only the tiles read gives the whole atlas's values.
    atlas = torch.randn(2, 8, 3 * 8)
    kept = torch.cat([atlas[:, :, 16:], atlas[:, :, :8]], dim=2)  # tiles 2 then 0
    torch.testing.assert_close(sample_atlas(kept, in_tiles(grid, [2, 0], 3)), sample_atlas(atlas, grid))
    with pytest.raises(ValueError, match="not among"):
        in_tiles(grid, [2], 3)


def soft_binding_on(avatar):
    deformer = SoftBinding(SoftBindingConfig(), BuildContext(avatar.head, len(avatar.gaussians)))
    avatar.gaussian_deformers["soft_binding"] = deformer
    return deformer


def test_it_starts_as_the_identity_and_then_moves_with_the_expression(trained_run):
    avatar = load_avatar(trained_run[0])
    condition = avatar.condition(avatar.neutral_expression)
    before = avatar.posed_gaussians(condition)
    deformer = soft_binding_on(avatar)
    after = avatar.posed_gaussians(condition)
    for a, b in zip(before, after, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    torch.nn.init.normal_(deformer.decoder[-1].weight, std=0.5)
    names = avatar.expression_names
    smile = avatar.neutral_expression.clone()
    smile[names.index("mouthSmile_L")] = 1.0
    shifted = avatar.posed_gaussians(avatar.condition(smile)).means
    still = avatar.posed_gaussians(condition).means
    assert (shifted - still).norm(dim=-1).max() > 1e-3
    # Features are sampled at each Gaussian's UV point: one row per Gaussian, whatever their number.
    ctx = DeformContext(condition, avatar.head, avatar.gaussians, posed=avatar.mesh(condition)[1])
    assert deformer.offsets(ctx).shape == (len(avatar.gaussians), 13)
    with pytest.raises(InputError, match="soft_binding moves its Gaussians"):
        linearise(avatar)


def test_soft_binding_trains_from_the_cli_through_densification(
    synthetic_subject, ict_model, tmp_path, monkeypatch
):
    monkeypatch.setattr("headsplat.training.run.load_head_model", lambda path=None: ict_model)
    run = tmp_path / "run"
    assert (
        train_with_deformer(
            synthetic_subject, run, "soft_binding", 3, "avatar.gaussian_deformers.soft_binding.resolution=16"
        )
        == 0
    )
    avatar = load_avatar(run)
    deformer = avatar.gaussian_deformers["soft_binding"]
    assert isinstance(deformer, SoftBinding) and deformer.config.resolution == 16
    assert deformer.decoder[-1].weight.abs().sum() > 0  # trained away from the identity
    condition = avatar.condition(avatar.neutral_expression)
    with torch.no_grad():
        moved = avatar.render(condition).image
        deformer.decoder[-1].weight.zero_()
        deformer.decoder[-1].bias.zero_()
        assert not torch.equal(moved, avatar.render(condition).image)  # it acts on the render


def test_densified_gaussians_read_the_atlas_at_their_own_uv_point(trained_run):
    """Features live on the UV layout, not on the rows: after a row operation every Gaussian, old
    or new, gets the offsets its (triangle, bary) point gives, and the atlas is untouched."""
    avatar = load_avatar(trained_run[0])
    deformer = soft_binding_on(avatar)
    torch.nn.init.normal_(deformer.decoder[-1].weight, std=0.5)
    torch.nn.init.normal_(deformer.features, std=1.0)  # features that differ across the atlas
    condition = avatar.condition(avatar.neutral_expression)

    def offsets():
        posed = avatar.mesh(condition)[1]
        with torch.no_grad():
            return deformer.offsets(DeformContext(condition, avatar.head, avatar.gaussians, posed=posed))

    before, atlas, n = offsets(), deformer.features.detach().clone(), len(avatar.gaussians)
    parents = torch.tensor([0, 5, 5, 17])
    children = copy_rows(avatar.gaussians, parents)
    moved_bary = random_barycentric(2, torch.Generator().manual_seed(0))
    children["bary"][2:] = moved_bary  # two children elsewhere on their parents' triangles
    avatar.change_rows(appended=children, parents=parents)
    after = offsets()
    torch.testing.assert_close(after[:n], before)
    torch.testing.assert_close(after[n : n + 2], before[parents[:2]])  # same point, same features
    assert not torch.allclose(after[n + 2 :], before[parents[2:]])
    with torch.no_grad():  # the moved ones: as if their parents had stood there
        avatar.gaussians.bary[parents[2:]] = moved_bary
    torch.testing.assert_close(after[n + 2 :], offsets()[parents[2:]])
    assert torch.equal(deformer.features, atlas)
