"""Texture edits seen through the renderer on the real head (issue 16's checks): a sticker on the
cheek lands on the cheek in every expression and head turn, and a hair recolour changes only the
hair region's pixels."""

import numpy as np
import pytest
import torch

from headsplat.avatar.avatar import AvatarConfig, create_avatar
from headsplat.baking.attributes import AttributeCodec
from headsplat.baking.bake import columns_from_maps
from headsplat.baking.edits import paste_sticker, recolour
from headsplat.baking.maps import preview_pixels
from headsplat.baking.surface_regions import (
    REGIONS,
    hair_by_colour,
    texel_regions,
    texel_triangles,
    triangle_regions,
)
from headsplat.geometry import MODEL_TO_OPENCV, axis_angle_to_matrix

SIZE, RESOLUTION = 128, 64
CHEEK = 50  # MediaPipe's landmark on the right cheek


@pytest.fixture(scope="module")
def painted(ict_model):
    """An avatar of the mean ICT head facing the camera at 60 cm, its colours and opacities read
    from appearance maps of one skin tone (the maps, the codec)."""
    config = AvatarConfig(mesh_deformers={}, gaussian_deformers={})
    config.gaussians.texels_per_cm = 1.5
    focal = 2.0 * SIZE
    K = torch.tensor([[focal, 0, SIZE / 2], [0, focal, SIZE / 2], [0, 0, 1]])
    avatar = create_avatar(
        ict_model,
        np.zeros(ict_model.n_identity, np.float32),
        rotation=torch.from_numpy(MODEL_TO_OPENCV).float()[None],
        translation=torch.tensor([[0.0, -2.0, 60.0]]),
        expression=torch.zeros(1, ict_model.n_expression),
        config=config,
        K=K,
        info={"size": SIZE, "fps": 25.0, "background": 1.0},
    )
    codec = AttributeCodec.fit(avatar.gaussians, "appearance")
    tiles = len(avatar.head.info["material_names"])
    maps = np.empty((4, RESOLUTION, tiles * RESOLUTION), np.float32)
    maps[:3] = np.array([0.75, 0.55, 0.45])[:, None, None]
    maps[3] = 4.0  # opaque
    return avatar, maps, codec


def _render(avatar, maps, codec, condition) -> np.ndarray:
    with (
        torch.no_grad(),
        avatar.gaussians.columns_from(columns_from_maps(avatar, torch.from_numpy(maps), codec)),
    ):
        return avatar.render(condition).image.numpy()


def _conditions(avatar):
    names = avatar.expression_names
    rest = avatar.condition()
    expressions = [torch.zeros(len(names)) for _ in range(3)]
    expressions[1][names.index("jawOpen")] = 0.8
    expressions[2][[names.index("mouthSmile_L"), names.index("mouthSmile_R")]] = 1.0
    turns = [axis_angle_to_matrix(torch.tensor([0.0, yaw, 0.0])) for yaw in (0.35, -0.25)]
    return [avatar.condition(expression=e) for e in expressions] + [
        avatar.condition(rotation=rest.rotation @ turn) for turn in turns
    ]


def test_a_cheek_sticker_stays_on_the_cheek_in_every_expression_and_turn(painted, ict_model):
    avatar, maps, codec = painted
    head = avatar.head
    triangle = torch.from_numpy(ict_model.landmarks.triangle[[CHEEK]])
    bary = torch.from_numpy(ict_model.landmarks.bary[[CHEEK]])
    at = preview_pixels(head, triangle, bary)[0]
    red = np.zeros((8, 8, 3), np.uint8)
    red[..., 0] = 255
    edited = maps.copy()
    edited[:3] = paste_sticker(maps[:3], red, np.ones((8, 8)), at=tuple(at), size=40)
    # The Gaussians whose colour the sticker changed, and how far they lie from the cheek point.
    before = columns_from_maps(avatar, torch.from_numpy(maps), codec)["sh0"]
    after = columns_from_maps(avatar, torch.from_numpy(edited), codec)["sh0"]
    stuck = (after != before).any(-1)
    assert 20 < int(stuck.sum()) < len(stuck) // 20
    for condition in _conditions(avatar):
        _, posed = avatar.mesh(condition)
        corners = posed[head.triangles[triangle[0]]]
        point = (bary[0, :, None] * corners).sum(0)
        with torch.no_grad():
            centres = avatar.posed_gaussians(condition).means[stuck]
        reach = float((centres - point).norm(dim=-1).max())  # cm
        pixel = (avatar.K @ point / point[2])[:2].numpy()
        change = np.abs(_render(avatar, edited, codec, condition) - _render(avatar, maps, codec, condition))
        ys, xs = np.nonzero(change.max(-1) > 0.1)
        assert len(xs) >= 4, "the sticker is not seen"
        centroid = np.array([xs.mean(), ys.mean()]) + 0.5
        assert np.linalg.norm(centroid - pixel) < 2.5, (centroid, pixel)
        radius = float(avatar.K[0, 0]) * reach / float(point[2]) + 2.0  # plus a Gaussian's footprint
        assert np.hypot(xs + 0.5 - pixel[0], ys + 0.5 - pixel[1]).max() < radius


def test_a_hair_recolour_changes_only_the_hair_regions_pixels(painted, ict_model):
    avatar, maps, codec = painted
    head = avatar.head
    regions = triangle_regions(head, ict_model.extra["landmarks_multipie68"])
    texels = texel_regions(regions, texel_triangles(head, RESOLUTION))
    hair = texels == REGIONS.index("hair")
    edited = maps.copy()
    edited[:3] = recolour(maps[:3], hair, hue=180, saturation=1.5, value=0.6)
    assert (edited[:, ~hair] == maps[:, ~hair]).all()
    # A render of region ids: each Gaussian's colour is 1 in its region's channel.
    ids = torch.from_numpy(regions.astype(np.int64))[avatar.gaussians.triangle]  # each Gaussian's triangle's
    on_hair = (ids == REGIONS.index("hair")).float()
    one_hot = torch.stack([on_hair, 1 - on_hair, torch.zeros_like(on_hair)], -1)
    turned = avatar.condition(
        rotation=avatar.condition().rotation @ axis_angle_to_matrix(torch.tensor([0.0, 0.8, 0.0]))
    )
    for condition in (avatar.condition(), turned):
        with torch.no_grad():
            gaussians = avatar.posed_gaussians(condition)
            weights = avatar.rasterize(
                gaussians._replace(colours=one_hot), avatar.camera(), 0.0
            ).image.numpy()
        change = np.abs(_render(avatar, edited, codec, condition) - _render(avatar, maps, codec, condition))
        changed = change.max(-1) > 0.02
        assert changed.sum() > 50
        hair_weight = weights[..., 0]
        # A pixel changes by at most its hair share of the largest texel change, plus what skin
        # Gaussians on the border read bilinearly from hair texels (seen: under 4 % of it), and
        # where hair dominates it changes.
        most = float(np.abs(edited - maps).max())
        assert (change.max(-1) - hair_weight * most).max() < 0.06 * most
        assert changed[hair_weight > 0.5].mean() > 0.95


def test_the_front_hair_is_found_by_colour_above_the_brows(painted, ict_model):
    avatar, maps, _ = painted
    head = avatar.head
    triangles = texel_triangles(head, RESOLUTION)
    texels = texel_regions(triangle_regions(head, None), triangles)
    # Uniform colour: hair and skin alike, nothing to tell them apart.
    assert np.array_equal(hair_by_colour(head, texels, triangles, maps[:3]), texels)
    # Dark brown hair, and the same brown on the face above a height: a fringe.
    height = head.neutral[head.triangles].mean(dim=1)[:, 1].numpy()[triangles]
    above = height - float(head.eye_centres[:, 1].mean())
    colour = maps[:3].copy()
    brown = np.array([0.25, 0.15, 0.1])[:, None]
    hair = texels == REGIONS.index("hair")
    colour[:, hair] = brown
    fringe = (texels == REGIONS.index("skin")) & (above > 5.0)
    colour[:, fringe] = brown
    brows = (texels == REGIONS.index("skin")) & (above > 1.5) & (above < 3.0)
    colour[:, brows] = brown  # dark brows, below the line: they stay skin
    found = hair_by_colour(head, texels, triangles, colour)
    face = head.triangle_material.numpy()[triangles] == 0
    assert (found[fringe & face] == REGIONS.index("hair")).all() and fringe[face].sum() > 20
    assert (found[brows] == REGIONS.index("skin")).all()
    changed = found != texels
    assert np.array_equal(changed, fringe & face)
