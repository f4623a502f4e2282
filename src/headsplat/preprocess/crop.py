"""One fixed square crop per clip around the head: union of smoothed face boxes with a margin."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Crop:
    """A square window of the source frames: top-left corner and side, in source pixels."""

    x: int
    y: int
    side: int

    def apply(self, image: np.ndarray, size: int) -> np.ndarray:
        """Cut the window out of ``image`` (H, W, C) and resize it to ``size`` x ``size``."""
        window = image[self.y : self.y + self.side, self.x : self.x + self.side]
        interpolation = cv2.INTER_AREA if self.side > size else cv2.INTER_CUBIC
        return cv2.resize(window, (size, size), interpolation=interpolation)

    def to_crop_pixels(self, points: np.ndarray, size: int) -> np.ndarray:
        """Source pixel positions (..., 2) -> positions in the resized crop."""
        return (points - np.array([self.x, self.y], dtype=np.float32)) * (size / self.side)


def moving_median(values: np.ndarray, radius: int) -> np.ndarray:
    """Median over a window of 2*radius+1 frames along axis 0 (edges use a shorter window)."""
    n = len(values)
    return np.stack([np.median(values[max(0, i - radius) : i + radius + 1], axis=0) for i in range(n)])


def head_crop(
    face_boxes: np.ndarray, width: int, height: int, *, margin: float = 0.45, smooth: int = 5
) -> Crop:
    """The square crop that holds every frame's head.

    Args:
        face_boxes: (N, 4) per-frame landmark boxes (x0, y0, x1, y1) in source pixels.
        margin: extra room on each side as a fraction of the median face size; the top gets 1.5x
            as much for the hair, the bottom half as much.
        smooth: moving-median radius in frames, so a single wild detection cannot widen the crop.
    """
    boxes = moving_median(np.asarray(face_boxes, dtype=np.float64), smooth)
    face = float(np.median(np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])))
    x0 = boxes[:, 0].min() - margin * face
    x1 = boxes[:, 2].max() + margin * face
    y0 = boxes[:, 1].min() - 1.5 * margin * face
    y1 = boxes[:, 3].max() + 0.5 * margin * face
    side = min(max(x1 - x0, y1 - y0), width, height)
    cx = np.clip((x0 + x1) / 2, side / 2, width - side / 2)
    cy = np.clip((y0 + y1) / 2, side / 2, height - side / 2)
    side_px = int(np.floor(side))
    x = min(max(round(cx - side / 2), 0), width - side_px)
    y = min(max(round(cy - side / 2), 0), height - side_px)
    return Crop(int(x), int(y), side_px)
