"""Where an avatar's squared error lies: a partition of every frame into parts, each part's share
of the error, its PSNR, and the PSNR the frames would have were that part perfect.

The region metrics (:mod:`headsplat.evaluation.regions`) say how good each region is; the budget
says how much each one costs the frame's PSNR, which is what decides where work pays. Scored on
held-out frames and on training frames refined by the same protocol, it also splits the
generalisation gap by part (the held-out frames score well below the training frames refined the
same way, and the outline band holds the largest share of their error; measurements:
docs/quality.md, section "The first tables").

Parts, each pixel in the first that claims it: ``outline`` (the band of
:func:`~headsplat.evaluation.regions.outline_band`), ``mouth``, ``eyes``, ``face`` (inside the
convex hull of the detected landmarks), ``hair_body`` (the rest of the person's mask), and
``background``.
"""

from __future__ import annotations

from collections.abc import Iterable

import cv2
import numpy as np

from headsplat.evaluation.regions import region_masks

PARTS = ("outline", "mouth", "eyes", "face", "hair_body", "background")


def landmark_hull(landmarks: np.ndarray, size: int) -> np.ndarray:
    """(S, S) bool: the filled convex hull of ``landmarks`` (N, 2) pixels (empty when any is NaN)."""
    hull = np.zeros((size, size), np.uint8)
    if np.isfinite(landmarks).all():
        points = cv2.convexHull(np.round(landmarks - 0.5).astype(np.int32))
        cv2.fillConvexPoly(hull, points, 1)
    return hull.astype(bool)


def budget_parts(
    landmarks: np.ndarray, alpha: np.ndarray, regions: dict[str, np.ndarray] | None = None
) -> dict[str, np.ndarray]:
    """The :data:`PARTS` of one frame, (S, S) bool each, disjoint and covering the frame.

    Args:
        landmarks: (478, 2) detected landmarks in pixels of the S x S frame (NaN: no face found).
        alpha: (S, S) person mask in [0, 1].
        regions: the frame's :func:`~headsplat.evaluation.regions.region_masks`, when the caller
            has them already.
    """
    size = alpha.shape[0]
    claims = {
        **(region_masks(landmarks, alpha) if regions is None else regions),
        "face": landmark_hull(landmarks, size),
        "hair_body": alpha >= 0.5,
        "background": np.ones((size, size), bool),
    }
    taken = np.zeros((size, size), bool)
    parts = {}
    for name in PARTS:
        parts[name] = claims[name] & ~taken
        taken |= parts[name]
    return parts


def _psnr(squared_error: float, pixels: float) -> float:
    return float("inf") if squared_error == 0 else float(-10 * np.log10(squared_error / pixels))


class ErrorBudget:
    """Squared error and pixel counts per part, summed over frames."""

    def __init__(self) -> None:
        self.error = dict.fromkeys(PARTS, 0.0)
        self.pixels = dict.fromkeys(PARTS, 0)

    def add(self, squared_error: np.ndarray, parts: dict[str, np.ndarray]) -> None:
        """One frame: ``squared_error`` (S, S), the per-pixel squared error averaged over the
        channels; ``parts`` from :func:`budget_parts`."""
        for name in PARTS:
            self.error[name] += float(squared_error[parts[name]].sum())
            self.pixels[name] += int(parts[name].sum())

    @classmethod
    def pooled(cls, budgets: Iterable[ErrorBudget]) -> ErrorBudget:
        """One budget holding the sums of ``budgets`` (e.g. those of a group's frames)."""
        total = cls()
        for budget in budgets:
            for name in PARTS:
                total.error[name] += budget.error[name]
                total.pixels[name] += budget.pixels[name]
        return total

    def summary(self) -> dict[str, float | dict[str, float]]:
        """``psnr`` over all pixels of all frames (the pooled PSNR, not the mean of per-frame
        PSNRs), and per part: ``share`` (% of the squared error), ``pixels`` (% of the pixels),
        ``psnr`` inside it, ``psnr_if_perfect`` (the pooled PSNR with its error removed)."""
        total = sum(self.error.values())
        pixels = sum(self.pixels.values())
        if pixels == 0:
            raise ValueError("an empty error budget: add frames first")
        summary: dict[str, float | dict[str, float]] = {"psnr": _psnr(total, pixels)}
        for name in PARTS:
            error, count = self.error[name], self.pixels[name]
            summary[name] = {
                "share": 100 * error / total if total > 0 else 0.0,
                "pixels": 100 * count / pixels,
                "psnr": _psnr(error, count) if count else float("nan"),
                "psnr_if_perfect": _psnr(total - error, pixels),
            }
        return summary
