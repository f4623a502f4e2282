"""Completion of the unseen head: which Gaussians count as unseen, and the colour fill over the mesh."""

import numpy as np
import torch

from headsplat.avatar.gaussians.completion import fill_colours, surface_detail, unseen
from headsplat.training.completion import borrowed_detail, seen_means


def _strip(n_triangles: int, first_vertex: int = 0) -> torch.Tensor:
    """(T, 3) a strip of triangles: triangle i uses vertices i, i+1, i+2 (offset by first_vertex)."""
    return torch.tensor([[i, i + 1, i + 2] for i in range(n_triangles)]) + first_vertex


def test_a_gaussian_is_unseen_only_if_no_frame_shows_it():
    weights = torch.tensor([[0.0, 0.01, 3.0, 0.0], [0.0, 0.04, 0.0, 0.2]])
    assert unseen(weights, threshold=0.05).tolist() == [True, True, False, False]


def test_the_fill_spreads_known_colours_along_the_mesh_and_not_across_gaps():
    """Harmonic: between a red and a blue Gaussian the colours blend monotonically."""
    # A strip of 8 triangles on vertices 0..9, and a separate strip of 2 on vertices 10..13.
    triangles = torch.cat([_strip(8), _strip(2, first_vertex=10)])
    triangle = torch.arange(10)
    colours = torch.full((10, 3), 0.5)
    colours[0] = torch.tensor([1.0, 0.0, 0.0])
    colours[7] = torch.tensor([0.0, 0.0, 1.0])
    known = torch.zeros(10, dtype=torch.bool)
    known[[0, 7]] = True
    centres = torch.full((10, 3), 1 / 3)
    filled, reached = fill_colours(
        colours, known, triangle=triangle, bary=centres, triangles=triangles, n_vertices=14, relax_steps=500
    )
    assert reached.tolist() == [True] * 8 + [False] * 2
    # Known colours stay; the separate strip keeps its own.
    assert torch.equal(filled[[0, 7]], colours[[0, 7]]) and torch.equal(filled[8:], colours[8:])
    red, blue = filled[:8, 0], filled[:8, 2]
    assert (red[1:] <= red[:-1] + 1e-6).all() and (blue[1:] >= blue[:-1] - 1e-6).all()
    assert torch.allclose(filled[:8].sum(-1), torch.ones(8), atol=1e-5)
    assert 0.2 < red[3] < 0.8 and filled[:8, 1].abs().max() < 1e-6


def test_without_relaxation_the_front_copies_the_nearest_known_colour():
    triangles = _strip(5)
    colours = torch.zeros(5, 3)
    colours[0] = torch.tensor([0.2, 0.4, 0.6])
    known = torch.tensor([True, False, False, False, False])
    corners = torch.eye(3)[torch.tensor([0, 1, 2, 0, 1])]  # each Gaussian on a vertex of its triangle
    filled, reached = fill_colours(
        colours,
        known,
        triangle=torch.arange(5),
        bary=corners,
        triangles=triangles,
        n_vertices=7,
        relax_steps=0,
    )
    assert reached.all()
    assert torch.allclose(filled, colours[0].expand(5, 3))


def test_regions_fill_from_their_own_known_colours_only():
    """A strip of 8 triangles, the first 4 skin (region 0), the last 4 hair (region 1): the unseen
    hair takes the seen hair's colour, not a blend with the skin next to it."""
    triangles = _strip(8)
    region = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])
    skin, hair = torch.tensor([0.9, 0.7, 0.6]), torch.tensor([0.2, 0.1, 0.05])
    colours = torch.full((8, 3), 0.5)
    colours[0], colours[7] = skin, hair
    known = torch.zeros(8, dtype=torch.bool)
    known[[0, 7]] = True
    surface = {"triangle": torch.arange(8), "bary": torch.full((8, 3), 1 / 3), "triangles": triangles}
    filled, reached = fill_colours(
        colours, known, **surface, n_vertices=10, relax_steps=100, triangle_region=region
    )
    assert reached.all()
    assert torch.allclose(filled[:4], skin.expand(4, 3), atol=1e-5)
    assert torch.allclose(filled[4:], hair.expand(4, 3), atol=1e-5)
    blended, _ = fill_colours(
        colours, known, **surface, n_vertices=10, relax_steps=100
    )  # one region: the colours meet half way
    assert not torch.allclose(blended[4], hair, atol=0.05)


def test_surface_detail_is_what_the_smooth_field_lacks_and_is_borrowed_within_a_region():
    triangles = _strip(6)
    colours = torch.tensor([[0.2] * 3, [0.8] * 3] * 3)  # alternating: a texture
    centres = torch.full((6, 3), 1 / 3)
    detail = surface_detail(
        colours, triangle=torch.arange(6), bary=centres, triangles=triangles, n_vertices=8
    )
    assert detail[0, 0] < 0 < detail[1, 0]  # dark below the local mean, light above it
    assert detail.abs().max() < 0.3 + 1e-6
    region = torch.tensor([0, 0, 0, 1, 1, 1, 0, 1, 1])  # 6 known, then 3 to fill
    borrowed = borrowed_detail(detail, region, 6)
    assert borrowed.shape == (3, 3)
    assert any(torch.equal(borrowed[0], d) for d in detail[:3])  # region 0 borrows from 0..2
    assert all(any(torch.equal(b, d) for d in detail[3:6]) for b in borrowed[1:])


def test_the_back_of_the_scalp_fills_from_the_seen_scalp_not_from_the_neck(ict_model):
    """Seen: brown hair on the front half of the scalp, a grey collar all round the neck (d18's
    hoodie). The unseen back of the head above the ears must come out brown; filled as one region
    with the neck, it took the collar's grey."""
    from headsplat.avatar.gaussians.store import GaussianConfig, initial_columns
    from headsplat.avatar.head_mesh import HeadMesh
    from headsplat.training.completion import completion_regions

    head = HeadMesh.from_model(ict_model, np.zeros(ict_model.n_identity, np.float32))
    columns = initial_columns(head, GaussianConfig(texels_per_cm=1.0))
    triangle, bary = columns["triangle"], columns["bary"]
    corners = head.template[head.triangles[triangle]]
    position = (bary[..., None] * corners).sum(1)
    regions = completion_regions(head, -4.0)
    on_hair = (regions[triangle] == 1) | (regions[triangle] == 2)
    brown, grey = torch.tensor([0.35, 0.22, 0.12]), torch.tensor([0.55, 0.55, 0.55])
    colours = torch.where((position[:, 1:2] >= -4.0), brown, grey).expand(len(triangle), 3).clone()
    known = (position[:, 2] > 2.0) | (position[:, 1] < -6.0)  # the face side; the collar all round
    back = on_hair & (position[:, 2] < -5.0) & (position[:, 1] > 0.0)
    assert back.sum() > 20 and (regions[triangle][back] == 1).all()
    hair, interior = head.hair_triangles(), head.interior_triangles()
    assert (regions[hair] > 0).all() and (regions[interior] == 3).all()
    assert (regions[~hair & ~interior] == 0).all()

    def brownness(region: torch.Tensor) -> float:
        filled, _ = fill_colours(
            colours,
            known,
            triangle=triangle,
            bary=bary,
            triangles=head.triangles,
            n_vertices=head.n_vertices,
            triangle_region=region,
        )
        return float((filled[back] - grey).norm(dim=1).mean() / (brown - grey).norm())

    assert brownness(regions) > 0.95
    assert brownness(head.hair_triangles().long()) < 0.8  # scalp and neck as one region


def test_seen_means_weigh_the_gaussians_seen_face_on_over_those_grazing_the_silhouette():
    """A region whose well-seen Gaussians are brown and whose grazing ones carry the white
    background blended in: the fill colour is near the brown, not the plain mean."""
    brown, pale = torch.tensor([0.3, 0.2, 0.1]), torch.tensor([0.7, 0.7, 0.7])
    colours = torch.stack([brown, brown, pale, pale, pale, pale, torch.tensor([0.5, 0.5, 0.5])])
    strength = torch.tensor([20.0, 10.0, 0.5, 0.5, 0.5, 0.5, 3.0])  # pixels of rendering weight
    region = torch.tensor([1, 1, 1, 1, 1, 1, 0])
    means = seen_means(colours, strength, region, 3)
    expected = (30 * brown + 2 * pale) / 32
    assert torch.allclose(means[1], expected)
    assert (means[1] - brown).norm() < 0.1 * (pale - brown).norm()  # the plain mean: 0.67 of the way
    assert torch.allclose(means[0], torch.tensor([0.5, 0.5, 0.5]))
    assert means[2].isnan().all()  # no Gaussian seen there
