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

The hair region of the surface alone is the scalp, but a fringe over the forehead is drawn by
Gaussians of the face's triangles: :func:`hair_by_colour` adds the face's texels above the brows
whose baked colour is the hair's. Texels take the region of the triangle that covers them in the
atlas of :mod:`headsplat.avatar.gaussians.uv_atlas`, and texels no triangle covers the region of
the nearest covered texel of their tile, so every texel a Gaussian reads bilinearly has a region.
"""

from __future__ import annotations

import cv2
import numpy as np

from headsplat.avatar.head_mesh import HeadMesh
from headsplat.baking.maps import uv_in_atlas
from headsplat.training.completion import NECK, SCALP, HarmonicConfig, completion_regions

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
    bottom = HarmonicConfig.scalp_bottom if scalp_bottom is None else scalp_bottom
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


def texel_triangles(head: HeadMesh, resolution: int) -> np.ndarray:
    """(R, M * R) int32 the triangle covering each texel of the atlas; a texel no triangle covers
    takes the nearest covered texel's of its tile (every texel of a tile with no triangle: -1)."""
    n_materials = len(head.info["material_names"])
    material = head.triangle_material.numpy()
    corners = uv_in_atlas(head.triangle_uvs.numpy(), material, resolution)
    # Texel centres at integer + 0.5: shift so that fillPoly's integer grid samples them.
    corners = np.round((corners - 0.5) * 16).astype(np.int32)
    out = np.full((resolution, n_materials * resolution), -1, np.int32)
    for m in range(n_materials):
        tile = np.full((resolution, resolution), -1, np.int32)
        offset = np.array([m * resolution * 16, 0], np.int32)
        for t in np.nonzero(material == m)[0]:
            cv2.fillPoly(tile, [corners[t] - offset], int(t), lineType=cv2.LINE_8, shift=4)
        covered = tile >= 0
        if covered.any() and not covered.all():
            _, labels = cv2.distanceTransformWithLabels(
                (~covered).astype(np.uint8), cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL
            )
            # DIST_LABEL_PIXEL numbers the zero (covered) pixels from 1 in row-major order.
            tile = tile[covered][labels - 1]
        out[:, m * resolution : (m + 1) * resolution] = tile
    return out


def texel_regions(regions: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """(R, M * R) uint8 the region id of each texel of the atlas (module docstring), from the
    triangles' ``regions`` (T,) and the texels' ``triangles`` (:func:`texel_triangles`)."""
    return np.where(triangles >= 0, regions[triangles], REGIONS.index("other")).astype(np.uint8)


def hair_by_colour(
    head: HeadMesh, texels: np.ndarray, triangles: np.ndarray, colour: np.ndarray, *, above_eyes: float = 3.5
) -> np.ndarray:
    """``texels`` (R, M * R) regions, on the texels' ``triangles`` (:func:`texel_triangles`), with
    the front hair added: skin texels of the face material
    higher than ``above_eyes`` cm over the eyeballs' centres (above the brows) whose colour
    (``colour`` (3, R, M * R) in [0, 1]) lies nearer, in CIELAB, to the hair region's median
    colour than to the skin's below the eyes. The hair a fringe draws over the forehead lies on
    the face's triangles, so the surface alone cannot tell it from the forehead; a bald head's
    scalp is skin-coloured, and then nothing is added."""
    height = head.neutral[head.triangles].mean(dim=1)[:, 1].numpy()
    face = list(head.info["material_names"]).index("M_Face")
    on_face = (triangles >= 0) & (head.triangle_material.numpy()[triangles] == face)
    texel_height = height[triangles] - float(head.eye_centres[:, 1].mean())
    skin, hair = texels == REGIONS.index("skin"), texels == REGIONS.index("hair")
    lab = cv2.cvtColor(np.ascontiguousarray(colour.transpose(1, 2, 0), np.float32), cv2.COLOR_RGB2Lab)
    below_eyes = skin & on_face & (texel_height < 0)
    if not hair.any() or not below_eyes.any():
        return texels
    hair_colour, skin_colour = np.median(lab[hair], axis=0), np.median(lab[below_eyes], axis=0)
    candidates = skin & on_face & (texel_height > above_eyes)
    nearer_hair = np.linalg.norm(lab - hair_colour, axis=-1) < np.linalg.norm(lab - skin_colour, axis=-1)
    out = texels.copy()
    out[candidates & nearer_hair] = REGIONS.index("hair")
    return out


def regions_image(texels: np.ndarray) -> np.ndarray:
    """(R, M * R, 3) uint8 RGB: ``texels``' regions in :data:`REGION_COLOURS`."""
    return REGION_COLOURS[texels]
