"""Small file helpers."""

from __future__ import annotations

import hashlib
import os


def file_sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def folder_megabytes(folder: str | os.PathLike) -> float:
    """The size of the files directly inside ``folder``, in MB (10^6 bytes)."""
    return sum(entry.stat().st_size for entry in os.scandir(folder) if entry.is_file()) / 1e6
