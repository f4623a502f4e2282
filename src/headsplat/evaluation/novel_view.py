"""Scores of a novel-view split's test frames by group: turned away from every training view,
frontal (the usual test frames), and the turned ones per bin of yaw
(:mod:`headsplat.preprocess.splits` makes the split)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from headsplat.evaluation.error_budget import ErrorBudget

SCORES = ("psnr", "ssim", "lpips", "outline_psnr")
"""Averaged per group; a frame without a region's score (NaN) is left out of that region's mean."""
BIN_DEGREES = 10.0


def _means(rows: np.ndarray, scores: dict[str, Sequence[float]]) -> dict[str, float]:
    """Each of :data:`SCORES` averaged over ``rows`` (indices into the per-frame lists)."""
    means = {}
    for name in SCORES:
        values = np.asarray(scores[name], float)[rows]
        values = values[~np.isnan(values)]
        means[name] = float(values.mean()) if len(values) else float("nan")
    return means


Protocol = tuple[dict[str, Sequence[float]], Sequence[ErrorBudget]]
"""One protocol's per-frame scores (each of :data:`SCORES`: (T,)) and per-frame error budgets (T,)."""


def _scores(rows: np.ndarray, protocol: Protocol) -> dict:
    """The mean scores of ``rows`` under ``protocol`` and their pooled error budget (None when
    ``rows`` is empty)."""
    scores, budgets = protocol
    budget = ErrorBudget.pooled(budgets[row] for row in rows).summary() if len(rows) else None
    return {**_means(rows, scores), "error_budget": budget}


def _group(rows: np.ndarray, refined: Protocol, tracked: Protocol) -> dict:
    """How many frames ``rows`` holds and their scores, refined and ``tracked``."""
    return {"frames": len(rows), **_scores(rows, refined), "tracked": _scores(rows, tracked)}


def _bin_label(start: float) -> str:
    return f"{start:+.0f}..{start + BIN_DEGREES:+.0f}"


def novel_view_scores(
    novel_view: dict,
    frames: Sequence[int],
    refined: Protocol,
    tracked: Protocol,
) -> dict:
    """The scores of a novel-view split's groups.

    Args:
        novel_view: the split's record (``meta.json``'s ``split.novel_view``: ``turned``,
            ``frontal``, ``yaw`` per frame relative to the median view, ``limit``, ``gap``).
        frames: the scored test frames (T,); ``refined`` and ``tracked``: the two protocols'
            per-frame scores and error budgets (:data:`Protocol`; the same when eval did not refine).

    Returns:
        ``turned`` and ``frontal``: ``frames`` (how many were scored), each score and the pooled
        ``error_budget`` (:meth:`ErrorBudget.summary`: where the group's error lies), refined and
        ``tracked``; ``bins``: the same for the turned frames per :data:`BIN_DEGREES` of yaw
        (label ``"+20..+30"``, degrees from the median view, > 0 the subject's left cheek towards
        the camera), in order of yaw; ``limit`` and ``gap``.
    """
    frames = np.asarray(frames)
    turned = np.flatnonzero(np.isin(frames, novel_view["turned"]))
    yaw = np.asarray(novel_view["yaw"], float)[frames[turned]]
    starts = np.floor(yaw / BIN_DEGREES) * BIN_DEGREES
    bins = [
        {"yaw": _bin_label(start), **_group(turned[starts == start], refined, tracked)}
        for start in np.unique(starts)
    ]
    return {
        "limit": novel_view["limit"],
        "gap": novel_view["gap"],
        "turned": _group(turned, refined, tracked),
        "frontal": _group(np.flatnonzero(np.isin(frames, novel_view["frontal"])), refined, tracked),
        "bins": bins,
    }
