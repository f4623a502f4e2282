"""ICT-FaceKit light (MIT, Li et al., "Learning Formation of Physically-Based Face Attributes",
CVPR 2020) as a :class:`~headsplat.head.model.HeadModel`.

The model file is an ``.npz`` (float32 positions in cm, y up, z towards the viewer):

==========================  ==================  ============================================
key                         shape               meaning
==========================  ==================  ============================================
``neutral_vertices``        (V, 3)              neutral template
``identity_basis``          (I, V, 3)           identity deltas, coefficients in std units
``expression_basis``        (E, V, 3)           ARKit-named blendshape deltas, weights 0..1
``expression_names``        (E,)                blendshape names
``faces``                   (F, 4) int          vertex indices, -1 in column 4 for triangles
``uvs``                     (U, 2)              UV coordinates
``face_uv_indices``         (F, 4) int          UV indices per face corner, same convention
``face_material``           (F,) int            index into ``material_names``
``material_names``          (M,)                OBJ material names (``M_Face`` ...)
``region_names``            (R,)                vertex region names
``region_vertex_ranges``    (R, 2) int          [start, end) vertex range of each region
``landmark_triangles``      (478,) int          optional: MediaPipe landmark -> triangle index
``landmark_bary``           (478, 3)            optional: its barycentric weights
==========================  ==================  ============================================

Triangle indices refer to :func:`~headsplat.head.model.split_quads` of ``faces``. Other keys
(``landmarks_multipie68``, ``extra_shape_basis`` ...) are kept in :attr:`HeadModel.extra`.

Where the file lives: ``$HEADSPLAT_ICT_MODEL`` when set, else ``ict_facekit_light.npz`` in the
headsplat cache folder (``$HEADSPLAT_CACHE``, else ``$XDG_CACHE_HOME/headsplat``, else
``~/.cache/headsplat``). ``headsplat model download`` or ``headsplat model import`` put it there.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from headsplat.head.model import HeadModel, LinearShape, SurfacePoints, split_quads
from headsplat.io.files import file_sha256

MODEL_NAME = "ict_facekit_light"
MODEL_ENV = "HEADSPLAT_ICT_MODEL"
REQUIRED_KEYS = (
    "neutral_vertices",
    "identity_basis",
    "expression_basis",
    "expression_names",
    "faces",
    "uvs",
    "face_uv_indices",
    "face_material",
    "material_names",
    "region_names",
    "region_vertex_ranges",
)
LANDMARK_KEYS = ("landmark_triangles", "landmark_bary")


class HeadModelMissingError(FileNotFoundError):
    """The head model file is not where headsplat looks; the message says how to get it."""


def cache_dir() -> Path:
    """The folder headsplat caches models in."""
    if os.environ.get("HEADSPLAT_CACHE"):
        return Path(os.environ["HEADSPLAT_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "headsplat"


def default_model_path() -> Path:
    """Where the ICT model is read from: ``$HEADSPLAT_ICT_MODEL`` or the cache folder."""
    if os.environ.get(MODEL_ENV):
        return Path(os.environ[MODEL_ENV])
    return cache_dir() / f"{MODEL_NAME}.npz"


def _missing_message(path: Path) -> str:
    return (
        f"ICT-FaceKit head model not found at {path}.\n"
        "Get it with one of:\n"
        "  headsplat model download            (online: fetches the public ICT-FaceKit repository, MIT)\n"
        "  headsplat model import PATH         (offline: PATH is a clone's FaceXModel/ folder or an .npz)\n"
        f"or point ${MODEL_ENV} at an existing ict_facekit_light.npz."
    )


def load_ict(path: str | os.PathLike | None = None) -> HeadModel:
    """Load the ICT-FaceKit model from an ``.npz`` in the documented layout.

    Raises:
        HeadModelMissingError: the file does not exist (the message says how to get it).
        ValueError: the file is not a valid model file (names it and the missing keys).
    """
    path = Path(path) if path is not None else default_model_path()
    if not path.is_file():
        raise HeadModelMissingError(_missing_message(path))
    try:
        data = dict(np.load(path, allow_pickle=False))
    except Exception as error:
        raise ValueError(
            f"{path} is not a readable .npz head model ({error}); re-create it with "
            "`headsplat model import` or `headsplat model download`."
        ) from error
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise ValueError(f"{path} is not an ICT head model file: missing keys {missing}.")
    return model_from_arrays(data, checksum=file_sha256(path))


def model_from_arrays(data: dict[str, np.ndarray], checksum: str = "") -> HeadModel:
    """Build the :class:`HeadModel` from the arrays of the documented ``.npz`` layout."""
    triangles, source = split_quads(data["faces"])
    uv_corners, _ = split_quads(data["face_uv_indices"])
    landmarks = None
    if all(k in data for k in LANDMARK_KEYS):
        landmarks = SurfacePoints(
            data["landmark_triangles"].astype(np.int64), data["landmark_bary"].astype(np.float32)
        )
    known = set(REQUIRED_KEYS) | set(LANDMARK_KEYS)
    return HeadModel(
        name=MODEL_NAME,
        shape=LinearShape(
            data["neutral_vertices"].astype(np.float32),
            data["identity_basis"].astype(np.float32),
            data["expression_basis"].astype(np.float32),
        ),
        triangles=triangles,
        triangle_uvs=data["uvs"][uv_corners].astype(np.float32),
        triangle_face=source,
        triangle_material=data["face_material"][source].astype(np.int64),
        material_names=tuple(str(n) for n in data["material_names"]),
        expression_names=tuple(str(n) for n in data["expression_names"]),
        region_names=tuple(str(n) for n in data["region_names"]),
        region_ranges=data["region_vertex_ranges"].astype(np.int64),
        landmarks=landmarks,
        checksum=checksum,
        extra={k: v for k, v in data.items() if k not in known},
    )
