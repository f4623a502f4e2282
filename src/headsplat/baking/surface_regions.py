"""Named regions of the head's surface, for recolouring a baked avatar (``edit --recolour``) and
for checking that an edit stays where it should.

Each triangle of the head mesh gets one region:

=========  ==================================================================================
region     triangles
=========  ==================================================================================
skin       the face material (ears and forehead included) but the lips, and the neck (the hair
           materials below completion's ``scalp_bottom``, where collars also lie)
hair       the hair materials at or above ``scalp_bottom`` (the scalp; completion's own split),
           the sockets behind the openings left out
lips       face triangles whose UV centroid lies inside the head model's outer lip contour
           (ICT's 68-landmark ring, points 48-59) and outside its inner one (60-67)
eyes       the scleras and irises
teeth      the teeth
other      the rest: gums and tongue, the sockets, the eye overlays (lacrimal fluid, blend,
           occlusion) and the eyelashes
=========  ==================================================================================

The hair region is the surface hair lies on, not the hair itself: a fringe over the forehead is
drawn by Gaussians of the face's triangles (skin), which the offset the geometry stage learns
lets them reach. Texels take the region of the triangle that covers them in the atlas of
:mod:`headsplat.avatar.gaussians.uv_atlas`, and texels no triangle covers the region of the
nearest covered texel of their tile, so every texel a Gaussian reads bilinearly has a region.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from headsplat.avatar.head_mesh import HeadMesh
from headsplat.baking.maps import uv_in_atlas
from headsplat.training.completion import NECK, SCALP, CompletionConfig, completion_regions

REGIONS = ("other", "skin", "hair", "lips", "eyes", "teeth")
"""Region names, by id."""
REGION_COLOURS = np.array(
    [[0, 0, 0], [230, 180, 150], [120, 70, 30], [200, 40, 60], [60, 120, 220], [250, 250, 240]],
    np.uint8,
)
"""RGB of each region in ``regions.png``."""
LIPS_OUTER = tuple(range(48, 60))
LIPS_INNER = tuple(range(60, 68))
"""The lip contours among the 68 landmarks (Multi-PIE's numbering, ICT's ``landmarks_multipie68``)."""
EYE_MATERIALS = ("M_ScleraLeft", "M_IrisLeft", "M_ScleraRight", "M_IrisRight")


def _ring_uvs(head: HeadMesh, vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """(P, 2) the UV (within its unit tile) of each of ``vertices`` on ``triangles`` (indices of
    the triangles to look on: a vertex on a UV seam has several UVs)."""
    corners = head.triangles[triangles].numpy()
    uvs = head.triangle_uvs[triangles].numpy()
    out = np.zeros((len(vertices), 2), np.float32)
    for i, vertex in enumerate(vertices):
        hits = np.argwhere(corners == vertex)
        if not len(hits):
            raise ValueError(f"lip contour vertex {vertex} is on no face triangle")
        out[i] = uvs[hits[0, 0], hits[0, 1]]
    return out - np.floor(out)


def _inside(points: np.ndarray, polygon: np.ndarray, pixels: int = 2048) -> np.ndarray:
    """(P,) bool: ``points`` (P, 2) in the unit square inside ``polygon`` (Q, 2) (rasterised at
    ``pixels`` per side, finer than any triangle of the lips)."""
    mask = np.zeros((pixels, pixels), np.uint8)
    cv2.fillPoly(mask, [np.round(polygon * pixels).astype(np.int32)], 1)
    index = np.clip((points * pixels).astype(int), 0, pixels - 1)
    return mask[index[:, 1], index[:, 0]] > 0


def triangle_regions(
    head: HeadMesh, landmarks68: np.ndarray | None, scalp_bottom: float | None = None
) -> np.ndarray:
    """(T,) uint8 each triangle's region id (:data:`REGIONS`; module table).

    Args:
        head: the avatar's head mesh.
        landmarks68: (68,) the head model's vertex index of each 68-point landmark, or None (then
            no triangle is lips).
        scalp_bottom: the scalp's lower bound (cm, model height); default completion's.
    """
    bottom = CompletionConfig.scalp_bottom if scalp_bottom is None else scalp_bottom
    fill = completion_regions(head, bottom).numpy()
    materials = list(head.info["material_names"])
    material = head.triangle_material.numpy()

    def on(*names: str) -> np.ndarray:
        return np.isin(material, [materials.index(n) for n in names if n in materials])

    regions = np.zeros(len(material), np.uint8)
    face = on("M_Face")
    regions[face | (fill == NECK)] = REGIONS.index("skin")
    regions[fill == SCALP] = REGIONS.index("hair")
    regions[on(*EYE_MATERIALS)] = REGIONS.index("eyes")
    regions[on("M_Teeth")] = REGIONS.index("teeth")
    if landmarks68 is not None:
        on_face = np.nonzero(face)[0]
        centroids = head.triangle_uvs[on_face].numpy().mean(axis=1)
        centroids -= np.floor(centroids)
        outer = _ring_uvs(head, landmarks68[list(LIPS_OUTER)], on_face)
        inner = _ring_uvs(head, landmarks68[list(LIPS_INNER)], on_face)
        lips = _inside(centroids, outer)
        lips &= ~_inside(centroids, inner)
        regions[on_face[lips]] = REGIONS.index("lips")
    return regions


def texel_regions(head: HeadMesh, regions: np.ndarray, resolution: int) -> np.ndarray:
    """(R, M * R) uint8 the region id of each texel of the atlas (module docstring), from the
    triangles' ``regions`` (T,)."""
    n_materials = len(head.info["material_names"])
    material = head.triangle_material.numpy()
    corners = uv_in_atlas(head.triangle_uvs.numpy(), material, resolution)
    # Texel centres at integer + 0.5: shift so that fillPoly's integer grid samples them.
    corners = np.round((corners - 0.5) * 16).astype(np.int32)
    out = np.zeros((resolution, n_materials * resolution), np.uint8)
    for m in range(n_materials):
        tile = np.full((resolution, resolution), 255, np.uint8)
        offset = np.array([m * resolution * 16, 0], np.int32)
        for t in np.nonzero(material == m)[0]:
            cv2.fillPoly(tile, [corners[t] - offset], int(regions[t]), lineType=cv2.LINE_8, shift=4)
        covered = tile != 255
        if covered.any() and not covered.all():
            _, labels = cv2.distanceTransformWithLabels(
                (~covered).astype(np.uint8), cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL
            )
            # DIST_LABEL_PIXEL numbers the zero (covered) pixels from 1 in row-major order.
            tile = tile[covered][labels - 1]
        elif not covered.any():
            tile[:] = REGIONS.index("other")
        out[:, m * resolution : (m + 1) * resolution] = tile
    return out


def regions_image(texels: np.ndarray) -> np.ndarray:
    """(R, M * R, 3) uint8 RGB: ``texels``' regions in :data:`REGION_COLOURS`."""
    return REGION_COLOURS[texels]


def gaussian_regions(head: HeadMesh, regions: np.ndarray, triangle: torch.Tensor) -> torch.Tensor:
    """(N,) long the region of each Gaussian (its triangle's)."""
    return torch.from_numpy(regions.astype(np.int64))[triangle.cpu()]
