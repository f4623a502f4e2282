"""A z-buffer triangle rasterizer (numba) for mesh renders: correspondence, QA and mask cuts.

Not differentiable and not for Gaussians: it answers "which triangle, at which barycentric point,
is visible at each pixel" for a mesh in OpenCV camera space.
"""

from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np


class MeshRaster(NamedTuple):
    """Per-pixel visibility of a mesh.

    Attributes:
        triangle: (H, W) int32 index of the visible triangle, -1 where the mesh is absent.
        bary: (H, W, 3) float32 perspective-correct barycentric weights of that triangle.
        depth: (H, W) float32 camera z, +inf where the mesh is absent.
    """

    triangle: np.ndarray
    bary: np.ndarray
    depth: np.ndarray


def project_points(points: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Pinhole projection of camera-space points (..., 3) to pixel coordinates (..., 2).

    Pixel (row i, column j) has its centre at (j + 0.5, i + 0.5), as in :mod:`headsplat.render`.
    """
    z = points[..., 2:3]
    return (points[..., :2] / z) @ K[:2, :2].T + K[:2, 2]


@numba.njit(cache=True)
def _rasterize(screen, inv_z, triangles, tri_id, bary, depth):  # pragma: no cover - numba
    height, width = tri_id.shape
    for t in range(triangles.shape[0]):
        a, b, c = triangles[t, 0], triangles[t, 1], triangles[t, 2]
        if inv_z[a] <= 0.0 or inv_z[b] <= 0.0 or inv_z[c] <= 0.0:
            continue
        ax, ay = screen[a, 0], screen[a, 1]
        bx, by = screen[b, 0], screen[b, 1]
        cx, cy = screen[c, 0], screen[c, 1]
        area = (bx - ax) * (cy - ay) - (by - ay) * (cx - ax)
        if abs(area) < 1e-12:
            continue
        x0 = max(int(np.floor(min(ax, bx, cx) - 0.5)), 0)
        x1 = min(int(np.ceil(max(ax, bx, cx) - 0.5)), width - 1)
        y0 = max(int(np.floor(min(ay, by, cy) - 0.5)), 0)
        y1 = min(int(np.ceil(max(ay, by, cy) - 0.5)), height - 1)
        for i in range(y0, y1 + 1):
            py = i + 0.5
            for j in range(x0, x1 + 1):
                px = j + 0.5
                wa = ((bx - px) * (cy - py) - (by - py) * (cx - px)) / area
                wb = ((cx - px) * (ay - py) - (cy - py) * (ax - px)) / area
                wc = 1.0 - wa - wb
                if wa < 0.0 or wb < 0.0 or wc < 0.0:
                    continue
                # Perspective-correct weights: interpolate 1/z linearly in screen space.
                qa, qb, qc = wa * inv_z[a], wb * inv_z[b], wc * inv_z[c]
                q = qa + qb + qc
                z = 1.0 / q
                if z < depth[i, j]:
                    depth[i, j] = z
                    tri_id[i, j] = t
                    bary[i, j, 0] = qa / q
                    bary[i, j, 1] = qb / q
                    bary[i, j, 2] = qc / q


def rasterize_mesh(
    vertices: np.ndarray, triangles: np.ndarray, K: np.ndarray, *, width: int, height: int
) -> MeshRaster:
    """Visible triangle, barycentrics and depth per pixel.

    Args:
        vertices: (V, 3) camera-space positions (OpenCV: z forward). Triangles with a vertex at
            z <= 0 are skipped.
        triangles: (T, 3) vertex indices.
        K: (3, 3) intrinsics.
    """
    vertices = np.asarray(vertices, dtype=np.float64)
    z = vertices[:, 2]
    with np.errstate(divide="ignore"):
        inv_z = np.where(z > 0, 1.0 / np.where(z > 0, z, 1.0), -1.0)
        screen = project_points(np.where(z[:, None] > 0, vertices, 1.0), np.asarray(K, dtype=np.float64))
    tri_id = np.full((height, width), -1, dtype=np.int32)
    bary = np.zeros((height, width, 3), dtype=np.float32)
    depth = np.full((height, width), np.inf, dtype=np.float32)
    _rasterize(screen, inv_z, np.ascontiguousarray(triangles, dtype=np.int64), tri_id, bary, depth)
    return MeshRaster(tri_id, bary, depth)


def vertex_normals(vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals (V, 3) of a mesh with counter-clockwise triangles."""
    corners = vertices[triangles]
    face_normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    normals = np.zeros_like(vertices)
    for k in range(3):
        np.add.at(normals, triangles[:, k], face_normals)
    return normals / np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)


def shade_lambert(
    raster: MeshRaster,
    normals: np.ndarray,
    triangles: np.ndarray,
    *,
    albedo: np.ndarray,
    light: np.ndarray,
    background: np.ndarray,
    ambient: float = 0.35,
) -> np.ndarray:
    """A Lambert-shaded uint8 image (H, W, 3) of a rasterized mesh.

    Args:
        normals: (V, 3) camera-space vertex normals. albedo: (T, 3) colour per triangle in [0, 1].
        light: (3,) unit direction towards the light in camera space.
    """
    covered = raster.triangle >= 0
    tri = raster.triangle[covered]
    n = np.einsum("pc,pcd->pd", raster.bary[covered], normals[triangles[tri]])
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
    diffuse = np.abs(n @ light)  # two-sided: interior shells are seen from inside
    image = np.broadcast_to(np.asarray(background, dtype=np.float64), (*raster.triangle.shape, 3)).copy()
    image[covered] = albedo[tri] * (ambient + (1 - ambient) * diffuse[:, None])
    return np.clip(image * 255 + 0.5, 0, 255).astype(np.uint8)
