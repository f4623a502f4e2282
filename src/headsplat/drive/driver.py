"""A driver's tracked motion: from a subject folder, or from a video (or image folder) that is
preprocessed once into the headsplat cache (``$HEADSPLAT_CACHE/drivers/``) and reused."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

from headsplat.drive.motion import Motion
from headsplat.head.ict import cache_dir
from headsplat.io.errors import InputError
from headsplat.io.files import file_sha256
from headsplat.io.subject import Subject, is_subject_folder, load_subject

if TYPE_CHECKING:
    from headsplat.preprocess.pipeline import PreprocessConfig


def tracked_motion(subject: Subject) -> Motion:
    """The subject's tracking as a motion in its own terms (its camera, its head model's names)."""
    return Motion.from_arrays(subject.tracking, subject.meta["fps"])


def _source_digest(source: Path) -> str:
    """sha256 of a video file, or of an image folder's file names, sizes and times."""
    if source.is_file():
        return file_sha256(source)
    digest = hashlib.sha256()
    for path in sorted(p for p in source.iterdir() if p.is_file()):
        stat = path.stat()
        digest.update(f"{path.name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def driver_subject(
    source: str | Path,
    model_path: str | Path | None = None,
    cache: Path | None = None,
    config: PreprocessConfig | None = None,
) -> Subject:
    """The subject folder of a driver: ``source`` itself when it is one, else the cached
    preprocessing of the video or image folder ``source`` with ``config`` (default: preprocess's,
    without the overlay), made now when missing; its stages are logged as ``headsplat preprocess``
    logs them. Each tracker's preprocessing is cached apart.

    Raises:
        InputError: ``source`` does not exist, or preprocessing refuses it (with the reason).
    """
    from headsplat.preprocess.pipeline import PreprocessConfig, preprocess

    config = config or PreprocessConfig(overlay=False)
    source = Path(source)
    if source.is_dir() and is_subject_folder(source):
        return load_subject(source)
    if not source.exists():
        raise InputError(
            f"{source}: no such file or folder. Give a video, an image folder or a subject folder."
        )
    tracker = "" if config.tracking == "landmarks" else f"-{config.tracking}"
    folder = (cache or cache_dir()) / "drivers" / f"{source.stem}-{_source_digest(source)[:16]}{tracker}"
    if not is_subject_folder(folder):
        folder.parent.mkdir(parents=True, exist_ok=True)
        preprocess(source, folder, config, overwrite=True, model_path=model_path)
    return load_subject(folder)
