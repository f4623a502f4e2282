"""Built-in edits of a baked avatar's maps (FATE §4.3's texture editing): pure functions on value
maps (C, R, M * R) laid out as :mod:`headsplat.baking.maps` documents."""

from __future__ import annotations

import cv2
import numpy as np

from headsplat.baking.maps import PREVIEW_TILE


def paste_sticker(
    colour: np.ndarray, sticker: np.ndarray, alpha: np.ndarray, *, at: tuple[float, float], size: float
) -> np.ndarray:
    """``colour`` (3, R, M * R) in [0, 1] with ``sticker`` (h, w, 3) uint8 RGB blended over it by
    ``alpha`` (h, w) in [0, 1], centred at ``at`` (x, y) and ``size`` wide, both in pixels of the
    texture preview (:data:`~headsplat.baking.maps.PREVIEW_TILE` per tile; the height keeps the
    sticker's aspect). The sticker is clipped to the tile its centre is in, so it never spills
    onto another material. Returns the new colour map.
    """
    resolution = colour.shape[1]
    scale = resolution / PREVIEW_TILE
    width = max(1, round(size * scale))
    height = max(1, round(width * sticker.shape[0] / sticker.shape[1]))
    rgb = cv2.resize(sticker, (width, height), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    weight = cv2.resize(alpha.astype(np.float32), (width, height), interpolation=cv2.INTER_AREA)
    left, top = round(at[0] * scale - width / 2), round(at[1] * scale - height / 2)
    tile = int(np.clip(at[0] * scale // resolution, 0, colour.shape[2] // resolution - 1))
    x0, x1 = max(left, tile * resolution), min(left + width, (tile + 1) * resolution)
    y0, y1 = max(top, 0), min(top + height, resolution)
    if x0 >= x1 or y0 >= y1:
        raise ValueError(f"the sticker at {at} with size {size} lies outside the texture preview")
    out = colour.copy()
    part = (slice(y0 - top, y1 - top), slice(x0 - left, x1 - left))
    blend = weight[part][None]
    out[:, y0:y1, x0:x1] = blend * rgb[part].transpose(2, 0, 1) + (1 - blend) * colour[:, y0:y1, x0:x1]
    return out


def recolour(
    colour: np.ndarray, where: np.ndarray, *, hue: float = 0.0, saturation: float = 1.0, value: float = 1.0
) -> np.ndarray:
    """``colour`` (3, R, M * R) in [0, 1] with the texels ``where`` (R, M * R) bool shifted in HSV:
    ``hue`` degrees added (around the colour wheel), saturation and value multiplied by
    ``saturation`` and ``value`` (clipped to [0, 1]). Returns the new colour map; the other texels
    are returned unchanged, bit for bit."""
    if saturation < 0 or value < 0:
        raise ValueError(f"saturation ({saturation}) and value ({value}) scale: they cannot be negative")
    rgb = np.ascontiguousarray(colour.transpose(1, 2, 0)[where], np.float32)[None]
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)  # float input: H in [0, 360), S and V in [0, 1]
    hsv[..., 0] = np.mod(hsv[..., 0] + hue, 360.0)
    hsv[..., 1] = np.clip(hsv[..., 1] * saturation, 0, 1)
    hsv[..., 2] = np.clip(hsv[..., 2] * value, 0, 1)
    out = colour.copy()
    out[:, where] = np.clip(cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0].T, 0, 1)
    return out
