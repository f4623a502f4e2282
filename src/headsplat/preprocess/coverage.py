"""Which parts of the head a clip showed: per triangle of the tracked head, how squarely any frame
saw it; a UV coverage image, a histogram of the head's views, and warnings for the sides it never
showed (``preprocess`` writes them to ``qa/``).

An avatar is only as good as what the clip showed: a frontal clip leaves the profiles to grazing
glimpses and the back of the head to completion's guess. Saying so at preprocessing, with a
picture, is cheaper than finding it in an orbit after training.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import cv2
import numpy as np

from headsplat.head.model import HeadModel
from headsplat.render.mesh import project_points, rasterize_mesh

COVERAGE_FRAMES = 60
"""Frames, evenly spread over the clip, whose views are rasterized."""
RASTER_SIZE = 128
"""Pixels of the rasterized views: enough to see a 1 cm triangle of a head filling the frame."""
DEPTH_TOLERANCE = 0.5
"""cm a triangle's centre may lie behind the nearest surface at its pixel and count as visible."""
SEEN = 0.26
"""A triangle counts as seen when some frame saw it within 75 degrees of face-on (cos 0.26)."""
WELL_SEEN_SHARE = 0.5
"""A part of the head with less than this share of its area seen gets a warning."""
TILE = 256
"""Pixels per UV tile of the coverage image."""


@dataclass(frozen=True)
class HeadPart:
    """A part of the head the coverage report names: triangles of ``material`` whose template
    centre lies where ``where`` (a function of the (T, 3) centres -> (T,) bool) says."""

    name: str
    material: str
    where: Callable[[np.ndarray], np.ndarray]


PARTS = (
    HeadPart("the face's front", "M_Face", lambda c: (np.abs(c[:, 0]) < 3.0) & (c[:, 2] > 4.0)),
    HeadPart("the subject's left side", "M_Face", lambda c: c[:, 0] > 5.0),
    HeadPart("the subject's right side", "M_Face", lambda c: c[:, 0] < -5.0),
    HeadPart("the back of the head", "M_BackHead", lambda c: (c[:, 2] < -3.0) & (c[:, 1] > -4.0)),
)


def triangle_visibility(
    triangles: np.ndarray, camera_vertices: Iterable[np.ndarray], K: np.ndarray, size: int
) -> np.ndarray:
    """(T,) for each triangle the largest cosine between its normal and the direction to the
    camera over the frames where it is visible (0: never visible).

    Visible: facing the camera, and its centre no more than :data:`DEPTH_TOLERANCE` behind the
    mesh's depth at the pixel it projects to (a depth test at the centre, so that triangles
    smaller than a pixel count too).

    Args:
        triangles: (T, 3) the head's triangles.
        camera_vertices: (V, 3) the tracked mesh of each frame in camera space, one at a time
            (a clip's worth at once would grow with its length). K: (3, 3) for
            frames of ``size`` pixels (rasterized at :data:`RASTER_SIZE`).
    """
    K_small = np.diag([RASTER_SIZE / size, RASTER_SIZE / size, 1.0]) @ K
    best = np.zeros(len(triangles))
    for vertices in camera_vertices:
        depth = rasterize_mesh(vertices, triangles, K_small, width=RASTER_SIZE, height=RASTER_SIZE).depth
        corners = vertices[triangles]
        centres = corners.mean(1)
        normal = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
        normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-12)
        to_camera = -centres / np.linalg.norm(centres, axis=1, keepdims=True)
        facing = (normal * to_camera).sum(1)
        pixel = np.floor(project_points(centres, K_small)).astype(int)
        inside = ((pixel >= 0) & (pixel < RASTER_SIZE)).all(1) & (centres[:, 2] > 0)
        surface = np.full(len(centres), np.inf)
        surface[inside] = depth[pixel[inside, 1], pixel[inside, 0]]
        visible = inside & (facing > 0) & (centres[:, 2] <= surface + DEPTH_TOLERANCE)
        best[visible] = np.maximum(best[visible], facing[visible])
    return best


def part_coverage(model: HeadModel, visibility: np.ndarray) -> dict[str, float]:
    """The share of each of :data:`PARTS`' area (on the template) that was seen (:data:`SEEN`)."""
    corners = model.shape.mean[model.triangles]
    area = 0.5 * np.linalg.norm(
        np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]), axis=1
    )
    centres = corners.mean(1)
    shares = {}
    for part in PARTS:
        chosen = (model.triangle_material == model.material_names.index(part.material)) & part.where(centres)
        shares[part.name] = round(float(area[chosen & (visibility >= SEEN)].sum() / area[chosen].sum()), 3)
    return shares


def coverage_warnings(shares: dict[str, float]) -> list[str]:
    """A sentence for each part the clip did not show enough of, with what to record instead."""
    return [
        f"the clip showed {share:.0%} of {name}: the avatar there is completion's guess. For a full "
        "head, record the head turning slowly left and right, up and down (docs/preprocess.md, "
        '"Recording a clip").'
        for name, share in shares.items()
        if share < WELL_SEEN_SHARE
    ]


def coverage_image(model: HeadModel, visibility: np.ndarray) -> np.ndarray:
    """(TILE, 2 TILE, 3) uint8 RGB: the face's and the scalp's UV tiles, each triangle coloured by
    how squarely it was seen: red never, yellow at a grazing angle, green face-on."""
    image = np.full((TILE, 2 * TILE, 3), 40, np.uint8)
    colour = np.stack(
        [np.clip(2 - 2 * visibility, 0, 1), np.clip(2 * visibility, 0, 1), np.zeros_like(visibility)], 1
    )
    colour[visibility < SEEN] = (0.7, 0.05, 0.05)
    shift = 4
    for tile, material in enumerate(("M_Face", "M_BackHead")):
        chosen = model.material_triangles(material)
        uv = model.triangle_uvs[chosen].copy()
        uv[..., 0] -= np.floor(uv[..., 0].min())
        pixels = np.stack([(uv[..., 0] + tile) * TILE, (1 - uv[..., 1]) * TILE], -1)
        points = np.round(pixels * (1 << shift)).astype(np.int32)
        for corners, rgb in zip(points, (colour[chosen] * 255).astype(int).tolist(), strict=True):
            cv2.fillConvexPoly(image, corners, rgb, cv2.LINE_AA, shift)
    return image


def view_histogram(angles: np.ndarray, size: int = TILE) -> np.ndarray:
    """(size, size, 3) uint8 RGB: the frames' views (``angles`` (F, 2) yaw and pitch in degrees,
    :func:`~headsplat.geometry.view_angles`) as a histogram over yaw -90..90 (left to right: the
    subject's right side shown .. left side shown) and pitch -60..60 (bottom to top), with a grid
    every 30 degrees."""
    bins = 36
    counts, _, _ = np.histogram2d(angles[:, 1], angles[:, 0], bins=bins, range=[[-60, 60], [-90, 90]])
    # Pitch up at the top; darker blue for more frames (square root: a few frames still show).
    fill = np.sqrt(counts[::-1] / max(counts.max(), 1))
    fill = cv2.resize(fill, (size, size), interpolation=cv2.INTER_NEAREST)
    image = np.stack([255 * (1 - fill), 255 * (1 - 0.8 * fill), np.full_like(fill, 255)], -1).astype(np.uint8)
    for degrees in (-60, -30, 0, 30, 60):
        x = int((degrees + 90) / 180 * size)
        cv2.line(image, (x, 0), (x, size - 1), (200, 200, 200) if degrees else (120, 120, 120), 1)
    for degrees in (-30, 0, 30):
        y = int((60 - degrees) / 120 * size)
        cv2.line(image, (0, y), (size - 1, y), (200, 200, 200) if degrees else (120, 120, 120), 1)
    cv2.putText(
        image, "yaw", (size - 40, size - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (80, 80, 80), 1, cv2.LINE_AA
    )
    cv2.putText(image, "pitch", (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (80, 80, 80), 1, cv2.LINE_AA)
    return image


def clip_views(angles: np.ndarray) -> dict[str, list[float]]:
    """The range of the frames' yaw and pitch (``angles`` (F, 2), degrees), for the report."""
    return {
        "yaw_deg": [round(float(angles[:, 0].min()), 1), round(float(angles[:, 0].max()), 1)],
        "pitch_deg": [round(float(angles[:, 1].min()), 1), round(float(angles[:, 1].max()), 1)],
    }
