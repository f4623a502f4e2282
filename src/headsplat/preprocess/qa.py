"""What a person checks after preprocessing: landmark and wireframe overlays, neck-cut masks."""

from __future__ import annotations

import cv2
import numpy as np

from headsplat.head.model import HeadModel
from headsplat.render.mesh import project_points

WIRE_MATERIALS = ("M_Face", "M_BackHead")
DETECTED_RGB = (40, 230, 40)
FITTED_RGB = (240, 40, 40)
WIRE_RGB = (250, 250, 250)


def wire_polylines(model: HeadModel) -> list[np.ndarray]:
    """Vertex index paths to draw: skin and scalp (no eyes or mouth interior) as the model's quads
    (:func:`~headsplat.head.model.split_quads` made each quad (a, b, c), (a, c, d): drawn without
    the diagonal) and its triangles.

    Returns:
        [closed (Q, 4) quads and triangles as (T, 4) with the first corner repeated].
    """
    keep = model.material_triangles(*WIRE_MATERIALS)
    face = model.triangle_face[keep]
    triangles = model.triangles[keep]
    paired = np.r_[face[1:] == face[:-1], False]  # first triangle of a split quad
    first = np.flatnonzero(paired)
    quads = np.c_[triangles[first], triangles[first + 1, 2]]
    single = np.flatnonzero(~paired & ~np.r_[False, paired[:-1]])
    return [quads, np.c_[triangles[single], triangles[single, 0]]]


def draw_overlay(
    image: np.ndarray,
    camera_vertices: np.ndarray,
    *,
    polylines: list[np.ndarray],
    K: np.ndarray,
    detected: np.ndarray | None,
    fitted: np.ndarray | None,
) -> np.ndarray:
    """The frame with the fitted mesh's front-facing wireframe and both landmark sets.

    Args:
        image: (H, W, 3) uint8 RGB. camera_vertices: (V, 3) fitted mesh in camera space.
        polylines: closed vertex paths (N, k) to draw (:func:`wire_polylines`).
        detected / fitted: (L, 2) pixel positions or None.
    """
    screen = project_points(camera_vertices, K)
    wire = image.copy()
    shift = 4  # sub-pixel precision for cv2 drawing
    for paths in polylines:
        corners = screen[paths]
        # Counter-clockwise in the model is clockwise on screen (y flips): keep front faces.
        u, v = corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]
        front = corners[u[:, 0] * v[:, 1] - u[:, 1] * v[:, 0] < 0]
        pixels = np.round(front * (1 << shift)).astype(np.int32)
        cv2.polylines(wire, pixels, True, WIRE_RGB, 1, cv2.LINE_AA, shift)
    out = cv2.addWeighted(image, 0.65, wire, 0.35, 0)
    for points, colour in ((detected, DETECTED_RGB), (fitted, FITTED_RGB)):
        if points is None:
            continue
        for x, y in np.round(points * (1 << shift)).astype(np.int32):
            cv2.circle(out, (int(x), int(y)), 1 << shift, colour, -1, cv2.LINE_AA, shift)
    return out


def neck_rim_vertices(model: HeadModel, depth_cm: float = 1.5) -> np.ndarray:
    """Indices of the head-and-neck vertices within ``depth_cm`` of the neck's lower end."""
    region = model.region("head_and_neck")
    heights = model.shape.mean[region, 1]
    return np.flatnonzero(heights < heights.min() + depth_cm) + region.start


def cut_below_neck(mask: np.ndarray, rim_screen: np.ndarray) -> np.ndarray:
    """Zero a person mask below the fitted neck's lower edge.

    Args:
        mask: (H, W) mask. rim_screen: (P, 2) projected neck-rim vertices; per image column the
            cut is the lowest rim point there (linearly interpolated, held flat past the ends).
    """
    height, width = mask.shape
    order = np.argsort(rim_screen[:, 0])
    xs, ys = rim_screen[order, 0], rim_screen[order, 1]
    # Lower envelope of the rim: the largest y in each of a few bins along x.
    bins = np.linspace(xs[0], xs[-1] + 1e-6, 17)
    index = np.digitize(xs, bins) - 1
    centres, lowest = [], []
    for b in range(len(bins) - 1):
        inside = index == b
        if inside.any():
            centres.append(xs[inside].mean())
            lowest.append(ys[inside].max())
    cut = np.interp(np.arange(width) + 0.5, centres, lowest)
    rows = np.arange(height)[:, None] + 0.5
    return np.where(rows > cut[None, :], 0, mask).astype(mask.dtype)
