"""Where on the face an avatar fails: masks of the mouth, the eyes and the outline band of one frame,
and the metrics inside them.

The regions come from the ground-truth frame alone (its detected MediaPipe landmarks and its
person mask), so both evaluation protocols and every method are scored on the same pixels:
- ``mouth``: the outer lip contour, grown by a fifth of the mouth's width (lips, teeth, the
  mouth's inside and the skin the lips move);
- ``mouth_inside``: the inner lip contour alone, not grown: teeth, tongue and the mouth's dark
  inside, the frequently occluded region STAvatar's claims are about; empty (no score) in a frame
  whose inner contour encloses less than :data:`MIN_OPENING_PX_AT_256` (a closed mouth);
- ``eyes``: both eye contours, each grown by a third of the eye's width (lids, lashes, the eye);
- ``outline``: pixels within +-3 px of the mask's boundary at 256 px (scaled with the size): where
  a silhouette that misses the head turn or the hair's volume costs.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
from torch import Tensor

from headsplat.metrics import LPIPS, psnr, ssim_map

# MediaPipe FaceMesh indices (the 468-point topology; facts of the model, in contour order).
LIPS_OUTER = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0, 37, 39, 40, 185)
LIPS_INNER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308, 415, 310, 311, 312, 13, 82, 81, 80, 191)
RIGHT_EYE = (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246)
LEFT_EYE = (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466)
REGIONS = ("mouth", "mouth_inside", "eyes", "outline")
OUTLINE_PX_AT_256 = 3.0
MIN_OPENING_PX_AT_256 = 24
"""A mouth whose inner lip contour encloses less than this area (square pixels at 256 px: a 36 px
wide mouth open by under a pixel) is closed: its filled contour would be the lips' edge."""
LPIPS_MIN_SIDE = 64
"""LPIPS-AlexNet's features need room: regions are scored on a square crop at least this wide."""


def _grown_polygon(points: np.ndarray, grow: float, size: int) -> np.ndarray:
    """(S, S) bool: the filled polygon ``points`` (N, 2) pixels (centre of pixel (i, j) at
    (j + 0.5, i + 0.5)), dilated by ``grow`` x its width."""
    mask = np.zeros((size, size), np.uint8)
    cv2.fillPoly(mask, [np.round(points - 0.5).astype(np.int32)], 1)
    radius = round(grow * float(np.ptp(points[:, 0])))
    if radius > 0:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
        mask = cv2.dilate(mask, kernel)
    return mask.astype(bool)


def outline_band(alpha: np.ndarray, half_width: float) -> np.ndarray:
    """(S, S) bool: pixels within ``half_width`` px of the boundary of ``alpha`` (S, S) in [0, 1]
    (at least the pixels on either side of it)."""
    inside = (alpha >= 0.5).astype(np.uint8)
    # Distances to the nearest pixel centre on the other side; the boundary lies half a pixel
    # short of it. The pixels touching the boundary are always in the band (small images).
    outer = cv2.distanceTransform(1 - inside, cv2.DIST_L2, 5)
    inner = cv2.distanceTransform(inside, cv2.DIST_L2, 5)
    return np.where(inside.astype(bool), inner, outer) - 0.5 <= max(half_width, 0.5)


def region_masks(landmarks: np.ndarray, alpha: np.ndarray) -> dict[str, np.ndarray]:
    """The regions of one frame, each (S, S) bool.

    Args:
        landmarks: (478, 2) detected landmarks in pixels of the S x S frame (NaN: no face found;
            the mouth and eyes are then empty).
        alpha: (S, S) person mask in [0, 1].
    """
    size = alpha.shape[0]
    masks = {"outline": outline_band(alpha, OUTLINE_PX_AT_256 * size / 256)}
    if not np.isfinite(landmarks).all():
        empty = np.zeros((size, size), bool)
        return {"mouth": empty, "mouth_inside": empty, "eyes": empty, **masks}
    masks["mouth"] = _grown_polygon(landmarks[list(LIPS_OUTER)], 0.2, size)
    inner = landmarks[list(LIPS_INNER)]
    closed = cv2.contourArea(inner.astype(np.float32)) < MIN_OPENING_PX_AT_256 * (size / 256) ** 2
    masks["mouth_inside"] = np.zeros((size, size), bool) if closed else _grown_polygon(inner, 0.0, size)
    masks["eyes"] = _grown_polygon(landmarks[list(RIGHT_EYE)], 1 / 3, size) | _grown_polygon(
        landmarks[list(LEFT_EYE)], 1 / 3, size
    )
    return masks


def square_crop(mask: np.ndarray, min_side: int = LPIPS_MIN_SIDE) -> tuple[slice, slice]:
    """Rows and columns of the smallest square of side >= ``min_side`` (and <= the image) centred on
    the bounding box of ``mask`` (S, S) bool, shifted inside the image."""
    size = mask.shape[0]
    ys, xs = np.nonzero(mask)
    side = min(size, max(min_side, int(np.ptp(ys)) + 1, int(np.ptp(xs)) + 1))
    starts = [
        int(np.clip(lo - (side - (hi - lo + 1)) // 2, 0, size - side))
        for lo, hi in ((ys.min(), ys.max()), (xs.min(), xs.max()))
    ]
    return slice(starts[0], starts[0] + side), slice(starts[1], starts[1] + side)


@torch.no_grad()
def region_scores(
    image: Tensor, target: Tensor, masks: dict[str, np.ndarray], lpips: LPIPS
) -> dict[str, float]:
    """PSNR and SSIM inside each region and LPIPS on its padded square crop, of ``image`` against
    ``target`` (both (S, S, 3) in [0, 1]); keys ``{region}_psnr|ssim|lpips``, NaN for an empty
    region."""
    similarity = ssim_map(image, target).mean(dim=-1)  # (S, S)
    scores = {}
    for name, mask in masks.items():
        scores.update({f"{name}_{metric}": float("nan") for metric in ("psnr", "ssim", "lpips")})
        if not mask.any():
            continue
        selected = torch.from_numpy(mask).to(image.device)
        scores[f"{name}_psnr"] = float(psnr(image, target, selected))
        scores[f"{name}_ssim"] = float(similarity[selected].mean())
        rows, cols = square_crop(mask)
        if rows.stop - rows.start >= lpips.min_size:  # images below LPIPS's smallest have no score
            scores[f"{name}_lpips"] = float(lpips(image[rows, cols], target[rows, cols]))
    return scores
