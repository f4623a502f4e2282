"""The manifest of ``headsplat batch``: which videos to fit, under which names, with which options.

A CSV file with a header row, or a YAML list, one subject a row/item:

- ``video`` (required): a video file or image folder; a relative path is relative to the
  manifest's folder.
- ``name``: the subject's folder name under the batch's output (default: the video's file name
  without its suffix). Letters, digits, ``-``, ``_`` and ``.``; unique.
- ``options``: options of ``headsplat fit`` for this subject alone, e.g. ``--steps 500 --strategy
  temporal`` (a YAML item may give a list). They follow the batch's own options, so they win.

Example (``subjects.csv``)::

    video,name,options
    clips/alice.mp4,alice,
    clips/bob.mov,bob,--steps 4000 --crop-size 384
"""

from __future__ import annotations

import csv
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from headsplat.io.errors import InputError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_FIELDS = ("video", "name", "options")


@dataclass(frozen=True)
class ManifestEntry:
    """One subject of a batch: its video, its folder name and its own ``fit`` options."""

    video: Path
    name: str
    options: tuple[str, ...] = ()


def _rows(path: Path) -> list[dict]:
    if path.suffix.lower() == ".csv":
        with path.open(newline="") as file:
            reader = csv.DictReader(file)
            if reader.fieldnames is None or "video" not in reader.fieldnames:
                raise InputError(f"{path}: the CSV needs a header row with a 'video' column.")
            return list(reader)
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        try:
            rows = yaml.safe_load(path.read_text())
        except yaml.YAMLError as error:
            raise InputError(f"{path}: not valid YAML ({error}). Fix the file.") from error
        if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
            raise InputError(f"{path}: the YAML must be a list of subjects, each with a 'video' key.")
        return rows
    raise InputError(f"{path}: a manifest is a .csv, .yaml or .yml file.")


def _options(value, where: str) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        return tuple(shlex.split(value))
    if isinstance(value, list):
        return tuple(str(v) for v in value)
    raise InputError(f"{where}: 'options' must be a string or a list of strings.")


def read_manifest(path: str | Path) -> list[ManifestEntry]:
    """The subjects of a manifest, in its order.

    Raises:
        InputError: a missing or unreadable file, a row without a video, an unknown column, a bad
            or repeated name (the message names the file and the row).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such manifest file.")
    path = path.resolve()  # absolute videos: tasks on other machines or folders find them
    entries: list[ManifestEntry] = []
    for number, row in enumerate(_rows(path), start=1):
        where = f"{path}, subject {number}"
        unknown = sorted(set(row) - set(_FIELDS))
        if unknown:
            raise InputError(f"{where}: unknown field(s) {unknown}; the fields are {list(_FIELDS)}.")
        if not row.get("video"):
            raise InputError(f"{where}: no video given.")
        video = Path(str(row["video"])).expanduser()
        video = video if video.is_absolute() else path.parent / video
        name = str(row.get("name") or video.stem)
        if not _NAME.match(name):
            raise InputError(
                f"{where}: the name {name!r} cannot be a folder name; use letters, digits, '-', '_', '.'."
            )
        if any(entry.name == name for entry in entries):
            raise InputError(f"{where}: the name {name!r} is used twice; give each subject its own name.")
        entries.append(ManifestEntry(video, name, _options(row.get("options"), where)))
    if not entries:
        raise InputError(f"{path}: lists no subjects.")
    return entries
