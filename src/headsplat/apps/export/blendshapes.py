"""`headsplat export --blendshapes DIR`: the avatar as Gaussian blendshapes
(:mod:`headsplat.avatar.linear`) in a layout any engine can read with a few lines of code.

DIR holds two files:

``blendshapes.json``
    The header: ``format`` ("headsplat-gaussian-blendshapes"), ``version``, ``units`` (cm),
    ``axes`` (right-handed, +y up, +z the way the face looks, +x the subject's left: glTF's and
    three.js's axes in cm; Unreal is z-up and Unity left-handed, so they flip an axis on import),
    ``count`` N (Gaussians), ``vertices`` U, ``expression_names`` (E), ``regions`` (the names grouped for
    sliders), ``rest`` (expression, rotation, translation), ``camera`` (the training camera:
    OpenCV axes at the world origin, ``K`` at ``size`` px), ``fps``, ``background``,
    ``approximations`` (what the export changes, in words) and ``arrays``: for each array its
    ``dtype``, ``shape``, ``offset`` and ``bytes`` in the binary file.
``blendshapes.bin``
    The arrays, little-endian, each starting at a multiple of 16 bytes:

    ===================  =========  ==========  ===============================================
    vertices             float32    (U, 3)      the head mesh's vertices at weights zero, cm
    vertex_deltas        float16    (E, U, 3)   per expression, per unit weight, cm
    vertex_head_weight   float32    (U,)        1: follows the head's pose, 0: the torso's
    vertex_eye           int8       (U,)        the eyeball (0 / 1) a vertex turns with, -1 none
    eye_centres          float32    (2, 3)      at weights zero
    eye_centre_deltas    float32    (E, 2, 3)   per unit weight
    triangles            uint32     (N, 3)      each Gaussian's triangle (indices into vertices)
    bary                 float32    (N, 3)      its anchor's barycentric weights
    offsets              float32    (N,)        along the normal, in mean edge lengths
    local_quats          float32    (N, 4)      unit, w first: rotation in the triangle's frame
    log_scales           float32    (N, 3)      log scale relative to the mean edge length
    scale_caps           float32    (N,)        cm, the scales' soft cap (+inf: none)
    opacities            float32    (N,)        in [0, 1]
    colours              float32    (N, 3)      RGB in [0, 1] (the pixel values the avatar renders)
    ===================  =========  ==========  ===============================================

Playing it (weights ``e``, gaze (yaw, pitch) per eye, head pose ``R, t``, torso pose ``Rt, tt``):

    for each vertex u:
        v = vertices[u] + sum_k e[k] vertex_deltas[k, u]
        if vertex_eye[u] >= 0:  o = eye_centres[j] + sum_k e[k] eye_centre_deltas[k, j]  (j = vertex_eye[u])
                                v = G_j (v - o) + o                  (G_j: eye j's gaze rotation, below)
        v = (Rt v + tt) + vertex_head_weight[u] ((R v + t) - (Rt v + tt))
    for each Gaussian i:
        c0, c1, c2 = v[triangles[i]];  e1, e2 = c1 - c0, c2 - c0
        n = normalize(e1 x e2);  x = normalize(e1);  F = [x, n x x, n] (columns)
        E = (|e1| + |e2| + |c2 - c1|) / 3
        mean = sum_k bary[i, k] c_k + offsets[i] E n
        rotation = quat(F) local_quats[i];   s = E exp(log_scales[i])
        scale = s (1 + (s / scale_caps[i])^4)^(-1/4)

This is the avatar's own binding (GaussianAvatars') on its own mesh; a one-pass shader does the
vertex part for each of a Gaussian's three vertices (as the viewer's does). The gaze rotation of
(yaw, pitch) is the axis-angle (-pitch, yaw, 0) in model axes (positive yaw turns the eye towards
+x, positive pitch looks up). The reference player is :func:`headsplat.avatar.linear.pose_linear`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from headsplat.avatar.linear import LinearAvatar
from headsplat.io.atomic import atomic_folder, check_replaceable
from headsplat.io.errors import InputError

FORMAT = "headsplat-gaussian-blendshapes"
VERSION = 1
HEADER, PAYLOAD = "blendshapes.json", "blendshapes.bin"
ARRAYS = {
    "vertices": "<f4",
    "vertex_deltas": "<f2",
    "vertex_head_weight": "<f4",
    "vertex_eye": "i1",
    "eye_centres": "<f4",
    "eye_centre_deltas": "<f4",
    "triangles": "<u4",
    "bary": "<f4",
    "offsets": "<f4",
    "local_quats": "<f4",
    "log_scales": "<f4",
    "scale_caps": "<f4",
    "opacities": "<f4",
    "colours": "<f4",
}
ALIGN = 16
AXES = "right-handed; +x the subject's left, +y up, +z the way the face looks (glTF / three.js axes)"
APPROXIMATIONS = [
    "none in the geometry: the avatar's mesh is linear in the weights (its deltas are stored at half "
    "precision)",
    "view-dependent colour (the shading deformer, when trained with it): baked as the training "
    "camera saw the head from the front",
]
REGIONS = {
    "brows": ("brow",),
    "eyes": ("eye",),
    "cheeks and nose": ("cheek", "nose"),
    "jaw": ("jaw",),
    "mouth": ("mouth",),
}
"""Slider groups by name prefix (ARKit's names)."""


def regions(names: list[str]) -> dict[str, list[str]]:
    """The expression names grouped by face region for sliders (:data:`REGIONS`; the rest: "other")."""
    groups: dict[str, list[str]] = {region: [] for region in REGIONS}
    for name in names:
        region = next((r for r, prefixes in REGIONS.items() if name.startswith(prefixes)), "other")
        groups.setdefault(region, []).append(name)
    return {region: members for region, members in groups.items() if members}


def _header(linear: LinearAvatar) -> dict:
    return {
        "format": FORMAT,
        "version": VERSION,
        "units": "cm",
        "axes": AXES,
        "count": len(linear),
        "vertices": len(linear.vertices),
        "expression_names": linear.expression_names,
        "regions": regions(linear.expression_names),
        "rest": {
            "expression": linear.rest_expression.tolist(),
            "rotation": linear.rest_rotation.tolist(),
            "translation": linear.rest_translation.tolist(),
        },
        "camera": {
            "K": linear.K.tolist(),
            "size": linear.size,
            "axes": "OpenCV (x right, y down, z forward), at the world origin; the head's pose is "
            "model -> this camera",
        },
        "fps": linear.fps,
        "background": linear.background,
        "approximations": APPROXIMATIONS,
    }


def export_blendshapes(linear: LinearAvatar, folder: str | os.PathLike) -> Path:
    """Write ``linear`` as the folder ``folder``, complete or not at all.

    Raises:
        InputError: ``folder`` exists, is not empty and is not an earlier export.
    """
    check_replaceable(folder, HEADER, "a headsplat blendshape export")
    with atomic_folder(folder) as temporary:
        write_blendshapes(linear, temporary)
    return Path(folder)


def write_blendshapes(linear: LinearAvatar, folder: str | os.PathLike) -> Path:
    """Write ``linear``'s two files into the existing ``folder``. Returns the folder."""
    folder = Path(folder)
    header, chunks, offset = _header(linear), [], 0
    header["arrays"] = {}
    for name, dtype in ARRAYS.items():
        data = np.ascontiguousarray(getattr(linear, name), dtype=dtype)
        padding = -offset % ALIGN
        chunks += [b"\0" * padding, data.tobytes()]
        offset += padding
        header["arrays"][name] = {
            "dtype": dtype,
            "shape": list(data.shape),
            "offset": offset,
            "bytes": data.nbytes,
        }
        offset += data.nbytes
    (folder / PAYLOAD).write_bytes(b"".join(chunks))
    (folder / HEADER).write_text(json.dumps(header, indent=1))
    return folder


def read_blendshapes(folder: str | os.PathLike) -> LinearAvatar:
    """The :class:`LinearAvatar` in ``folder`` (written by :func:`write_blendshapes`).

    Raises:
        InputError: no such export, another format or version, or a truncated binary file.
    """
    folder = Path(folder)
    if not (folder / HEADER).is_file() or not (folder / PAYLOAD).is_file():
        raise InputError(
            f"{folder}: no {HEADER} and {PAYLOAD}; write them with `headsplat export RUN --blendshapes`."
        )
    header = json.loads((folder / HEADER).read_text())
    if header.get("format") != FORMAT or header.get("version") != VERSION:
        raise InputError(f"{folder / HEADER}: not a {FORMAT} file of version {VERSION}; export it again.")
    payload = (folder / PAYLOAD).read_bytes()
    arrays = {}
    for name, spec in header["arrays"].items():
        end = spec["offset"] + spec["bytes"]
        if end > len(payload):
            raise InputError(
                f"{folder / PAYLOAD}: truncated ({len(payload)} bytes, {name} ends at {end}); "
                "export it again."
            )
        data = np.frombuffer(payload, spec["dtype"], offset=spec["offset"], count=int(np.prod(spec["shape"])))
        arrays[name] = data.reshape(spec["shape"])
    rest, camera = header["rest"], header["camera"]
    return LinearAvatar(
        expression_names=header["expression_names"],
        **arrays,
        rest_expression=np.array(rest["expression"], np.float32),
        rest_rotation=np.array(rest["rotation"], np.float32),
        rest_translation=np.array(rest["translation"], np.float32),
        K=np.array(camera["K"], np.float32),
        size=int(camera["size"]),
        fps=float(header["fps"]),
        background=float(header["background"]),
    )
