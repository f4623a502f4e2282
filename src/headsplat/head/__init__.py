"""Head models behind one protocol (:class:`HeadModel`); ICT-FaceKit light is the default."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from headsplat.head.ict import (
    HeadModelMissingError,
    cache_dir,
    default_model_path,
    load_ict,
)
from headsplat.head.model import HeadModel, LinearShape, SurfacePoints, split_quads
from headsplat.io.atomic import atomic_write

__all__ = [
    "HeadModel",
    "HeadModelMissingError",
    "LandmarkDetector",
    "LinearShape",
    "SurfacePoints",
    "default_model_path",
    "load_head_model",
    "split_quads",
]

LandmarkDetector = Callable[[np.ndarray], np.ndarray | None]
"""``(image uint8 (H, W, 3)) -> (478, 2) pixel positions or None``."""


def _landmark_cache(model: HeadModel) -> Path:
    from headsplat.head.correspondence import VERSION

    return cache_dir() / f"landmarks-v{VERSION}-{model.name}-{model.checksum[:16]}.npz"


def load_head_model(
    path: str | os.PathLike | None = None, detector: LandmarkDetector | None = None
) -> HeadModel:
    """The ICT head model, with its MediaPipe landmark correspondence when it has one.

    A model file that lacks the correspondence (e.g. a bare conversion) gets it from ``detector``
    (:func:`headsplat.preprocess.landmarks.detect_single_image`: render + MediaPipe, a few seconds),
    derived once and cached in the headsplat cache folder, keyed by the model file's checksum.
    Without a detector it is read from that cache when there, else left out (only tracking needs
    it). The detector is passed in so that this package depends on nothing above it.
    """
    model = load_ict(path)
    if model.landmarks is not None:
        return model
    cached = _landmark_cache(model)
    if cached.is_file():
        with np.load(cached) as data:
            return model.with_landmarks(SurfacePoints(data["landmark_triangles"], data["landmark_bary"]))
    if detector is None:
        return model
    from headsplat.head.correspondence import derive_landmark_correspondence

    landmarks = derive_landmark_correspondence(model, detector)
    cached.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(
        cached, lambda p: np.savez(p, landmark_triangles=landmarks.triangle, landmark_bary=landmarks.bary)
    )
    return model.with_landmarks(landmarks)
