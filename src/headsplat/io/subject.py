"""The subject folder: what preprocessing writes and training reads.

Layout (format version 1)::

    SUBJECT/
      frames/000000.png ...   RGB crops, size x size
      masks/000000.png ...    8-bit person masks (255 = person), cut below the neck
      tracking.npz            K (3,3); rotation (F,3,3); translation (F,3); expression (F,E);
                              gaze (F,2,2) yaw/pitch per eyeball (rad); identity (I,);
                              landmarks (F,478,2) detected; landmarks_fitted (F,478,2);
                              landmark_error_px (F,); source_frame (F,); expression_names (E,);
                              tracker: "landmarks" or "photometric" (absent: landmarks);
                              photometric only: landmark_fit_rotation / _translation /
                              _expression, the landmark fit the pixels refined
      meta.json               format_version, source, fps, size, head model id and
                              checksum, split (train / test frame numbers), report summary;
                              a clip's source_size and crop, or photos (each photo's file,
                              size and crop)
      qa/overlay.mp4          landmarks (green detected, red fitted) and mesh wireframe
      qa/report.json          per-frame landmark error, frames without a face, stage times

Camera convention: OpenCV; the camera is fixed at the origin and the head moves:
``x_cam = rotation[f] @ x_model + translation[f]``, model units (cm). Frame f is
``frames/{f:06d}.png``; ``source_frame[f]`` is its index in the decoded video. The default split
puts the last 20 % of frames in the test set (self-reenactment, as INSTA and FATE do); photos,
and a clip preprocessed with ``--no-test-split``, hold none out.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import torch

from headsplat.io.atomic import check_replaceable
from headsplat.io.errors import InputError
from headsplat.io.files import file_sha256

FORMAT_VERSION = 1
META = "meta.json"
TEST_FRACTION = 0.2


LANDMARK_FIT_ARRAYS = ("rotation", "translation", "expression")
"""The landmark fit's arrays a photometrically tracked subject keeps as ``landmark_fit_NAME``."""


def split_frames(n_frames: int, test_fraction: float = TEST_FRACTION) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) frame numbers: the last ``test_fraction`` of the clip is the test set."""
    n_test = max(1, round(n_frames * test_fraction)) if n_frames > 1 else 0
    return np.arange(n_frames - n_test), np.arange(n_frames - n_test, n_frames)


def is_subject_folder(path: Path) -> bool:
    meta = path / META
    if not meta.is_file():
        return False
    try:
        return "format_version" in json.loads(meta.read_text())
    except (OSError, ValueError):
        return False


def check_output_folder(path: Path, *, overwrite: bool) -> None:
    """Refuse an output path that exists, unless ``overwrite`` and it is an empty folder or a
    subject folder.

    Raises:
        InputError: with what to do instead.
    """
    if not path.exists() and not path.is_symlink():
        return
    if path.is_dir() and not overwrite:
        raise InputError(f"{path}: already exists. Pass --overwrite to replace it, or choose another path.")
    check_replaceable(path, META, "a headsplat subject folder", recognised=is_subject_folder)


def write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n")


def image_file(folder: Path, kind: str, f: int) -> Path:
    """Frame ``f``'s PNG of ``kind`` (``frames`` or ``masks``) in a subject folder ``folder``."""
    return folder / kind / f"{f:06d}.png"


@dataclass
class Subject:
    """A loaded subject folder: metadata and tracking in memory, frames read on demand."""

    path: Path
    meta: dict
    tracking: dict[str, np.ndarray]

    @property
    def n_frames(self) -> int:
        return len(self.tracking["rotation"])

    def frame_path(self, f: int) -> Path:
        return image_file(self.path, "frames", f)

    def mask_path(self, f: int) -> Path:
        return image_file(self.path, "masks", f)

    def intrinsics(self, size: int) -> torch.Tensor:
        """(3, 3) float32 K for the frames resized to ``size`` x ``size``."""
        K = torch.as_tensor(self.tracking["K"], dtype=torch.float32).clone()
        K[:2] *= size / self.meta["size"]
        return K

    def landmarks(self, size: int) -> np.ndarray:
        """(F, 478, 2) detected MediaPipe landmarks in pixels of the frames resized to ``size``."""
        return self.tracking["landmarks"] * (size / self.meta["size"])

    def split(self) -> tuple[np.ndarray, np.ndarray]:
        return np.asarray(self.meta["split"]["train"]), np.asarray(self.meta["split"]["test"])

    @cached_property
    def fingerprint(self) -> str:
        """sha256 of ``tracking.npz``: tells this subject apart from any other, wherever it lies."""
        return file_sha256(self.path / "tracking.npz")


def load_subject(path: str | os.PathLike) -> Subject:
    """Read a subject folder.

    Raises:
        InputError: the folder is missing, is not a subject folder, or has another format version.
    """
    path = Path(path)
    if not path.is_dir():
        raise InputError(f"{path}: not a folder. Give a subject folder made by `headsplat preprocess`.")
    if not is_subject_folder(path):
        raise InputError(
            f"{path}: not a headsplat subject folder (no readable {META}). "
            "Make one with `headsplat preprocess VIDEO -o SUBJECT`."
        )
    meta = json.loads((path / META).read_text())
    if meta["format_version"] != FORMAT_VERSION:
        raise InputError(
            f"{path}: subject format version {meta['format_version']}, this headsplat reads "
            f"{FORMAT_VERSION}. Re-run `headsplat preprocess`."
        )
    with np.load(path / "tracking.npz") as data:
        tracking = dict(data)
    return Subject(path, meta, tracking)
