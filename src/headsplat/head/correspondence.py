"""Derive the MediaPipe 478-landmark <-> head-surface correspondence by rendering the model.

The way (docs/model.md): render the neutral head with Lambert shading, run MediaPipe
FaceMesh on the render, and lift each detected landmark onto the surface as (triangle,
barycentric). Pitfalls it avoids: iris landmarks are lifted onto the outer eyeball shell (the iris
shell has a tunnel at the pupil); every other landmark onto the face skin only, so lid points
cannot land on the eyeball and inner-lip points cannot land on the teeth (the mouth is rendered
slightly open, and a landmark over a hole takes the nearest skin pixel).
"""

from __future__ import annotations

import numpy as np
import torch

from headsplat.geometry import MODEL_TO_OPENCV
from headsplat.head.model import HeadModel, SurfacePoints
from headsplat.render.mesh import MeshRaster, rasterize_mesh, shade_lambert, vertex_normals

IRIS_LANDMARKS = np.arange(468, 478)
RENDER_SIZE = 512
# Materials drawn in the detection render, with an albedo each; see-through overlay cards are left out.
ALBEDO = {
    "M_Face": (0.86, 0.66, 0.55),
    "M_BackHead": (0.30, 0.22, 0.16),
    "M_GumsTongue": (0.65, 0.25, 0.25),
    "M_Teeth": (0.92, 0.90, 0.85),
    "M_ScleraLeft": (0.95, 0.94, 0.92),
    "M_ScleraRight": (0.95, 0.94, 0.92),
    "M_IrisLeft": (0.22, 0.14, 0.10),
    "M_IrisRight": (0.22, 0.14, 0.10),
}
# Iris and pupil as seen from the eyeball centre; 27 degrees matches the iris radius MediaPipe
# measures on real faces (the fitted ring radius of the shared clips) on ICT's eyeball.
IRIS_ANGLE_DEG, PUPIL_ANGLE_DEG = 27.0, 12.0
VERSION = 2  # bump when the derivation changes: cached correspondences are keyed by it


def frontal_camera(model_vertices: np.ndarray, size: int = RENDER_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """Intrinsics and camera-space vertices for a frontal portrait of a head model in cm.

    Returns:
        K (3, 3) and vertices (V, 3) in OpenCV camera space, the face filling ~60 % of the height.
    """
    distance = 60.0
    focal = 2.0 * size
    centre = np.array([0.0, 2.0, 0.0])  # between the eyes and the mouth of the ICT template
    camera = (model_vertices - centre) @ MODEL_TO_OPENCV.T + np.array([0.0, 0.0, distance])
    K = np.array([[focal, 0, size / 2], [0, focal, size / 2], [0, 0, 1]])
    return K, camera


def _albedo(model: HeadModel, vertices: np.ndarray) -> np.ndarray:
    """(T, 3) albedo per triangle; the eyeball shells get a painted iris and pupil.

    ICT's iris is an inner shell hidden by the closed sclera shell (the cornea is meant to be
    transparent), so the iris is painted onto the sclera by the angle from the eye's axis.
    """
    palette = np.array([ALBEDO.get(name, (0.5, 0.5, 0.5)) for name in model.material_names])
    albedo = palette[model.triangle_material]
    forward = MODEL_TO_OPENCV @ np.array([0.0, 0.0, 1.0])  # the eyes look along the model's +z
    for side in ("Left", "Right"):
        sclera = model.material_triangles(f"M_Sclera{side}")
        centroids = vertices[model.triangles[sclera]].mean(axis=1)
        rays = centroids - vertices[np.unique(model.triangles[sclera])].mean(axis=0)
        angle = np.degrees(np.arccos(rays @ forward / np.linalg.norm(rays, axis=1)))
        albedo[sclera[angle < IRIS_ANGLE_DEG]] = ALBEDO[f"M_Iris{side}"]
        albedo[sclera[angle < PUPIL_ANGLE_DEG]] = (0.03, 0.03, 0.03)
    return albedo


def _render(model: HeadModel, vertices: np.ndarray, K: np.ndarray, size: int) -> np.ndarray:
    keep = model.material_triangles(*ALBEDO)
    triangles = model.triangles[keep]
    raster = rasterize_mesh(vertices, triangles, K, width=size, height=size)
    albedo = _albedo(model, vertices)[keep]
    light = np.array([0.3, -0.3, -1.0]) / np.linalg.norm([0.3, -0.3, -1.0])
    return shade_lambert(
        raster,
        vertex_normals(vertices, triangles),
        triangles,
        albedo=albedo,
        light=light,
        background=(0.55, 0.6, 0.65),
    )


def _lift(raster: MeshRaster, triangles: np.ndarray, points: np.ndarray, search: int = 12) -> SurfacePoints:
    """Surface point under each pixel position (P, 2); a miss takes the nearest covered pixel."""
    height, width = raster.triangle.shape
    tri = np.empty(len(points), dtype=np.int64)
    bary = np.empty((len(points), 3), dtype=np.float32)
    for k, (x, y) in enumerate(points):
        j, i = int(np.clip(np.floor(x), 0, width - 1)), int(np.clip(np.floor(y), 0, height - 1))
        if raster.triangle[i, j] < 0:
            i0, j0 = max(i - search, 0), max(j - search, 0)
            window = raster.triangle[i0 : i + search + 1, j0 : j + search + 1] >= 0
            if not window.any():
                raise RuntimeError(f"landmark {k} at ({x:.1f}, {y:.1f}) px is not over the model surface")
            ii, jj = np.nonzero(window)
            nearest = np.argmin((ii + i0 - i) ** 2 + (jj + j0 - j) ** 2)
            i, j = ii[nearest] + i0, jj[nearest] + j0
        tri[k] = triangles[raster.triangle[i, j]]
        bary[k] = raster.bary[i, j]
    return SurfacePoints(tri, bary)


def derive_landmark_correspondence(model: HeadModel, detect, jaw_open: float = 0.12) -> SurfacePoints:
    """Lift MediaPipe's 478 landmarks detected on a render of ``model`` onto its surface.

    Args:
        model: the head model (its own landmarks, if any, are ignored).
        detect: callable ``(image uint8 (H, W, 3)) -> (478, 2) pixel positions or None``, e.g.
            :func:`headsplat.preprocess.landmarks.detect_single_image`.
        jaw_open: jawOpen weight of the render, so the inner lip contours are apart.

    Returns:
        478 surface points; indices refer to ``model.triangles``.
    """
    expression = torch.zeros(model.n_expression)
    expression[model.expression_index("jawOpen")] = jaw_open
    vertices = model.vertices(torch.zeros(model.n_identity), expression).numpy().astype(np.float64)
    K, camera = frontal_camera(vertices)
    image = _render(model, camera, K, RENDER_SIZE)
    detected = detect(image)
    if detected is None:
        raise RuntimeError("MediaPipe found no face in the render of the head model")
    skin = model.material_triangles("M_Face")
    eyeball = model.material_triangles("M_ScleraLeft", "M_ScleraRight")
    face_points = _lift(
        rasterize_mesh(camera, model.triangles[skin], K, width=RENDER_SIZE, height=RENDER_SIZE),
        skin,
        detected,
    )
    iris_points = _lift(
        rasterize_mesh(camera, model.triangles[eyeball], K, width=RENDER_SIZE, height=RENDER_SIZE),
        eyeball,
        detected[IRIS_LANDMARKS],
    )
    triangle = face_points.triangle.copy()
    bary = face_points.bary.copy()
    triangle[IRIS_LANDMARKS] = iris_points.triangle
    bary[IRIS_LANDMARKS] = iris_points.bary
    return SurfacePoints(triangle, bary)
