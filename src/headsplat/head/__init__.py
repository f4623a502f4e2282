"""Head models behind one protocol (:class:`HeadModel`); ICT-FaceKit light is the default."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from headsplat.atomic import atomic_write
from headsplat.head.ict import (
    HeadModelMissingError,
    cache_dir,
    default_model_path,
    load_ict,
)
from headsplat.head.model import HeadModel, LinearShape, SurfacePoints, split_quads

__all__ = [
    "HeadModel",
    "HeadModelMissingError",
    "LinearShape",
    "SurfacePoints",
    "default_model_path",
    "load_head_model",
    "split_quads",
]


def _landmark_cache(model: HeadModel) -> Path:
    from headsplat.head.correspondence import VERSION

    return cache_dir() / f"landmarks-v{VERSION}-{model.name}-{model.checksum[:16]}.npz"


def load_head_model(path: str | os.PathLike | None = None) -> HeadModel:
    """The ICT head model with its MediaPipe landmark correspondence.

    A model file that lacks the correspondence (e.g. a bare conversion) gets it derived once
    (render + MediaPipe, a few seconds) and cached in the headsplat cache folder, keyed by the
    model file's checksum.
    """
    model = load_ict(path)
    if model.landmarks is not None:
        return model
    cached = _landmark_cache(model)
    if cached.is_file():
        with np.load(cached) as data:
            return model.with_landmarks(SurfacePoints(data["landmark_triangles"], data["landmark_bary"]))
    from headsplat.head.correspondence import derive_landmark_correspondence
    from headsplat.preprocess.landmarks import detect_single_image

    landmarks = derive_landmark_correspondence(model, detect_single_image)
    cached.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(
        cached, lambda p: np.savez(p, landmark_triangles=landmarks.triangle, landmark_bary=landmarks.bary)
    )
    return model.with_landmarks(landmarks)
