"""Convert ICT-FaceKit's ``FaceXModel/`` OBJ folder into headsplat's ``.npz`` (``headsplat model import``),
or download the public repository first (``headsplat model download``).

The folder holds ``generic_neutral_mesh.obj`` (topology, UVs, materials), ``identityNNN.obj`` and one
OBJ per expression named in ``vertex_indices.json``; every shape OBJ has the neutral's vertex order.
The converter stores shapes as deltas from the neutral (float32), splits nothing (quads stay quads
with -1 in a 4th column for triangles; :func:`headsplat.head.model.split_quads` splits them on
load), adds the vertex regions ICT documents and derives the MediaPipe landmark correspondence.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tempfile
import urllib.request
import zipfile
from pathlib import Path

import numpy as np

from headsplat.head.ict import default_model_path, model_from_arrays
from headsplat.io.atomic import atomic_write
from headsplat.io.errors import InputError

ICT_COMMIT = "da5f95a607f5e6b37755b38d3385d7f2853732e5"
ICT_ARCHIVE_URL = f"https://github.com/ICT-VGL/ICT-FaceKit/archive/{ICT_COMMIT}.zip"
URL_ENV = "HEADSPLAT_ICT_URL"
# GitHub does not promise byte-stable archives, so the check is on what is inside: the sha256 of
# the two files that define topology and names, and float64 fingerprints (sum, sum of squares) of
# the converted shape arrays, which survive any re-zipping but not a changed or truncated model.
KNOWN_SHA256 = {
    "generic_neutral_mesh.obj": "eedbc2576d8e5ea57f55255b8f98263213a1efb5431d8bfceed1d7aef10271f9",
    "vertex_indices.json": "4f9b35306299980dd46bee4a6b79bb95dfae1953693b74b35a64f7febfd081a5",
}
KNOWN_FINGERPRINTS = {
    "neutral_vertices": (183296.3184138988, 2737986.7318651695),
    "identity_basis": (9275.832433993504, 9318.667276609345),
    "expression_basis": (-1653.4811330266284, 97560.55297257131),
}
# Vertex regions as documented by ICT-FaceKit (README, "vertex indices"), [start, end).
REGIONS = (
    ("face", 0, 9409),
    ("head_and_neck", 9409, 11248),
    ("mouth_socket", 11248, 13294),
    ("eye_socket_left", 13294, 13678),
    ("eye_socket_right", 13678, 14062),
    ("gums_and_tongue", 14062, 17039),
    ("teeth", 17039, 21451),
    ("eyeball_left", 21451, 23021),
    ("eyeball_right", 23021, 24591),
    ("lacrimal_fluid_left", 24591, 24795),
    ("lacrimal_fluid_right", 24795, 24999),
    ("eye_blend_left", 24999, 25023),
    ("eye_blend_right", 25023, 25047),
    ("eye_occlusion_left", 25047, 25199),
    ("eye_occlusion_right", 25199, 25351),
    ("eyelashes_left", 25351, 26035),
    ("eyelashes_right", 26035, 26719),
)
EXTRA_SHAPES = ("cheekRaiser_L", "cheekRaiser_R", "PupilDilate_L", "PupilDilate_R")
INDEX_LISTS = {
    "landmarks_multipie68": "idx_to_landmark_verts",
    "rigid_vertices": "idx_to_rigid_verts",
    "fitting_vertices": "idx_to_fitting_verts",
    "lap_rigid_vertices": "idx_to_lap_rigid_verts",
    "rigid_landmark_idx": "idx_to_rigid_landmark_idx",
}


def read_obj_vertices(path: Path) -> np.ndarray:
    """(V, 3) float32 positions of an OBJ's ``v`` lines."""
    lines = [line[2:] for line in path.read_bytes().splitlines() if line.startswith(b"v ")]
    values = np.array(b" ".join(lines).split(), dtype=np.float64)
    if values.size % 3:
        raise InputError(f"{path}: malformed vertex lines (expected x y z). Re-download the model.")
    return values.reshape(-1, 3).astype(np.float32)


def read_obj_mesh(path: Path) -> dict[str, np.ndarray]:
    """Positions, UVs, faces (F, 4; -1 pads triangles), UV indices and materials of an OBJ."""
    vertices, uvs, faces, face_uvs, face_material = [], [], [], [], []
    materials: list[str] = []
    current = -1
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        parts = raw.split()
        if not parts:
            continue
        if parts[0] == "v":
            vertices.append([float(x) for x in parts[1:4]])
        elif parts[0] == "vt":
            uvs.append([float(x) for x in parts[1:3]])
        elif parts[0] == "usemtl":
            if parts[1] not in materials:
                materials.append(parts[1])
            current = materials.index(parts[1])
        elif parts[0] == "f":
            corners = [c.split("/") for c in parts[1:]]
            if not 3 <= len(corners) <= 4 or any(len(c) < 2 or not c[1] for c in corners):
                raise InputError(f"{path}:{number}: faces must be triangles or quads with UVs (f v/vt ...).")
            pad = [-1] * (4 - len(corners))
            faces.append([int(c[0]) - 1 for c in corners] + pad)
            face_uvs.append([int(c[1]) - 1 for c in corners] + pad)
            face_material.append(max(current, 0))
    if not faces:
        raise InputError(f"{path}: no faces found; is it the ICT-FaceKit neutral mesh?")
    return {
        "neutral_vertices": np.array(vertices, dtype=np.float32),
        "uvs": np.array(uvs, dtype=np.float32),
        "faces": np.array(faces, dtype=np.int32),
        "face_uv_indices": np.array(face_uvs, dtype=np.int32),
        "face_material": np.array(face_material, dtype=np.int8),
        "material_names": np.array(materials or ["default"]),
    }


def _shape_deltas(folder: Path, names: list[str], neutral: np.ndarray) -> np.ndarray:
    deltas = np.empty((len(names), *neutral.shape), dtype=np.float32)
    for k, name in enumerate(names):
        path = folder / f"{name}.obj"
        if not path.is_file():
            raise InputError(f"{path}: missing. The FaceXModel/ folder is incomplete; re-download it.")
        shape = read_obj_vertices(path)
        if shape.shape != neutral.shape:
            raise InputError(f"{path}: {len(shape)} vertices, the neutral mesh has {len(neutral)}.")
        deltas[k] = shape - neutral
    return deltas


def convert_facexmodel(folder: Path, regions=REGIONS) -> dict[str, np.ndarray]:
    """The arrays of the documented ``.npz`` layout from a ``FaceXModel/`` folder."""
    folder = Path(folder)
    neutral_path, index_path = folder / "generic_neutral_mesh.obj", folder / "vertex_indices.json"
    for path in (neutral_path, index_path):
        if not path.is_file():
            raise InputError(f"{path}: missing. Give ICT-FaceKit's FaceXModel/ folder.")
    arrays = read_obj_mesh(neutral_path)
    neutral = arrays["neutral_vertices"]
    indices = json.loads(index_path.read_text())
    identities = sorted(p.stem for p in folder.glob("identity[0-9][0-9][0-9].obj"))
    if not identities:
        raise InputError(
            f"{folder}: no identityNNN.obj files. Give ICT-FaceKit's complete FaceXModel/ folder."
        )
    arrays["identity_basis"] = _shape_deltas(folder, identities, neutral)
    arrays["expression_basis"] = _shape_deltas(folder, indices["expressions"], neutral)
    arrays["expression_names"] = np.array(indices["expressions"])
    extras = [n for n in EXTRA_SHAPES if (folder / f"{n}.obj").is_file()]
    if extras:
        arrays["extra_shape_basis"] = _shape_deltas(folder, extras, neutral)
        arrays["extra_shape_names"] = np.array(extras)
    if regions[-1][2] != len(neutral):
        regions = (("all", 0, len(neutral)),)
    arrays["region_names"] = np.array([name for name, _, _ in regions])
    arrays["region_vertex_ranges"] = np.array([[s, e] for _, s, e in regions], dtype=np.int32)
    for key, source in INDEX_LISTS.items():
        if source in indices:
            arrays[key] = np.array(indices[source], dtype=np.int32)
    return arrays


def fingerprint(array: np.ndarray) -> tuple[float, float]:
    """(sum, sum of squares) in float64: a checksum that tolerates float32 re-rounding."""
    values = np.asarray(array, dtype=np.float64)
    return float(values.sum()), float((values * values).sum())


def verify_ict(folder: Path, arrays: dict[str, np.ndarray]) -> None:
    """Check a conversion against the published ICT-FaceKit model (files and shape fingerprints)."""
    for name, expected in KNOWN_SHA256.items():
        digest = hashlib.sha256((folder / name).read_bytes()).hexdigest()
        if digest != expected:
            raise InputError(
                f"{folder / name}: sha256 {digest} is not the published ICT-FaceKit file's "
                f"{expected}. The download is damaged (or is a Git LFS pointer); try again."
            )
    for key, expected in KNOWN_FINGERPRINTS.items():
        if not np.allclose(fingerprint(arrays[key]), expected, rtol=1e-5):
            raise InputError(
                f"{folder}: the converted {key} does not match the published ICT-FaceKit model. "
                "The download is damaged; try again."
            )


def _write_model(arrays: dict[str, np.ndarray], output: Path, detector) -> Path:
    """Derive the landmark correspondence with ``detector``, then write the .npz atomically."""
    from headsplat.head.correspondence import derive_landmark_correspondence

    landmarks = derive_landmark_correspondence(model_from_arrays(arrays), detector)
    arrays = {
        **arrays,
        "landmark_triangles": landmarks.triangle.astype(np.int32),
        "landmark_bary": landmarks.bary,
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write(output, lambda p: np.savez(p, **arrays))


def import_model(path: Path, output: Path | None, detector) -> Path:
    """Convert a ``FaceXModel/`` folder (or copy a model ``.npz``) to ``output`` (default: the cache),
    with the landmark correspondence ``detector`` derives (:func:`headsplat.head.load_head_model`)."""
    output = Path(output) if output else default_model_path()
    if path.is_file() and path.suffix == ".npz":
        from headsplat.head.ict import load_ict

        load_ict(path)  # validates the layout
        with np.load(path) as data:
            return _write_model(dict(data), output, detector)
    if not path.is_dir():
        raise InputError(
            f"{path}: not a folder. Give ICT-FaceKit's FaceXModel/ folder or an ict_facekit_light.npz."
        )
    return _write_model(convert_facexmodel(path), output, detector)


def download_model(output: Path | None, detector, url: str | None = None) -> Path:
    """Download the pinned ICT-FaceKit archive (MIT), verify it and convert it (``detector`` as
    :func:`import_model`'s)."""
    url = url or os.environ.get(URL_ENV) or ICT_ARCHIVE_URL
    print(f"downloading ICT-FaceKit ({url}, about 300 MB) ...")
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            payload = response.read()
    except OSError as error:
        raise InputError(
            f"could not download {url} ({error}). Offline? Clone ICT-FaceKit elsewhere and run "
            "`headsplat model import PATH/FaceXModel`."
        ) from error
    with tempfile.TemporaryDirectory() as scratch:
        with zipfile.ZipFile(io.BytesIO(payload)) as archive:
            members = [m for m in archive.namelist() if "/FaceXModel/" in m and not m.endswith("/")]
            if not members:
                raise InputError(f"{url}: the archive has no FaceXModel/ folder.")
            folder = Path(scratch) / "FaceXModel"
            folder.mkdir()
            for member in members:
                with archive.open(member) as source, open(folder / Path(member).name, "wb") as target:
                    shutil.copyfileobj(source, target)
        arrays = convert_facexmodel(folder)
        verify_ict(folder, arrays)
        return _write_model(arrays, Path(output) if output else default_model_path(), detector)
