"""The FaceXModel/ OBJ converter and the download path, on small OBJ files written here."""

import json
import zipfile

import numpy as np
import pytest

from headsplat.head.ict import model_from_arrays
from headsplat.head.ict_import import convert_facexmodel, download_model, read_obj_mesh, verify_ict
from headsplat.io.errors import InputError

# A unit quad and a triangle, two materials, UV indices that differ from vertex indices.
NEUTRAL = """# test mesh
mtllib test.mtl
v 0 0 0
v 1 0 0
v 1 1 0
v 0 1 0
v 2 0 0
vt 0.0 0.0
vt 0.5 0.0
vt 0.5 0.5
vt 0.0 0.5
vt 1.5 0.0
vt 1.9 0.9
usemtl M_Face
f 1/1 2/2 3/3 4/4
usemtl M_BackHead
f 2/5 5/6 3/3
"""


def _shape_obj(offset: np.ndarray) -> str:
    base = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [2, 0, 0]], dtype=float) + offset
    return "".join(f"v {x:g} {y:g} {z:g}\n" for x, y, z in base)


@pytest.fixture
def facexmodel(tmp_path):
    folder = tmp_path / "FaceXModel"
    folder.mkdir()
    (folder / "generic_neutral_mesh.obj").write_text(NEUTRAL)
    (folder / "vertex_indices.json").write_text(
        json.dumps(
            {
                "expressions": ["jawOpen", "eyeBlink_L"],
                "idx_to_landmark_verts": [0, 2],
            }
        )
    )
    (folder / "identity000.obj").write_text(_shape_obj(np.array([0, 0, 1.0])))
    (folder / "identity001.obj").write_text(_shape_obj(np.array([[0.5, 0, 0]] * 5)))
    (folder / "jawOpen.obj").write_text(_shape_obj(np.array([0, -2.0, 0])))
    (folder / "eyeBlink_L.obj").write_text(_shape_obj(np.array([0, 0, 0.25])))
    return folder


def test_converter_reads_topology_uvs_materials_and_shape_deltas(facexmodel):
    arrays = convert_facexmodel(facexmodel)
    assert arrays["faces"].tolist() == [[0, 1, 2, 3], [1, 4, 2, -1]]
    assert arrays["face_uv_indices"].tolist() == [[0, 1, 2, 3], [4, 5, 2, -1]]
    assert arrays["face_material"].tolist() == [0, 1]
    assert arrays["material_names"].tolist() == ["M_Face", "M_BackHead"]
    assert arrays["identity_basis"].shape == (2, 5, 3)
    assert np.allclose(arrays["identity_basis"][0], [0, 0, 1])
    assert np.allclose(arrays["identity_basis"][1], [0.5, 0, 0])
    assert np.allclose(arrays["expression_basis"][0], [0, -2, 0])
    assert arrays["expression_names"].tolist() == ["jawOpen", "eyeBlink_L"]
    assert arrays["landmarks_multipie68"].tolist() == [0, 2]
    # A mesh that is not ICT's gets one region spanning every vertex.
    assert arrays["region_names"].tolist() == ["all"] and arrays["region_vertex_ranges"].tolist() == [[0, 5]]


def test_converted_model_splits_quads_with_matching_uvs(facexmodel):
    arrays = convert_facexmodel(facexmodel)
    model = model_from_arrays(arrays)
    assert model.triangles.tolist() == [[0, 1, 2], [0, 2, 3], [1, 4, 2]]
    assert np.allclose(model.triangle_uvs[1], [[0, 0], [0.5, 0.5], [0, 0.5]])
    assert np.allclose(model.triangle_uvs[2], [[1.5, 0], [1.9, 0.9], [0.5, 0.5]])
    assert model.triangle_material.tolist() == [0, 0, 1]
    import torch

    moved = model.vertices(torch.tensor([1.0, 0.0]), torch.tensor([0.5, 0.0])).numpy()
    assert np.allclose(moved[4], [2, -1, 1])


def test_converter_names_missing_and_malformed_files(facexmodel):
    (facexmodel / "jawOpen.obj").unlink()
    with pytest.raises(InputError, match=r"jawOpen\.obj"):
        convert_facexmodel(facexmodel)
    (facexmodel / "jawOpen.obj").write_text(_shape_obj(np.zeros(3))[:-12])  # a vertex cut short
    with pytest.raises(InputError, match=r"jawOpen\.obj"):
        convert_facexmodel(facexmodel)
    (facexmodel / "generic_neutral_mesh.obj").write_text(NEUTRAL.replace("f 2/5 5/6 3/3", "f 2 5 3"))
    with pytest.raises(InputError, match=r"generic_neutral_mesh\.obj:17"):
        read_obj_mesh(facexmodel / "generic_neutral_mesh.obj")
    (facexmodel / "generic_neutral_mesh.obj").write_text(NEUTRAL)
    for path in facexmodel.glob("identity*.obj"):
        path.unlink()
    with pytest.raises(InputError, match="identity"):
        convert_facexmodel(facexmodel)


def test_verification_rejects_a_model_that_is_not_the_published_one(facexmodel):
    with pytest.raises(InputError, match="sha256"):
        verify_ict(facexmodel, convert_facexmodel(facexmodel))


def test_download_verifies_before_writing(facexmodel, tmp_path):
    """The download path end to end from a local archive: a wrong model is refused, nothing is written."""
    archive = tmp_path / "ICT-FaceKit-test.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for path in facexmodel.iterdir():
            zipped.write(path, f"ICT-FaceKit-test/FaceXModel/{path.name}")
    output = tmp_path / "model.npz"
    with pytest.raises(InputError, match="sha256"):
        download_model(output, None, url=archive.as_uri())
    assert not output.exists()
    with pytest.raises(InputError, match="Offline"):
        download_model(output, None, url=(tmp_path / "absent.zip").as_uri())
    assert list(tmp_path.glob("*.npz")) == []


def test_cli_without_a_model_says_how_to_get_it(tmp_path, monkeypatch, capsys):
    from headsplat.cli import main

    monkeypatch.setenv("HEADSPLAT_ICT_MODEL", str(tmp_path / "absent.npz"))
    assert main(["model", "info"]) == 2
    error = capsys.readouterr().err
    assert "absent.npz" in error and "headsplat model download" in error and "headsplat model import" in error


def test_import_of_the_shared_model_stores_the_landmark_correspondence(tmp_path, monkeypatch, ict_model):
    from headsplat.cli import main
    from headsplat.head import load_head_model
    from tests.shared_data import require_ict_model

    monkeypatch.setenv("HEADSPLAT_CACHE", str(tmp_path / "cache"))
    assert main(["model", "import", str(require_ict_model()), "-o", str(tmp_path / "ict.npz")]) == 0
    with np.load(tmp_path / "ict.npz") as data:
        assert data["landmark_triangles"].shape == (478,) and data["landmark_bary"].shape == (478, 3)
    imported = load_head_model(tmp_path / "ict.npz")
    # Read from the file itself: nothing was derived into the (empty) cache.
    assert not (tmp_path / "cache").exists()
    assert np.array_equal(imported.landmarks.triangle, ict_model.landmarks.triangle)
    assert [p.name for p in tmp_path.iterdir()] == ["ict.npz"]  # no partial files left
