"""Write a file or a folder so that it is either complete or absent: to a temporary sibling, then
rename."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from headsplat.io.errors import InputError


@contextmanager
def atomic_file(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary name to write ``path``'s content to; on success it is renamed to ``path``,
    on error nothing is left. Missing folders above ``path`` are created (and removed again on
    error).

    The temporary name keeps the suffix (``np.savez`` and format sniffing rely on it) and is
    hidden: ``.NAME.partial-PID.SUFFIX`` beside ``path``.
    """
    path = Path(path)
    created = _make_folder(path.parent)
    partial = path.with_name(f".{path.stem}.partial-{os.getpid()}{path.suffix}")
    try:
        yield partial
        partial.replace(path)
    except BaseException:
        partial.unlink(missing_ok=True)
        remove_empty(created)
        raise


def missing_folders(folder: Path) -> list[Path]:
    """``folder`` and the folders above it that do not exist, innermost first.

    Raises:
        InputError: a file stands where one of them must be.
    """
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    if not folder.is_dir():
        raise InputError(f"{folder}: is a file, not a folder. Choose another output path.")
    return missing


def remove_empty(folders: list[Path]) -> None:
    """Remove each of ``folders`` (innermost first) that is empty; leave the others."""
    for folder in folders:
        with suppress(OSError):
            folder.rmdir()


def _make_folder(folder: Path) -> list[Path]:
    """Create ``folder`` and any missing folders above it; returns those created, innermost first."""
    missing = missing_folders(folder)
    for created in reversed(missing):
        created.mkdir()
    return missing


def atomic_write(path: str | os.PathLike, write: Callable[[Path], object]) -> Path:
    """Call ``write(temporary)`` and rename the result to ``path`` (:func:`atomic_file`)."""
    with atomic_file(path) as partial:
        write(partial)
    return Path(path)


@contextmanager
def atomic_folder(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary sibling folder; on success it replaces ``path`` (the caller has checked
    that ``path`` may be replaced), on error it is deleted."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.parent / f".{path.name}.partial-{os.getpid()}"
    shutil.rmtree(temporary, ignore_errors=True)
    temporary.mkdir()
    try:
        yield temporary
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    old = path.parent / f".{path.name}.old-{os.getpid()}"
    if path.exists():
        path.rename(old)
    temporary.rename(path)
    shutil.rmtree(old, ignore_errors=True)


def check_replaceable(
    path: str | os.PathLike,
    marker: str,
    what: str,
    *,
    recognised: Callable[[Path], bool] | None = None,
) -> None:
    """Refuse an output folder ``path`` that exists, is not empty and is not an earlier ``what``
    (a folder holding the file ``marker``, or for which ``recognised`` says so where the marker's
    name alone could be someone else's), so that no one's other files are replaced.

    Raises:
        InputError: with what to do instead.
    """
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        return
    if not path.is_dir():
        raise InputError(f"{path}: exists and is not a folder. Choose another output path.")
    ours = recognised(path) if recognised is not None else (path / marker).is_file()
    if any(path.iterdir()) and not ours:
        raise InputError(
            f"{path}: exists and is not {what} (no {marker}); refusing to replace it. Choose another "
            "output path, or an empty folder."
        )
