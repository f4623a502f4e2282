"""Frames grouped by what the face does in them: PCA over expression and head pose, then k-means
with the number of clusters chosen by silhouette score (STAvatar's temporal density control,
Zhao et al. 2025, §3.3: structurally similar frames, K in 5..12); and the few frames that differ
most (:func:`spread_frames`, ``headsplat split --train-frames``).

Pure numpy and deterministic for a seed, so a resumed run recomputes the same clusters.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SILHOUETTE_SAMPLE = 2000
"""The silhouette score's pairwise distances are computed on at most this many frames (evenly
spaced): 2000^2 distances instead of 12,000^2 on a ten-minute clip."""


@dataclass(frozen=True)
class FrameClusters:
    """``labels`` (F,) cluster of each frame in 0..k-1; ``silhouettes`` the score of each K tried."""

    labels: np.ndarray
    k: int
    silhouettes: dict[int, float]

    def sizes(self) -> list[int]:
        return np.bincount(self.labels, minlength=self.k).tolist()


def motion_features(expression: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """(F, E + 9) what a frame's face does: its expression weights (F, E) in [0, 1] and its head
    rotation (F, 3, 3) as matrix entries about the clip's mean (a turn of r radians moves the
    entries by about r * sqrt(2) per axis, on the scale of a blendshape weight)."""
    entries = rotation.reshape(len(rotation), 9)
    return np.concatenate([expression, entries - entries.mean(0)], axis=1).astype(np.float64)


def principal_components(features: np.ndarray, variance: float = 0.9) -> np.ndarray:
    """(F, C) ``features`` (F, D) projected on the fewest principal axes that keep ``variance`` of
    their variance."""
    centred = features - features.mean(0)
    _, singular, axes = np.linalg.svd(centred, full_matrices=False)
    share = np.cumsum(singular**2) / max(float((singular**2).sum()), 1e-12)
    count = int(np.searchsorted(share, variance) + 1)
    return centred @ axes[:count].T


def squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(A, B) squared Euclidean distances between the rows of ``a`` (A, C) and ``b`` (B, C), through
    the Gram matrix (no (A, B, C) temporary)."""
    return np.maximum((a**2).sum(1)[:, None] + (b**2).sum(1)[None] - 2 * a @ b.T, 0.0)


def kmeans(points: np.ndarray, k: int, rng: np.random.Generator, *, iterations: int = 50, restarts: int = 4):
    """Lloyd's k-means from k-means++ seeds, the best of ``restarts`` by inertia.

    Args:
        points: (F, C). k: clusters (<= F).

    Returns:
        labels (F,) in 0..k-1 and centres (k, C).
    """
    best = (np.inf, None, None)
    for _ in range(restarts):
        centres = points[[rng.integers(len(points))]]
        for _ in range(1, k):  # k-means++: the next seed drawn by squared distance to the nearest
            nearest = squared_distances(points, centres).min(1)
            if nearest.sum() <= 0:
                break
            centres = np.vstack([centres, points[rng.choice(len(points), p=nearest / nearest.sum())]])
        for _ in range(iterations):
            labels = squared_distances(points, centres).argmin(1)
            moved = centres.copy()
            for c in np.unique(labels):  # an emptied cluster keeps its centre
                moved[c] = points[labels == c].mean(0)
            if np.allclose(moved, centres):
                break
            centres = moved
        labels = squared_distances(points, centres).argmin(1)
        inertia = float(((points - centres[labels]) ** 2).sum())
        if inertia < best[0]:
            best = (inertia, labels, centres)
    return best[1], best[2]


def silhouette(points: np.ndarray, labels: np.ndarray) -> float:
    """The mean silhouette coefficient (b - a) / max(a, b) of ``points`` (F, C) clustered by
    ``labels`` (F,) (Rousseeuw 1987; a point alone in its cluster scores 0)."""
    distances = np.sqrt(squared_distances(points, points))
    clusters = np.unique(labels)
    members = labels[None] == clusters[:, None]  # (K, F)
    sums = distances @ members.T  # (F, K): summed distance to each cluster
    counts = members.sum(1)
    own = np.searchsorted(clusters, labels)
    size = counts[own]
    a = sums[np.arange(len(points)), own] / np.maximum(size - 1, 1)
    others = sums / counts
    others[np.arange(len(points)), own] = np.inf
    b = others.min(1)
    score = np.where(size > 1, (b - a) / np.maximum(np.maximum(a, b), 1e-12), 0.0)
    return float(score.mean())


def cluster_frames(features: np.ndarray, ks: range = range(5, 13), seed: int = 0) -> FrameClusters:
    """Cluster frames by their ``features`` (F, D) (:func:`motion_features`): PCA keeping 90 % of
    the variance, k-means for each K in ``ks`` (those <= F), the K with the best silhouette."""
    points = principal_components(features)
    ks = [k for k in ks if k <= len(points)] or [1]
    sample = np.linspace(0, len(points) - 1, min(len(points), SILHOUETTE_SAMPLE)).round().astype(int)
    best, scores = None, {}
    for k in ks:
        labels, _ = kmeans(points, k, np.random.default_rng([seed, k]))
        scores[k] = silhouette(points[sample], labels[sample]) if k > 1 else 0.0
        if best is None or scores[k] > scores[best[0]]:
            best = (k, labels)
    return FrameClusters(best[1], best[0], scores)


def spread_frames(expression: np.ndarray, rotation: np.ndarray, view: np.ndarray, n: int) -> np.ndarray:
    """(n,) indices of the frames that differ most in what the face does: first the frame seen
    most face-on with the least expression, then, one at a time, the frame farthest from those
    chosen in :func:`motion_features` (farthest-point sampling; ties go to the earlier frame).

    Args:
        expression: (F, E) weights. rotation: (F, 3, 3) head rotations. view: (F, 2) yaw and pitch
            in degrees from which the camera sees each head (0, 0: face on). n: 1..F frames.
    """
    if not 1 <= n <= len(expression):
        raise ValueError(f"{n} frames asked of {len(expression)}")
    # A turn of r radians moves the rotation features by about r * sqrt(2) (motion_features).
    turn = np.radians(np.linalg.norm(view, axis=1)) * np.sqrt(2)
    start = int(np.argmin((expression**2).sum(1) + turn**2))
    features = motion_features(expression, rotation)
    chosen = [start]
    nearest = squared_distances(features, features[[start]])[:, 0]
    for _ in range(n - 1):
        nearest[chosen] = -1.0  # never again, even among identical frames
        chosen.append(int(np.argmax(nearest)))
        nearest = np.minimum(nearest, squared_distances(features, features[[chosen[-1]]])[:, 0])
    return np.array(chosen)
