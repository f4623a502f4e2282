"""Uniform samples of a head model's UV layout: one Gaussian per covered texel (FATE's initialisation).

ICT-FaceKit's UVs put each material group in its own unit tile (u in [k, k+1)), and inside tile 0
the face, eyeball and eye-overlay islands overlap. Sampling therefore rasterizes each material's
triangles on their own, in their tile's [0, 1)^2 square: a texel covered by several materials gives
one sample per material, and within a material each texel gives at most one sample.

FATE samples one UV grid for the whole FLAME layout. ICT's tiles are far from equal in world
size (at 256^2 a tile gives 6 texels/cm on the back of the head but 41 on the eyeballs), so each
material gets its own grid resolution, chosen for a target density in texels per cm (scaled per
material by :data:`DENSITY_SCALE`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from headsplat.head.model import SurfacePoints, UVLayout
from headsplat.render.mesh import rasterize_mesh

# Rendered and bound by default: skin, scalp and neck, mouth interior, teeth, the eyeballs' outer
# shells. Left out: the iris shells (inside the closed sclera) and the see-through overlay cards
# (lacrimal fluid, eye blend, eye occlusion, eyelashes).
DEFAULT_MATERIALS = ("M_Face", "M_BackHead", "M_GumsTongue", "M_Teeth", "M_ScleraLeft", "M_ScleraRight")


# The face carries the expression detail; the other materials get the base density. (4x on the
# eyeballs, so that the iris turns with the gaze, where the base density leaves the eyeballs a few
# blurs and the iris to the lids' Gaussians: tried together with the looser hair binding, the two
# scored worse held out and on the training frames, and the eyeballs took Gaussians from the face;
# measurements: docs/quality.md, section "`avatar.gaussians.uv_sampling.DENSITY_SCALE`".)
DENSITY_SCALE = {"M_Face": 1.5}


class UVSamples(NamedTuple):
    """Surface points from UV sampling.

    Attributes:
        points: the samples as (triangle, barycentric).
        material: (N,) material index of each sample.
        texel: (N, 2) integer (column, row) of the texel in its material's tile.
    """

    points: SurfacePoints
    material: np.ndarray
    texel: np.ndarray


def material_resolution(layout: UVLayout, name: str, texels_per_cm: float) -> int:
    """Grid side for one material's tile so its surface gets ``texels_per_cm`` on average."""
    index = layout.material_triangles(name)
    corners = layout.vertices[layout.triangles[index]].astype(np.float64)
    world = 0.5 * np.linalg.norm(
        np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]), axis=1
    )
    uv = layout.triangle_uvs[index].astype(np.float64)
    a, b = uv[:, 1] - uv[:, 0], uv[:, 2] - uv[:, 0]
    uv_area = 0.5 * np.abs(a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0])
    return max(1, round(texels_per_cm * np.sqrt(world.sum() / uv_area.sum())))


def material_density(name: str, texels_per_cm: float, density_scale: dict[str, float] | None = None) -> float:
    """Sampling density (texels per cm) of one material: the base density times its scale."""
    scale = DENSITY_SCALE if density_scale is None else density_scale
    return texels_per_cm * scale.get(name, 1.0)


def sample_uv(
    layout: UVLayout,
    texels_per_cm: float,
    materials: tuple[str, ...] = DEFAULT_MATERIALS,
    density_scale: dict[str, float] | None = None,
) -> UVSamples:
    """One surface point per covered texel centre of each material.

    Args:
        texels_per_cm: base sampling density on the neutral surface (about 4 gives ~50k samples).
        materials: the materials to sample.
        density_scale: per-material factors on the density (default :data:`DENSITY_SCALE`).

    Texel (column j, row i) of a material sampled at resolution R has its centre at
    uv = ((j + 0.5) / R, (i + 0.5) / R) within the tile; barycentric weights are exact for it.
    """
    resolutions = {
        name: material_resolution(layout, name, material_density(name, texels_per_cm, density_scale))
        for name in materials
        if len(layout.material_triangles(name))
    }
    return sample_uv_grid(layout, resolutions)


def sample_uv_grid(layout: UVLayout, resolutions: dict[str, int]) -> UVSamples:
    """One surface point per covered texel centre, on a given grid resolution per material."""
    triangles, barys, material_ids, texels = [], [], [], []
    for name, resolution in resolutions.items():
        index = layout.material_triangles(name)
        uv = layout.triangle_uvs[index].astype(np.float64)  # (T, 3, 2)
        uv = uv - np.floor(uv.reshape(-1, 2).min(0))  # into the material's own unit tile
        corners = np.concatenate([uv.reshape(-1, 2) * resolution, np.ones((uv.size // 2, 1))], axis=1)
        raster = rasterize_mesh(
            corners, np.arange(len(corners)).reshape(-1, 3), np.eye(3), width=resolution, height=resolution
        )
        rows, cols = np.nonzero(raster.triangle >= 0)
        triangles.append(index[raster.triangle[rows, cols]])
        barys.append(raster.bary[rows, cols])
        material_ids.append(np.full(len(rows), layout.material_names.index(name)))
        texels.append(np.stack([cols, rows], axis=1))
    return UVSamples(
        SurfacePoints(np.concatenate(triangles), np.concatenate(barys).astype(np.float32)),
        np.concatenate(material_ids),
        np.concatenate(texels),
    )
