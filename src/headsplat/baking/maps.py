"""A baked avatar's attribute maps on disk: the exact float copy, and one 8-bit PNG per attribute
group that any image editor opens.

Layout: the atlas of :mod:`headsplat.avatar.gaussians.uv_atlas`, one R x R tile per material side
by side in the material order recorded with the maps (tiles of materials without Gaussians are
left zero). PNG values:

- ``colour.png``: RGB as the frames' sRGB values, 0-255;
- every other group (``opacity``, ``scale``, ``rotation``, ``offset``): each channel's value
  mapped linearly from the range the maps can hold, ``mean - 3 std`` .. ``mean + 3 std`` of the
  trained Gaussians (:data:`~headsplat.baking.attributes.SPREAD`), to 0-255; the ranges are in
  ``attributes.npz`` (``low``, ``high``). Single-channel groups are grey PNGs, three-channel ones
  RGB.

``preview.png``: the colour map at 512 px per tile with the UV wireframe over it (where to paint;
``edit --sticker`` takes its pixel coordinates). ``regions.png``: the atlas's texels coloured by
the surface region ``edit --recolour`` changes (:mod:`headsplat.baking.surface_regions`; the
hair's extent depends on the colour map, so it is worked out again from the edited maps).

``attributes.npz``: ``maps`` (C, R, M * R) float32 values, ``groups``, ``mean``, ``std``, ``low``,
``high`` (C,), ``resolution``, ``material_names``, ``tiles`` (the materials computed).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
from torch import Tensor

from headsplat.avatar.gaussians.uv_atlas import atlas_grid
from headsplat.baking.attributes import SPREAD, AttributeCodec, group_slices
from headsplat.io.atomic import atomic_write

FLOAT_MAPS = "attributes.npz"


def value_ranges(codec: AttributeCodec) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) (C,): the values each channel's PNG spans (colour: 0 to 1)."""
    mean, std = codec.mean.numpy().astype(np.float64), codec.std.numpy().astype(np.float64)
    low, high = mean - SPREAD * std, mean + SPREAD * std
    if "colour" in codec.groups:
        colour = group_slices(codec.groups)["colour"]
        low[colour], high[colour] = 0.0, 1.0
    return low, high


def write_maps(
    folder: Path, maps: Tensor, codec: AttributeCodec, *, material_names: list[str], tiles: list[int]
) -> Path:
    """Write the float maps (C, R, M * R) to ``folder/attributes.npz`` (atomically)."""
    low, high = value_ranges(codec)
    arrays = {
        "maps": maps.detach().cpu().numpy().astype(np.float32),
        "groups": np.array(codec.groups),
        "mean": codec.mean.numpy(),
        "std": codec.std.numpy(),
        "low": low,
        "high": high,
        "resolution": np.array(maps.shape[1]),
        "material_names": np.array(material_names),
        "tiles": np.array(tiles),
    }
    return write_maps_arrays(folder, arrays)


def write_maps_arrays(folder: Path, arrays: dict[str, np.ndarray]) -> Path:
    """Write maps' arrays (as :func:`read_maps` returns them) to ``folder/attributes.npz``."""
    folder.mkdir(parents=True, exist_ok=True)
    return atomic_write(folder / FLOAT_MAPS, lambda p: np.savez(p, **arrays))


def read_maps(path: Path) -> dict[str, np.ndarray]:
    """The arrays :func:`write_maps` wrote."""
    with np.load(path) as file:
        return {name: file[name] for name in file.files}


def to_png_images(maps: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each group's 8-bit image (R, M * R, 3) RGB or (R, M * R) grey, by group name."""
    groups = codec_of(maps).groups
    low, high = maps["low"][:, None, None], maps["high"][:, None, None]
    codes = np.clip(np.round((maps["maps"] - low) / (high - low) * 255), 0, 255).astype(np.uint8)
    return {
        name: codes[part].transpose(1, 2, 0) if part.stop - part.start == 3 else codes[part][0]
        for name, part in group_slices(groups).items()
    }


def from_png_images(images: dict[str, np.ndarray], maps: dict[str, np.ndarray]) -> np.ndarray:
    """(C, R, M * R) values of the 8-bit ``images`` (by group name, as :func:`to_png_images`)
    with ``maps``' ranges."""
    groups = codec_of(maps).groups
    values = np.empty_like(maps["maps"])
    for name, part in group_slices(groups).items():
        image = images[name].astype(np.float32) / 255
        channels = image.transpose(2, 0, 1) if image.ndim == 3 else image[None]
        low, high = maps["low"][part, None, None], maps["high"][part, None, None]
        values[part] = low + channels * (high - low)
    return values


def write_pngs(folder: Path, maps: dict[str, np.ndarray]) -> list[Path]:
    """``folder/GROUP.png`` for each group (atomically); their paths."""
    written = []
    for name, image in to_png_images(maps).items():
        bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image

        def write(path: Path, bgr: np.ndarray = bgr) -> None:
            if not cv2.imwrite(str(path), bgr):
                raise OSError(f"could not write {path}")

        written.append(atomic_write(folder / f"{name}.png", write))
    return written


def codec_of(maps: dict[str, np.ndarray]) -> AttributeCodec:
    """The codec the maps were written with."""
    return AttributeCodec(
        tuple(str(g) for g in maps["groups"]), torch.from_numpy(maps["mean"]), torch.from_numpy(maps["std"])
    )


PREVIEW_TILE = 512
"""Pixels per side of each material's tile in the texture preview (the coordinates ``edit
--sticker --at X,Y`` and ``--sticker-size`` take)."""


def preview_pixels(head, triangle: Tensor, bary: Tensor) -> np.ndarray:
    """(P, 2) the texture preview's pixel (x, y) of surface points ``triangle`` (P,), ``bary``
    (P, 3) of ``head`` (a :class:`~headsplat.avatar.head_mesh.HeadMesh`): where to put
    ``edit --sticker --at`` to paint at those points."""
    tiles = len(head.info["material_names"])
    grid = atlas_grid(
        head.triangle_uvs,
        head.triangle_material,
        triangle=triangle,
        bary=bary,
        n_materials=tiles,
        resolution=PREVIEW_TILE,
    )
    return ((grid.numpy() + 1) / 2 * [tiles * PREVIEW_TILE, PREVIEW_TILE]).astype(np.float64)


def uv_in_atlas(triangle_uvs: np.ndarray, triangle_material: np.ndarray, tile_px: int) -> np.ndarray:
    """(T, 3, 2) each triangle's corners in pixels of an atlas with ``tile_px`` tiles: material m's
    tile starts at x = m * tile_px; a triangle's unit UV tile is its centroid's."""
    tile = np.floor(triangle_uvs.mean(axis=1, keepdims=True))
    within = triangle_uvs - tile
    x = (triangle_material[:, None] + within[..., 0]) * tile_px
    y = (1 - within[..., 1]) * tile_px
    return np.stack([x, y], axis=-1)


def preview_image(
    maps: dict[str, np.ndarray], triangle_uvs: np.ndarray, triangle_material: np.ndarray
) -> np.ndarray:
    """(P, M * P, 3) uint8 RGB: the colour map at :data:`PREVIEW_TILE` px per tile with the UV
    wireframe of the materials that hold Gaussians drawn over it, for deciding where to paint."""
    colour = to_png_images(maps)["colour"]
    tiles = len(maps["material_names"])
    image = cv2.resize(colour, (tiles * PREVIEW_TILE, PREVIEW_TILE), interpolation=cv2.INTER_LINEAR)
    used = np.isin(triangle_material, maps["tiles"])
    corners = uv_in_atlas(triangle_uvs[used], triangle_material[used], PREVIEW_TILE)
    wire = np.zeros(image.shape[:2], np.uint8)
    cv2.polylines(wire, np.round(corners).astype(np.int32), isClosed=True, color=1, thickness=1)
    image[wire > 0] = (0.6 * image[wire > 0] + 0.4 * 255).astype(np.uint8)  # light lines, colours kept
    return image
