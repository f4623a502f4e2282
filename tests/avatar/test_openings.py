"""The seams where the skin opens (lips, lids): found where close points move apart under the
expressions or where the skin touches the eyeballs; the Gaussians near them kept small enough
that parting lips show the mouth's interior, and that interior dark unless the frames show it."""

import json

import numpy as np
import pytest
import torch

from headsplat.avatar.gaussians.colour_prior import colour_smoothness
from headsplat.avatar.gaussians.store import (
    INTERIOR_RGB,
    GaussianConfig,
    GaussianStore,
    initial_columns,
    soft_cap,
)
from headsplat.avatar.head_mesh import HAIR_MATERIALS, INTERIOR_MATERIALS, HeadMesh
from headsplat.avatar.openings import (
    behind_seams,
    opening_distance,
    tearing_vertices,
    triangle_components,
)


def two_lips(gap: float = 0.1, n: int = 11) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Two 2 cm x 1 cm strips of quads (upper lip at y > 0, lower lip at y < 0) ``gap`` cm apart
    along y = 0, and one expression that lowers the lower lip by 1 cm and stretches the upper
    one by 30 % along x: (vertices (V, 3), triangles (T, 3), basis (2, V, 3))."""
    xs = torch.linspace(-1, 1, n)
    ys = torch.linspace(0, 1, 6)
    upper = torch.stack(torch.meshgrid(xs, ys + gap / 2, indexing="ij"), -1).reshape(-1, 2)
    lower = torch.stack(torch.meshgrid(xs, -ys - gap / 2, indexing="ij"), -1).reshape(-1, 2)
    vertices = torch.cat([torch.cat([p, torch.zeros(len(p), 1)], 1) for p in (upper, lower)])
    corners = [(i * 6 + j, (i + 1) * 6 + j) for i in range(n - 1) for j in range(5)]
    quads = [(a, b, b + 1, a + 1) for a, b in corners]
    triangles = []
    for base in (0, len(upper)):
        for a, b, c, d in quads:
            triangles += [(base + a, base + b, base + c), (base + a, base + c, base + d)]
    basis = torch.zeros(2, len(vertices), 3)
    basis[0, len(upper) :, 1] = -1.0  # jaw open: the lower lip drops
    basis[1, : len(upper), 0] = 0.3 * vertices[: len(upper), 0]  # a smile: the upper lip stretches
    return vertices, torch.tensor(triangles), basis


def test_the_seam_is_where_close_points_part_and_stretching_skin_does_not_tear():
    vertices, _, basis = two_lips()
    everywhere = torch.ones(len(vertices), dtype=torch.bool)
    tearing = tearing_vertices(vertices, basis, everywhere)
    on_seam = vertices[:, 1].abs() < 0.1
    assert torch.equal(tearing, on_seam)  # the rows at the gap, both lips, and nothing else
    assert not tearing_vertices(vertices, basis[1:], everywhere).any()  # stretching alone: no seam
    lower_only = vertices[:, 1] < 0
    assert not tearing_vertices(vertices, basis, lower_only).any()  # the seam needs both sides


def test_the_opening_distance_is_each_centroid_to_the_nearest_seam_vertex():
    vertices, triangles, basis = two_lips()
    tearing = tearing_vertices(vertices, basis, torch.ones(len(vertices), dtype=torch.bool))
    distance = opening_distance(vertices, triangles, tearing)
    centroids = vertices[triangles].mean(1)
    expected = torch.cdist(centroids, vertices[tearing]).amin(1)
    assert torch.allclose(distance, expected)
    height = centroids[:, 1].abs()
    assert distance[height < 0.25].max() < 0.2 and distance[height > 0.8].min() > 0.7
    none = opening_distance(vertices, triangles, torch.zeros(len(vertices), dtype=torch.bool))
    assert torch.isinf(none).all()


def test_the_soft_cap_keeps_small_values_and_never_exceeds_the_cap():
    values = torch.tensor([0.01, 0.5, 1.0, 2.0, 100.0], requires_grad=True)
    capped = soft_cap(values, torch.tensor(1.0))
    assert torch.all(capped <= 1.0) and torch.all(capped <= values)
    assert abs(capped[1].item() - 0.5) < 0.016 * 0.5 and abs(capped[0].item() - 0.01) < 1e-6
    assert abs(capped[2].item() - 2 ** (-1 / 4)) < 1e-6
    capped.sum().backward()
    assert torch.all(values.grad[:4] > 0)  # no dead zone just above the cap (Adam rescales it)
    assert torch.equal(soft_cap(values, torch.tensor(float("inf"))), values)


def test_gaussians_near_the_seam_are_capped_by_their_distance_to_it():
    vertices, triangles, basis = two_lips()
    tearing = tearing_vertices(vertices, basis, torch.ones(len(vertices), dtype=torch.bool))
    distance = opening_distance(vertices, triangles, tearing)
    n = len(triangles)
    columns = {
        "triangle": torch.arange(n),
        "bary": torch.full((n, 3), 1 / 3),
        "offset": torch.zeros(n, 1),
        "rotation": torch.tensor([1.0, 0, 0, 0]).repeat(n, 1),
        "log_scale": torch.zeros(n, 3),  # an edge (0.2 cm) wide: straddles the 1 mm gap
        "opacity": torch.zeros(n, 1),
        "sh0": torch.zeros(n, 3),
    }
    config = GaussianConfig(opening_scale=0.5, opening_floor=0.05)
    store = GaussianStore(columns, config)
    free = store.posed(vertices, triangles).scales
    capped = store.posed(vertices, triangles, opening_distance=distance).scales
    limit = (0.5 * distance).clamp_min(0.05)
    near = distance < 0.3
    assert torch.all(capped.amax(-1) < limit) and torch.all(free[near].amax(-1) > limit[near])
    far = distance > 0.9  # a cap at twice their size lets them be what they learned
    assert torch.all(capped[far].amax(-1) > 0.95 * free[far].amax(-1))
    store.config = GaussianConfig(opening_scale=0.0)
    assert torch.equal(store.posed(vertices, triangles, opening_distance=distance).scales, free)


def test_the_ict_heads_seams_are_its_lips_and_its_lids(ict_model):
    head = HeadMesh.from_model(ict_model, np.zeros(ict_model.n_identity))
    seam = head.template[head.seam_vertices()]
    at_eyes = torch.cdist(seam, head.eye_centres).amin(1) < 2.0  # the eyeballs' radius is ~1.2 cm
    lips, lids = seam[~at_eyes], seam[at_eyes]
    assert 100 < len(lips) < 2000 and 100 < len(lids) < 1000
    centre = lips.mean(0)
    assert (lips - centre).norm(dim=-1).max() < 4.0  # one seam, within 4 cm of its middle
    nose_tip = head.template[head.template[:, 2].argmax()]
    assert centre[1] < nose_tip[1] - 1.0 and centre[2] > nose_tip[2] - 4.0  # below the nose, in front
    lid_depth = torch.cdist(lids, head.template[head.vertex_eye >= 0]).amin(1)
    assert lid_depth.max() < 0.1  # the skin that touches the eyeballs
    distance = head.opening_distance()
    assert distance.shape == (len(head.triangles),) and torch.all(torch.isfinite(distance))
    assert torch.equal(head.seam_vertices(), head.seam_vertices())  # cached per model


@pytest.mark.parametrize("opening_scale", [0.0, 0.5])
def test_an_avatars_render_caps_only_when_its_config_says(trained_run, opening_scale):
    from headsplat.avatar import load_avatar

    avatar = load_avatar(trained_run[0])
    avatar.gaussians.config.opening_scale = opening_scale
    with torch.no_grad():
        avatar.gaussians.log_scale.fill_(np.log(5.0))
        scales = avatar.posed_gaussians(avatar.condition()).scales.amax(-1)
    limit = (0.5 * avatar.head.opening_distance()).clamp_min(0.05)[avatar.gaussians.triangle]
    near = limit < 0.1
    assert near.any()
    assert bool(torch.all(scales[near] < limit[near])) == (opening_scale > 0)


def test_what_lies_behind_a_seam_is_the_part_that_touches_it():
    # three strips: 0-1 touch the seam vertex 2, 3-4 do not; 5 is not a candidate
    triangles = torch.tensor([[0, 1, 2], [1, 2, 3], [10, 11, 12], [11, 12, 13], [2, 20, 21], [30, 31, 32]])
    seam = torch.zeros(40, dtype=torch.bool)
    seam[2] = True
    candidates = torch.tensor([True, True, True, True, False, True])
    assert behind_seams(triangles, candidates, seam).tolist() == [True, True, False, False, False, False]
    parts = triangle_components(triangles, 40)
    assert parts[0] == parts[1] == parts[4] and len({int(p) for p in parts[[0, 2, 5]]}) == 3


def test_the_ict_heads_interior_is_gums_teeth_and_the_sockets_not_the_scalp(ict_model):
    head = HeadMesh.from_model(ict_model, np.zeros(ict_model.n_identity))
    interior, hair = head.interior_triangles(), head.hair_triangles()
    assert torch.all(interior[head.on_materials(INTERIOR_MATERIALS)])
    sockets = interior & head.on_materials(HAIR_MATERIALS)
    centres = head.template[head.triangles].mean(1)
    # the mouth's socket lies behind the lips, the eyes' behind the lids; the scalp stays hair
    assert sockets.sum() > 1000 and not (interior & hair).any()
    assert centres[hair, 2].mean() < 0 < centres[sockets, 2].min()
    assert not interior[head.on_materials(("M_Face", "M_ScleraLeft", "M_ScleraRight"))].any()


def test_the_interior_starts_dark_and_the_colour_prior_stops_at_the_seams(ict_model):
    head = HeadMesh.from_model(ict_model, np.zeros(ict_model.n_identity))
    config = GaussianConfig()
    store = GaussianStore(initial_columns(head, config), config)
    interior = head.interior_triangles()[store.triangle]
    rgb = store.rgb().detach()
    assert torch.allclose(rgb[interior], torch.tensor(INTERIOR_RGB).expand(int(interior.sum()), 3))
    assert torch.allclose(rgb[~interior], torch.tensor(0.5))
    grey = GaussianStore(initial_columns(head, GaussianConfig(dark_interior=False)), config).rgb()
    assert torch.allclose(grey.detach(), torch.tensor(0.5))
    # the skin's grey does not pull on the uniformly dark interior, and the interior's dark does
    # not pull on the skin
    split = head.interior_split_triangles()
    sh0 = store.sh0.detach().clone().requires_grad_(True)
    colour_smoothness(sh0, store.triangle, split, 2 * head.n_vertices).backward()
    assert float(sh0.grad.abs().max()) < 1e-9  # rounding only
    sh0.grad = None
    colour_smoothness(sh0, store.triangle, head.triangles, head.n_vertices).backward()
    assert float(sh0.grad[interior].abs().max()) > 1e-6  # over the plain mesh they would mix


def test_a_format_2_avatar_loads_as_it_rendered_without_the_cap(trained_run):
    from headsplat.avatar import Avatar, load_avatar

    avatar = load_avatar(trained_run[0])
    meta = avatar.metadata()
    assert meta["format_version"] == 3 and meta["config"]["gaussians"]["opening_scale"] > 0
    old = json.loads(json.dumps(meta)) | {"format_version": 2}
    del old["config"]["gaussians"]["opening_scale"]
    loaded = Avatar.from_state(avatar.state_dict(), old)
    assert loaded.gaussians.config.opening_scale == 0.0
    assert loaded.metadata()["format_version"] == 3
