"""UV sampling: exact texel centres, full coverage of a known layout, per-material grids on ICT."""

import numpy as np

from headsplat.avatar.gaussians.uv_sampling import (
    DEFAULT_MATERIALS,
    material_resolution,
    sample_uv,
    sample_uv_grid,
)
from headsplat.head.ict import model_from_arrays


def _square_model():
    """A unit square of 2x2 quads with UVs in tile 1 (u in [1, 2)), one material."""
    xs = np.linspace(0, 1, 3)
    grid = np.stack(np.meshgrid(xs, xs, indexing="xy"), -1).reshape(-1, 2)
    vertices = np.c_[grid * 10, np.zeros(9)].astype(np.float32)  # 10 cm square
    quads = np.array([[0, 1, 4, 3], [1, 2, 5, 4], [3, 4, 7, 6], [4, 5, 8, 7]])
    arrays = {
        "neutral_vertices": vertices,
        "identity_basis": np.zeros((1, 9, 3), np.float32),
        "expression_basis": np.zeros((1, 9, 3), np.float32),
        "expression_names": np.array(["jawOpen"]),
        "faces": quads,
        "uvs": (grid + np.array([1.0, 0.0])).astype(np.float32),
        "face_uv_indices": quads,
        "face_material": np.zeros(4, np.int8),
        "material_names": np.array(["M_Face"]),
        "region_names": np.array(["all"]),
        "region_vertex_ranges": np.array([[0, 9]]),
    }
    return model_from_arrays(arrays)


def test_every_texel_of_a_fully_covered_tile_is_sampled_once_at_its_centre():
    model = _square_model()
    samples = sample_uv_grid(model.uv_layout, {"M_Face": 16})
    assert len(samples.material) == 256
    assert len({tuple(t) for t in samples.texel}) == 256
    uv = np.einsum("pc,pcd->pd", samples.points.bary, model.triangle_uvs[samples.points.triangle])
    assert np.allclose(uv - [1.0, 0.0], (samples.texel + 0.5) / 16, atol=1e-6)
    assert (samples.points.bary >= -1e-6).all() and np.allclose(samples.points.bary.sum(1), 1, atol=1e-6)


def test_density_sets_the_grid_resolution():
    model = _square_model()
    assert material_resolution(model.uv_layout, "M_Face", 1.6) == 16  # 10 cm side at 1.6 texels/cm
    assert len(sample_uv(model.uv_layout, 1.6, materials=("M_Face",), density_scale={}).material) == 256


def test_ict_samples_are_exact_and_per_material(ict_model):
    samples = sample_uv(ict_model.uv_layout, 2.0)
    names = np.array(ict_model.material_names)[samples.material]
    assert set(names) == set(DEFAULT_MATERIALS)
    assert 10_000 < len(names) < 20_000
    # Face and eyeball islands overlap in tile 0: both materials are sampled there.
    face, sclera = samples.texel[names == "M_Face"], samples.texel[names == "M_ScleraLeft"]
    assert len(face) > 5000 and len(sclera) > 50
    for name in DEFAULT_MATERIALS:
        mine = samples.material == ict_model.material_names.index(name)
        assert len({tuple(t) for t in samples.texel[mine]}) == mine.sum(), f"{name}: a texel sampled twice"
        assert (ict_model.triangle_material[samples.points.triangle[mine]] == samples.material[mine]).all()
    uv = np.einsum("pc,pcd->pd", samples.points.bary, ict_model.triangle_uvs[samples.points.triangle])
    scale = {n: 2.0 * (1.5 if n == "M_Face" else 1.0) for n in DEFAULT_MATERIALS}
    per_material = {n: material_resolution(ict_model.uv_layout, n, scale[n]) for n in DEFAULT_MATERIALS}
    resolution = np.array([per_material[n] for n in names])
    assert np.abs((uv - np.floor(uv)) * resolution[:, None] - (samples.texel + 0.5)).max() < 1e-3
    # Similar world density everywhere: samples per cm^2 within a factor 3 across materials.
    corners = ict_model.shape.mean[ict_model.triangles]
    area = 0.5 * np.linalg.norm(
        np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]), axis=1
    )
    density = [
        (names == n).sum() / area[ict_model.material_triangles(n)].sum() for n in DEFAULT_MATERIALS[1:]
    ]
    assert max(density) / min(density) < 3
