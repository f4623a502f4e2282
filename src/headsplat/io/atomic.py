"""Write a file so that it is either complete or absent: to a temporary sibling, then rename."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


def atomic_write(path: str | os.PathLike, write: Callable[[Path], object]) -> Path:
    """Call ``write(temporary)`` and rename the result to ``path``; on error nothing is left.

    The temporary name keeps the suffix (``np.savez`` and format sniffing rely on it) and is
    hidden: ``.NAME.partial-PID.SUFFIX`` beside ``path``.
    """
    path = Path(path)
    partial = path.with_name(f".{path.stem}.partial-{os.getpid()}{path.suffix}")
    try:
        write(partial)
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    return path
