"""Test clips for ``headsplat preprocess``, built from a few frames of a shared face clip."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import cv2
import numpy as np

from headsplat.io.video import write_mp4
from headsplat.preprocess.pipeline import PreprocessConfig
from headsplat.track.fit import FitConfig
from tests.shared_data import D18, require_shared

__all__ = ["D18", "FAST_FIT", "fast_config", "require_shared", "resized", "short_fit"]


def short_fit(steps: int = 15, **per_stage: int) -> FitConfig:
    """A FitConfig with every ``*_steps`` stage cut to ``steps`` Adam steps (or ``per_stage[name]``)."""
    stages = {f.name: per_stage.get(f.name, steps) for f in fields(FitConfig) if f.name.endswith("_steps")}
    return FitConfig(**stages)


FAST_FIT = short_fit(15)
"""Enough tracking for tests that check plumbing, not fit quality."""


def fast_config(**overrides) -> PreprocessConfig:
    """128 px crops, no overlay, short tracking from the landmarks alone (the photometric stage
    has its tests)."""
    settings = {"size": 128, "overlay": False, "fit": FAST_FIT, "tracking": "landmarks", **overrides}
    return PreprocessConfig(**settings)


def resized(frame: np.ndarray, side: int) -> np.ndarray:
    return cv2.resize(frame, (side, side), interpolation=cv2.INTER_AREA)


def grey_like(frame: np.ndarray, level: int = 128) -> np.ndarray:
    return np.full_like(frame, level)


def write_clip(path: Path, frames, fps: float = 25.0) -> Path:
    """Write RGB frames as an mp4 (25 fps by default, so the 25 fps cap keeps every frame)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_mp4(path, list(frames), fps)
    return path


def write_png(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))


def leftovers(parent: Path) -> list[str]:
    """Temporary siblings a subject write may leave behind (``.NAME.partial-PID``, ``.NAME.old-PID``)."""
    return sorted(p.name for p in parent.iterdir() if ".partial-" in p.name or ".old-" in p.name)


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative path -> bytes), to prove it was left untouched."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
