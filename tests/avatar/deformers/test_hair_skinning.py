"""Hair skinned between head and torso: exact at both ends, started from the height, following row
operations, trained from the CLI and refused by the blendshape export."""

import pytest
import torch

from headsplat.avatar import load_avatar
from headsplat.avatar.deformers.base import BuildContext
from headsplat.avatar.deformers.hair_skinning import HairSkinning, HairSkinningConfig, nlerp
from headsplat.avatar.linear import linearise
from headsplat.geometry import axis_angle_to_matrix
from headsplat.io.errors import InputError
from headsplat.strategy.base import copy_rows
from tests.avatar.helpers import train_with_deformer


def skinning_on(avatar) -> HairSkinning:
    deformer = HairSkinning(HairSkinningConfig(), BuildContext(avatar.head, len(avatar.gaussians)))
    avatar.gaussian_deformers["hair_skinning"] = deformer
    return deformer


def hair_of(avatar):
    return avatar.head.hair_triangles()[avatar.gaussians.triangle]


def test_weight_one_is_the_head_and_weight_zero_the_torso_exactly(trained_run):
    avatar = load_avatar(trained_run[0])
    torso_rotation, torso_translation = avatar.rest_pose()
    turned = avatar.condition(
        avatar.neutral_expression,
        rotation=torso_rotation @ axis_angle_to_matrix(torch.tensor([0.1, 0.5, 0.0])),
        translation=torso_translation + torch.tensor([1.0, -0.5, 0.5]),
    )
    at_torso = avatar.condition(avatar.neutral_expression)  # the head at the torso's pose
    unskinned_turned, unskinned_at_torso = avatar.posed_gaussians(turned), avatar.posed_gaussians(at_torso)
    deformer = skinning_on(avatar)
    hair = hair_of(avatar)
    assert 0 < hair.sum() < len(hair)

    with torch.no_grad():
        deformer.weight_change.fill_(1.0)  # every weight at 1: the head's placement, bit for bit
    for a, b in zip(avatar.posed_gaussians(turned), unskinned_turned, strict=True):
        assert torch.equal(a, b)

    with torch.no_grad():
        deformer.weight_change.fill_(-1.0)  # the hair's weights at 0: carried by the torso alone
    skinned = avatar.posed_gaussians(turned)
    torch.testing.assert_close(skinned.means[hair], unskinned_at_torso.means[hair], atol=1e-4, rtol=0)
    torch.testing.assert_close(skinned.quats[hair], unskinned_at_torso.quats[hair], atol=1e-5, rtol=0)
    assert torch.equal(skinned.means[~hair], unskinned_turned.means[~hair])  # the face keeps the head's
    assert (skinned.means[hair] - unskinned_turned.means[hair]).norm(dim=-1).max() > 1.0  # cm: it did move
    # No torso pose (the torso turns with the head): nothing to blend.
    free = avatar.condition(avatar.neutral_expression, rotation=turned.rotation, torso=None)
    del avatar.gaussian_deformers["hair_skinning"]
    plain = avatar.posed_gaussians(free).means
    avatar.gaussian_deformers["hair_skinning"] = deformer
    assert torch.equal(avatar.posed_gaussians(free).means, plain)


def test_weights_start_from_the_height_below_the_ears(trained_run):
    avatar = load_avatar(trained_run[0])
    deformer = skinning_on(avatar)
    store, head = avatar.gaussians, avatar.head
    weight = deformer.head_weight(store, head.triangles)
    corners = head.neutral[head.triangles[store.triangle]][..., 1]  # (N, 3) heights
    low, high = corners.min(-1).values, corners.max(-1).values
    hair = hair_of(avatar)
    assert torch.equal(weight[~hair], torch.ones(int((~hair).sum())))
    assert (weight[hair & (low > -2.0)] == 1).all() and (weight[hair & (high < -12.0)] == 0).all()
    between = hair & (high < -3.0) & (low > -11.0)
    assert between.any() and ((weight[between] > 0) & (weight[between] < 1)).all()


def test_a_split_keeps_its_parents_weight_and_a_fresh_gaussian_starts_from_its_height(trained_run):
    avatar = load_avatar(trained_run[0])
    deformer = skinning_on(avatar)
    with torch.no_grad():
        deformer.weight_change.copy_(torch.linspace(-0.5, 0.5, len(avatar.gaussians)))
    before = deformer.head_weight(avatar.gaussians, avatar.head.triangles).detach()
    parent = int(torch.nonzero(hair_of(avatar) & (before > 0) & (before < 1))[0])
    optimizer = torch.optim.Adam([deformer.weight_change], lr=1e-2)
    avatar.change_rows(
        appended=copy_rows(avatar.gaussians, torch.tensor([parent])),
        parents=torch.tensor([parent]),
        optimizers=[optimizer],
    )
    avatar.change_rows(
        appended=copy_rows(avatar.gaussians, torch.tensor([parent])), optimizers=[optimizer]
    )  # fresh: parents -1
    after = deformer.head_weight(avatar.gaussians, avatar.head.triangles).detach()
    n = len(before)
    assert torch.equal(after[:n], before) and after[n] == before[parent]
    assert deformer.weight_change[n + 1] == 0 and after[n + 1] != before[parent]
    assert optimizer.param_groups[0]["params"][0] is deformer.weight_change


def test_nlerp_ends_exactly_and_takes_the_short_arc():
    start = torch.nn.functional.normalize(
        torch.randn(5, 4, generator=torch.Generator().manual_seed(0)), dim=-1
    )
    end = torch.nn.functional.normalize(torch.randn(5, 4, generator=torch.Generator().manual_seed(1)), dim=-1)
    torch.testing.assert_close(nlerp(start, end, torch.zeros(5, 1)), start)
    ends = nlerp(start, end, torch.ones(5, 1))
    torch.testing.assert_close(ends * torch.sign((ends * end).sum(-1, keepdim=True)), end)
    middle = nlerp(start, -start, torch.full((5, 1), 0.5))  # -q is the same rotation: no detour
    torch.testing.assert_close(middle, start)


def test_hair_skinning_trains_from_the_cli_and_the_blendshape_export_refuses_it(
    synthetic_subject, ict_model, tmp_path, monkeypatch
):
    monkeypatch.setattr("headsplat.training.run.load_head_model", lambda path=None: ict_model)
    run = tmp_path / "run"
    assert train_with_deformer(synthetic_subject, run, "hair_skinning", 3) == 0
    avatar = load_avatar(run)
    deformer = avatar.gaussian_deformers["hair_skinning"]
    assert isinstance(deformer, HairSkinning)
    assert len(deformer.weight_change) == len(avatar.gaussians)  # followed the densification
    assert deformer.weight_change.abs().max() > 0  # the turning head taught it
    with pytest.raises(InputError, match="hair_skinning moves its Gaussians"):
        linearise(avatar)


def test_a_weight_at_one_still_learns(trained_run):
    """Weights start at 1 above the ear lobes: they must get a gradient there, or they never move."""
    avatar = load_avatar(trained_run[0])
    deformer = skinning_on(avatar)
    torso_rotation, torso_translation = avatar.rest_pose()
    turned = avatar.condition(
        avatar.neutral_expression,
        rotation=torso_rotation @ axis_angle_to_matrix(torch.tensor([0.0, 0.5, 0.0])),
        translation=torso_translation,
    )
    avatar.posed_gaussians(turned).means[:, 0].sum().backward()
    at_one = (deformer.head_weight(avatar.gaussians, avatar.head.triangles) == 1) & hair_of(avatar)
    assert at_one.any() and (deformer.weight_change.grad[at_one] != 0).any()
