"""One texture atlas over the head's UV layout, for attributes learned or baked in UV space
(STAvatar's soft binding now; FATE's baking next).

ICT-FaceKit puts each material group in its own unit UV tile (u in [k, k+1)), and inside tile 0
the face, eyeball and eye-overlay islands overlap, and the two eyes share mirrored layouts: a map
per UV tile would give one texel to several places. The atlas therefore gives every material its
own square tile, side by side in material order (material m covers atlas u in [m, m+1) / M), and
a point's texel is its UV's fraction within its own unit tile, kept half a texel inside its
material's square so that bilinear lookups never blend two materials.
"""

from __future__ import annotations

import torch
from torch import Tensor


def uv_points(triangle_uvs: Tensor, triangle: Tensor, bary: Tensor) -> Tensor:
    """(N, 2) the UV of surface points given as ``triangle`` (N,) and ``bary`` (N, 3), with the
    mesh's ``triangle_uvs`` (T, 3, 2)."""
    return (triangle_uvs[triangle] * bary[..., None]).sum(-2)


def atlas_grid(
    triangle_uvs: Tensor,
    triangle_material: Tensor,
    *,
    triangle: Tensor,
    bary: Tensor,
    n_materials: int,
    resolution: int,
) -> Tensor:
    """(N, 2) the points' positions in the atlas as ``grid_sample`` takes them (x, y in [-1, 1],
    ``align_corners=False``), for an atlas of ``n_materials`` tiles of ``resolution`` texels."""
    uv = uv_points(triangle_uvs, triangle, bary)
    inset = 0.5 / resolution
    within = (uv - torch.floor(uv)).clamp(inset, 1 - inset)  # the UV's place in its unit tile
    material = triangle_material[triangle].to(within.dtype)
    x = (material + within[:, 0]) / n_materials
    y = 1 - within[:, 1]  # UV v runs up, image rows run down
    return torch.stack([x, y], -1) * 2 - 1


def gaussians_in_atlas(head, store, resolution: int) -> Tensor:
    """(N, 2) :func:`atlas_grid` of ``store``'s Gaussians (its ``triangle`` and ``bary``) on
    ``head``'s UVs and materials (a :class:`~headsplat.avatar.head_mesh.HeadMesh`)."""
    return atlas_grid(
        head.triangle_uvs,
        head.triangle_material,
        triangle=store.triangle,
        bary=store.bary,
        n_materials=len(head.info["material_names"]),
        resolution=resolution,
    )


def in_tiles(grid: Tensor, tiles: list[int], n_materials: int) -> Tensor:
    """(N, 2) ``grid`` (:func:`atlas_grid` of an atlas of ``n_materials`` tiles) moved into an
    atlas of only ``tiles`` (material indices, side by side in that order): every point must lie
    in one of them. Sampling the smaller atlas reads the same texels, without computing the
    tiles no point reads."""
    x = (grid[:, 0] + 1) / 2 * n_materials
    material = torch.floor(x).clamp(0, n_materials - 1)
    slot_of = torch.full((n_materials,), -1, dtype=torch.long, device=grid.device)
    slot_of[torch.tensor(tiles, device=grid.device)] = torch.arange(len(tiles), device=grid.device)
    slot = slot_of[material.long()]
    if (slot < 0).any():
        raise ValueError("a point lies in a tile that is not among the tiles kept")
    x = (slot + x - material) / len(tiles)
    return torch.stack([x * 2 - 1, grid[:, 1]], -1)


def sample_atlas(atlas: Tensor, grid: Tensor) -> Tensor:
    """(N, C) bilinear samples of ``atlas`` (C, H, M * H) at ``grid`` (N, 2) (:func:`atlas_grid`)."""
    samples = torch.nn.functional.grid_sample(
        atlas[None], grid[None, None], mode="bilinear", padding_mode="border", align_corners=False
    )
    return samples[0, :, 0].T
