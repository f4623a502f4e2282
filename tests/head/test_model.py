"""Head-model maths: quad split, UV consistency, blendshape evaluation, surface points, loading."""

import numpy as np
import pytest
import torch

from headsplat.head import HeadModelMissingError, SurfacePoints, split_quads
from headsplat.head.ict import load_ict
from headsplat.head.model import barycentric_interpolate
from tests.shared_data import require_ict_model


def test_split_quads_keeps_triangles_and_splits_quads_on_one_diagonal():
    faces = np.array([[0, 1, 2, 3], [4, 5, 6, -1], [7, 8, 9, 10]])
    triangles, source = split_quads(faces)
    assert triangles.tolist() == [[0, 1, 2], [0, 2, 3], [4, 5, 6], [7, 8, 9], [7, 9, 10]]
    assert source.tolist() == [0, 0, 1, 2, 2]


def test_split_quads_preserves_area_and_orientation_of_a_planar_quad():
    vertices = np.array([[0, 0, 0], [2, 0, 0], [2, 1, 0], [0, 1, 0]], dtype=float)
    triangles, _ = split_quads(np.array([[0, 1, 2, 3]]))
    corners = vertices[triangles]
    normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    assert np.allclose(normals[:, 2].sum() / 2, 2.0)  # area of the 2 x 1 quad
    assert (normals[:, 2] > 0).all()  # both halves keep the quad's winding


def test_uv_corners_follow_vertex_corners_on_the_ict_mesh(ict_model):
    """Splitting positions and UV indices with one rule pairs each vertex with its own UV."""
    with np.load(require_ict_model()) as data:
        faces, uv_faces, uvs = data["faces"], data["face_uv_indices"], data["uvs"]
    n_quads = int((faces[:, 3] >= 0).sum())
    assert len(ict_model.triangles) == len(faces) + n_quads == 52220
    triangles, source = split_quads(faces)
    uv_triangles, uv_source = split_quads(uv_faces)
    assert np.array_equal(source, uv_source)
    # Each triangle corner names the same corner slot of its source face for positions and UVs.
    for k in (0, 1, 2):
        slot = np.argmax(faces[source] == triangles[:, k : k + 1], axis=1)
        assert np.array_equal(uv_faces[source, slot], uv_triangles[:, k])
    assert np.array_equal(ict_model.triangle_uvs, uvs[uv_triangles])
    # Every vertex is used with UVs of one material tile (tile index = floor(u)).
    tiles = np.floor(ict_model.triangle_uvs[..., 0]).astype(int)
    assert (tiles.min(1) == tiles.max(1)).all()


def test_blendshape_evaluation_matches_the_npz(ict_model):
    with np.load(require_ict_model()) as data:
        neutral, id_basis, ex_basis = (
            data["neutral_vertices"],
            data["identity_basis"],
            data["expression_basis"],
        )
    rng = np.random.default_rng(0)
    identity = rng.normal(size=id_basis.shape[0])
    expression = rng.uniform(size=(2, ex_basis.shape[0]))
    expected = neutral + np.tensordot(identity, id_basis, 1) + np.tensordot(expression, ex_basis, 1)
    got = ict_model.vertices(torch.tensor(identity, dtype=torch.float64), torch.tensor(expression)).numpy()
    assert got.shape == (2, neutral.shape[0], 3)
    assert np.abs(got - expected).max() < 1e-4
    jaw = torch.zeros(ict_model.n_expression, dtype=torch.float64)
    jaw[ict_model.expression_index("jawOpen")] = 1.0
    chin_drop = (
        ict_model.vertices(torch.zeros(ict_model.n_identity, dtype=torch.float64), jaw).numpy() - neutral
    )
    assert chin_drop[:, 1].min() < -1.0  # the jaw opens downwards by more than 1 cm


def test_surface_points_move_with_the_mesh(ict_model):
    rng = np.random.default_rng(1)
    triangle = rng.integers(0, len(ict_model.triangles), 50)
    bary = rng.dirichlet(np.ones(3), 50).astype(np.float32)
    points = ict_model.surface_shape(SurfacePoints(triangle, bary))
    identity = torch.tensor(rng.normal(size=ict_model.n_identity), dtype=torch.float32)
    expression = torch.tensor(rng.uniform(size=(3, ict_model.n_expression)), dtype=torch.float32)
    vertices = ict_model.vertices(identity, expression).numpy()
    expected = barycentric_interpolate(vertices, ict_model.triangles[triangle], bary)
    assert np.abs(points.evaluate(identity, expression).numpy() - expected).max() < 1e-3


def test_regions_and_materials(ict_model):
    assert ict_model.region("face") == slice(0, 9409)
    assert ict_model.region_ranges[-1, 1] == ict_model.n_vertices == 26719
    assert len(ict_model.material_triangles("M_Face")) > 10000
    assert ict_model.expression_names[ict_model.expression_index("eyeBlink_L")] == "eyeBlink_L"


def test_missing_model_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("HEADSPLAT_ICT_MODEL", str(tmp_path / "nowhere.npz"))
    with pytest.raises(HeadModelMissingError, match="headsplat model download") as error:
        load_ict()
    assert "nowhere.npz" in str(error.value)


def test_a_file_that_is_not_a_model_is_rejected(tmp_path):
    bogus = tmp_path / "model.npz"
    np.savez(bogus, something=np.zeros(3))
    with pytest.raises(ValueError, match="missing keys"):
        load_ict(bogus)
    bogus.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match=r"model\.npz"):
        load_ict(bogus)
