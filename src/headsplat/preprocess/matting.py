"""Soft person mattes in a band around the segmenter's edge, and how much a clip's mattes flicker.

The person segmenter (MediaPipe's selfie segmentation) works at 256 x 256: at the crop's 512 px
its edge comes in blocks of about 8 px that move from frame to frame, and it drops strands of
hair beside a cheek. :func:`soft_matte` keeps what the segmenter is sure of and solves for the
alpha of a band of pixels around its 0.5 contour from the frame's own colours with closed-form
matting (Levin, Lischinski and Weiss, "A Closed-Form Solution to Natural Image Matting", TPAMI
2008; PyMatting's implementation, MIT): within each 3 x 3 window alpha is an affine function of
the colour, so the edge follows the colour edge and thin strands get fractional alpha.

:func:`mask_flicker` measures what a stable matte must show: on consecutive frames whose head
barely turned, the person region (alpha > 0.5) barely changes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from typing import NamedTuple

import cv2
import numpy as np
import torch

from headsplat.geometry import rotation_angle_deg

BAND = 1 / 64
"""The matted band's half width as a fraction of the frame's side: 8 px at 512, the size of the
segmenter's blocks (it works at 256 x 256)."""
MATTES = ("segmenter", "soft")
"""The ways preprocess makes the person masks (``PreprocessConfig.matte``): the segmenter's
probability as it is, or :func:`soft_matte` then :func:`temporal_mean`."""


def unknown_band(person: np.ndarray, half_width: float) -> np.ndarray:
    """(H, W) bool: the pixels within ``half_width`` pixels of the edge of ``person`` ((H, W)
    bool), on either side."""
    inside = cv2.distanceTransform(person.astype(np.uint8), cv2.DIST_L2, 3)
    outside = cv2.distanceTransform((~person).astype(np.uint8), cv2.DIST_L2, 3)
    return np.where(person, inside, outside) <= half_width


def soft_matte(
    image: np.ndarray,
    probability: np.ndarray,
    *,
    half_width: float,
    background: np.ndarray | None = None,
) -> np.ndarray:
    """The person's alpha: the segmenter's decision away from its edge, closed-form matting in a
    band of ``half_width`` pixels around it.

    Args:
        image: (H, W, 3) uint8 RGB frame.
        probability: (H, W) the segmenter's person probability in [0, 1].
        half_width: the band's half width in pixels (the segmenter's blocks are ~8 px at 512).
        background: (H, W) bool pixels known to be background whatever the segmenter says (below
            the neck's cut); the band keeps ``half_width`` away from them, so that cut stays sharp.

    Returns:
        (H, W) float32 alpha in [0, 1].
    """
    import pymatting

    person = probability >= 0.5
    band = unknown_band(person, half_width)
    if background is not None:
        person &= ~background
        near = cv2.dilate(background.astype(np.uint8), _disc(half_width)).astype(bool)
        band &= ~near
    trimap = np.where(band, 0.5, person.astype(np.float64))
    if not band.any() or band.all():
        return person.astype(np.float32)
    alpha = pymatting.estimate_alpha_cf(image.astype(np.float64) / 255.0, trimap)
    return np.clip(alpha, 0.0, 1.0).astype(np.float32)


def _disc(radius: float) -> np.ndarray:
    side = 2 * int(np.ceil(radius)) + 1
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (side, side))


def turn_degrees(rotation: np.ndarray) -> np.ndarray:
    """(F - 1,) the angle in degrees between each frame's head rotation and the next's
    (``rotation``: (F, 3, 3))."""
    rotation = torch.from_numpy(np.asarray(rotation))
    return rotation_angle_deg(rotation[:-1], rotation[1:]).numpy()


class Flicker(NamedTuple):
    """How much a clip's mattes change between consecutive frames whose head held still."""

    iou: float
    """Mean IoU of the person regions (alpha > 0.5); 1: no change. NaN without a still pair."""
    boundary_iou: float
    """Mean boundary IoU (Cheng et al., "Boundary IoU", CVPR 2021): the IoU of each region's
    pixels within ``edge_width`` of its edge, where a matte's flicker lives (the interior dwarfs it
    in the plain IoU)."""
    pairs: int
    """How many pairs of frames were compared."""


def mask_flicker(
    masks: Iterable[np.ndarray],
    rotation: np.ndarray,
    *,
    still_degrees: float = 0.5,
    edge_width: float = 8.0,
) -> Flicker:
    """How much a clip's mattes change while the head holds still.

    Args:
        masks: the F frames' alphas (H, W), any scale (the person is above half its maximum; a
            uint8 PNG's 255 or a float's 1.0).
        rotation: (F, 3, 3) the tracked head rotations.
        still_degrees: pairs of consecutive frames whose head turned less than this count.
        edge_width: the boundary IoU's band, pixels.
    """
    still = turn_degrees(rotation) < still_degrees
    ious, boundary_ious, previous = [], [], None
    for f, mask in enumerate(masks):
        mask = np.asarray(mask)
        person = mask > (255 if mask.dtype == np.uint8 else 1.0) / 2
        edge = person & unknown_band(person, edge_width)
        if f > 0 and still[f - 1]:
            ious.append(_iou(person, previous[0]))
            boundary_ious.append(_iou(edge, previous[1]))
        previous = person, edge
    if not ious:
        return Flicker(float("nan"), float("nan"), 0)
    return Flicker(float(np.mean(ious)), float(np.mean(boundary_ious)), len(ious))


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def still_runs(rotation: np.ndarray, *, still_degrees: float = 0.5) -> np.ndarray:
    """(F,) int: each frame's run, consecutive frames joined where the head turned less than
    ``still_degrees`` from one to the next (``rotation``: (F, 3, 3))."""
    moved = turn_degrees(rotation) >= still_degrees
    return np.concatenate([[0], np.cumsum(moved)])


def temporal_mean(alphas: Iterable[np.ndarray], runs: np.ndarray, *, radius: int) -> Iterator[np.ndarray]:
    """Each frame's matte averaged with those of up to ``radius`` frames either side in its run of
    still frames (:func:`still_runs`), streamed with ``radius`` frames of look-ahead: where the
    head holds still the outline should, and what the segmenter changes from frame to frame
    averages out; across a turn nothing is mixed.

    Args:
        alphas: the F frames' mattes (H, W) float in [0, 1].
        runs: (F,) each frame's run.
    """
    window: deque[tuple[int, np.ndarray]] = deque()

    def mean_at(f: int) -> np.ndarray:
        same = [alpha for g, alpha in window if abs(g - f) <= radius and runs[g] == runs[f]]
        return np.mean(same, axis=0, dtype=np.float32)

    next_out = 0
    for f, alpha in enumerate(alphas):
        window.append((f, np.asarray(alpha, np.float32)))
        while window and window[0][0] < f - 2 * radius:
            window.popleft()
        if f - next_out >= radius:
            yield mean_at(next_out)
            next_out += 1
    while window and next_out <= window[-1][0]:
        yield mean_at(next_out)
        next_out += 1
