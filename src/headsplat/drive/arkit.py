"""ARKit blendshape captures as motions: the Live Link Face CSV and plain weight files.

Live Link Face (Epic Games' iPhone app) exports one CSV per take::

    Timecode,BlendShapeCount,EyeBlinkLeft,EyeLookDownLeft,...,TongueOut,HeadYaw,HeadPitch,HeadRoll,
    LeftEyeYaw,LeftEyePitch,LeftEyeRoll,RightEyeYaw,RightEyePitch,RightEyeRoll
    14:03:52:28.207,61,0.0123,...

``Timecode`` is ``HH:MM:SS:FF.fff``: FF counts frames at the app's rate (60 by default, 30 as an
option) and ``.fff`` is a fraction of a frame; the rate is not in the file, so it is the largest
FF + 1 seen, snapped to a common rate (:func:`timecode_seconds`), or ``capture_fps`` when given.

Names: ARKit's 52 blendshapes in PascalCase with Left/Right map to ICT-FaceKit's ARKit-style names
(``EyeBlinkLeft`` -> ``eyeBlink_L``); ``BrowInnerUp`` and ``CheekPuff`` each drive both ICT sides;
``TongueOut`` has no ICT shape (a warning, once). ARKit's Left is the face's own left, as ICT's _L
(its shapes move the side at model x > 0, the subject's left). ARKit weights are absolute: ARKit's
rest is all zeros, so no rest expression is estimated from a capture (``headsplat reenact`` adds
them to the avatar's rest, the tracker's reading of that person at rest).

Angles (assumed, as Live Link Face's export does not document them): radians; ``HeadYaw`` turns the
face towards the subject's left, ``HeadPitch`` raises the chin, ``HeadRoll`` tilts the head towards
the subject's left shoulder, applied in that order (yaw, then pitch, then roll, intrinsic) to the
avatar's rest pose; ``LeftEyeYaw`` / ``LeftEyePitch`` are the left eye's gaze with the same signs
(roll is ignored: an eyeball's roll does not show). Columns that are missing stay at rest.

Weight files (``--weights``): a CSV with a header of names and one row per frame, or JSON, either
``{"fps": 25, "frames": [{"jawOpen": 0.3, ...}, ...]}`` or a bare list of such frames; names are
ICT's or ARKit's (matched without case or underscores); missing names are 0.
"""

from __future__ import annotations

import csv
import json
import re
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from headsplat.drive.motion import Motion
from headsplat.geometry import axis_angle_to_matrix
from headsplat.io.errors import InputError

ARKIT_SHAPES = (
    "EyeBlinkLeft",
    "EyeLookDownLeft",
    "EyeLookInLeft",
    "EyeLookOutLeft",
    "EyeLookUpLeft",
    "EyeSquintLeft",
    "EyeWideLeft",
    "EyeBlinkRight",
    "EyeLookDownRight",
    "EyeLookInRight",
    "EyeLookOutRight",
    "EyeLookUpRight",
    "EyeSquintRight",
    "EyeWideRight",
    "JawForward",
    "JawRight",
    "JawLeft",
    "JawOpen",
    "MouthClose",
    "MouthFunnel",
    "MouthPucker",
    "MouthRight",
    "MouthLeft",
    "MouthSmileLeft",
    "MouthSmileRight",
    "MouthFrownLeft",
    "MouthFrownRight",
    "MouthDimpleLeft",
    "MouthDimpleRight",
    "MouthStretchLeft",
    "MouthStretchRight",
    "MouthRollLower",
    "MouthRollUpper",
    "MouthShrugLower",
    "MouthShrugUpper",
    "MouthPressLeft",
    "MouthPressRight",
    "MouthLowerDownLeft",
    "MouthLowerDownRight",
    "MouthUpperUpLeft",
    "MouthUpperUpRight",
    "BrowDownLeft",
    "BrowDownRight",
    "BrowInnerUp",
    "BrowOuterUpLeft",
    "BrowOuterUpRight",
    "CheekPuff",
    "CheekSquintLeft",
    "CheekSquintRight",
    "NoseSneerLeft",
    "NoseSneerRight",
    "TongueOut",
)
"""ARKit's 52 blendshapes as Live Link Face names its columns, in its order."""
LIVE_LINK_FACE_ANGLES = (
    "HeadYaw",
    "HeadPitch",
    "HeadRoll",
    "LeftEyeYaw",
    "LeftEyePitch",
    "LeftEyeRoll",
    "RightEyeYaw",
    "RightEyePitch",
    "RightEyeRoll",
)
"""The angle columns that follow the blendshapes in a Live Link Face CSV."""
HEAD_COLUMNS = ("HeadYaw", "HeadPitch", "HeadRoll")
EYE_COLUMNS = (("LeftEyeYaw", "LeftEyePitch"), ("RightEyeYaw", "RightEyePitch"))
EYE_ROLL_COLUMNS = ("LeftEyeRoll", "RightEyeRoll")
BOTH_SIDES = ("BrowInnerUp", "CheekPuff")
UNMAPPED = ("TongueOut",)
NOT_SHAPES = {
    "Timecode",
    "BlendShapeCount",
    *HEAD_COLUMNS,
    *(c for pair in EYE_COLUMNS for c in pair),
    *EYE_ROLL_COLUMNS,
}
COMMON_RATES = (24.0, 25.0, 30.0, 48.0, 50.0, 60.0, 120.0)
_TIMECODE = re.compile(r"^(\d+):(\d+):(\d+):(\d+)(?:\.(\d+))?$")


def _key(name: str) -> str:
    """A name in a form both conventions share: ``EyeBlinkLeft`` and ``eyeBlink_L`` -> ``eyeblinkl``."""
    name = name.strip().lower().replace("_", "")
    return re.sub(r"(left|right)$", lambda m: m.group(1)[0], name)


def ict_columns(source_names: list[str], target_names: list[str]) -> dict[str, list[int]]:
    """Which target (ICT) expressions each source name drives: ``{source: [target index, ...]}``;
    names that drive nothing are left out (both-sided ARKit shapes drive the _L and _R shapes)."""
    by_key = {_key(name): i for i, name in enumerate(target_names)}
    both_sides = {_key(name) for name in BOTH_SIDES}
    mapping = {}
    for name in source_names:
        key = _key(name)
        if key in by_key:
            mapping[name] = [by_key[key]]
        elif key in both_sides:
            mapping[name] = [by_key[key + side] for side in ("l", "r") if key + side in by_key]
    return {name: targets for name, targets in mapping.items() if targets}


def timecode_seconds(timecodes: list[str], capture_fps: float | None = None) -> np.ndarray:
    """(F,) seconds from the first row of Live Link Face timecodes ``HH:MM:SS:FF.fff``.

    Raises:
        InputError: a timecode that is not in that form.
    """
    parts = []
    for row, code in enumerate(timecodes):
        match = _TIMECODE.match(code.strip())
        if match is None:
            raise InputError(f"row {row + 2}: timecode {code!r} is not HH:MM:SS:FF.fff")
        hours, minutes, seconds, frame = (int(g) for g in match.groups()[:4])
        fraction = float(f"0.{match.group(5)}") if match.group(5) else 0.0
        parts.append((hours * 3600 + minutes * 60 + seconds, frame + fraction))
    whole, frames = np.array(parts).T
    if capture_fps is None:
        seen = np.floor(frames).max() + 1
        capture_fps = min((rate for rate in COMMON_RATES if rate >= seen), default=float(np.ceil(seen)))
    times = whole + frames / capture_fps
    return times - times[0]


def resample(times: np.ndarray, values: np.ndarray, fps: float) -> np.ndarray:
    """(F, ...) samples at ``times`` (s, increasing) -> (K, ...) at 0, 1/fps, ... up to the last time,
    linearly interpolated."""
    grid = np.arange(0.0, times[-1] + 1e-9, 1.0 / fps)
    flat = values.reshape(len(values), -1)
    out = np.stack([np.interp(grid, times, flat[:, c]) for c in range(flat.shape[1])], -1)
    return out.reshape(len(grid), *values.shape[1:])


def head_rotation(yaw: Tensor, pitch: Tensor, roll: Tensor) -> Tensor:
    """(F,) angles in radians -> (F, 3, 3) head turns in model axes (x the subject's left, y up, z
    forward): yaw about y (towards +x), then pitch about -x (chin up), then roll about -z (towards
    the left shoulder)."""
    zero = torch.zeros_like(yaw)
    turn = axis_angle_to_matrix(torch.stack([zero, yaw, zero], -1))
    nod = axis_angle_to_matrix(torch.stack([-pitch, zero, zero], -1))
    tilt = axis_angle_to_matrix(torch.stack([zero, zero, -roll], -1))
    return turn @ nod @ tilt


def _read_table(path: Path) -> tuple[list[str], list[list[str]]]:
    try:
        with open(path, newline="") as stream:
            rows = [row for row in csv.reader(stream) if row]
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"{path}: cannot be read as CSV ({error}).") from error
    if len(rows) < 2:
        raise InputError(f"{path}: needs a header row and at least one frame.")
    return rows[0], rows[1:]


def _numbers(path: Path, header: list[str], rows: list[list[str]], columns: list[str]) -> np.ndarray:
    index = [header.index(c) for c in columns]
    try:
        return np.array([[float(row[i]) for i in index] for row in rows], dtype=np.float64)
    except (ValueError, IndexError) as error:
        raise InputError(f"{path}: a row has a missing or non-numeric value ({error}).") from error


LIVE_LINK_FACE_COLUMNS = (*ARKIT_SHAPES, *LIVE_LINK_FACE_ANGLES)
"""The 61 values of a Live Link Face row, in its order (its CSV's columns after ``BlendShapeCount``,
its UDP packets' floats)."""


def live_link_face_table(path: str | Path, capture_fps: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A Live Link Face CSV as (F,) seconds from its first row and (F, 61) values in
    :data:`LIVE_LINK_FACE_COLUMNS`' order (a column the file lacks stays 0, at rest).

    Raises:
        InputError: the file is not a Live Link Face CSV (no Timecode column, no blendshape column,
            bad rows, timecodes that do not increase).
    """
    path = Path(path)
    header, rows = _read_table(path)
    header = [h.strip() for h in header]
    if "Timecode" not in header:
        raise InputError(
            f"{path}: no Timecode column; is it a Live Link Face CSV? (--weights reads plain tables)"
        )
    if not any(_key(h) in {_key(shape) for shape in ARKIT_SHAPES} for h in header):
        raise InputError(f"{path}: none of its columns is an ARKit blendshape name.")
    if any(h in UNMAPPED for h in header):
        warnings.warn(f"{path}: TongueOut has no shape in the head model; it is ignored.", stacklevel=2)
    times = timecode_seconds([row[header.index("Timecode")] for row in rows], capture_fps)
    if np.any(np.diff(times) <= 0):
        raise InputError(f"{path}: timecodes do not increase row by row.")
    by_key = {_key(h): h for h in header}
    present = [slot for slot, column in enumerate(LIVE_LINK_FACE_COLUMNS) if _key(column) in by_key]
    values = np.zeros((len(rows), len(LIVE_LINK_FACE_COLUMNS)))
    columns = [by_key[_key(LIVE_LINK_FACE_COLUMNS[slot])] for slot in present]
    values[:, present] = _numbers(path, header, rows, columns)
    return times, values


def arkit_motion(
    values: np.ndarray,
    expression_names: list[str] | tuple[str, ...],
    *,
    rest_rotation: Tensor,
    rest_translation: Tensor,
    fps: float,
) -> Motion:
    """(F, 61) Live Link Face values (:data:`LIVE_LINK_FACE_COLUMNS`) as a motion of an avatar with
    ``expression_names``, its head turning about the rest pose (``rest_rotation`` (3, 3),
    ``rest_translation`` (3,)); the weights as they are (ARKit's rest is all zeros)."""
    weights = np.zeros((len(values), len(expression_names)))
    for name, targets in ict_columns(list(ARKIT_SHAPES), list(expression_names)).items():
        column = LIVE_LINK_FACE_COLUMNS.index(name)
        weights[:, targets] = values[:, column : column + 1]
    order = (*HEAD_COLUMNS, *(c for pair in EYE_COLUMNS for c in pair))
    angles = torch.from_numpy(values[:, [LIVE_LINK_FACE_COLUMNS.index(c) for c in order]]).float()
    rotation = rest_rotation.float() @ head_rotation(*angles[:, :3].unbind(-1))
    return Motion(
        torch.from_numpy(weights).float().clamp(0.0, 1.0),
        tuple(expression_names),
        angles[:, 3:].reshape(-1, 2, 2),
        rotation,
        rest_translation.float().expand(len(rotation), 3).clone(),
        float(fps),
    )


def read_live_link_face(
    path: str | Path,
    expression_names: list[str],
    *,
    rest_rotation: Tensor,
    rest_translation: Tensor,
    fps: float = 25.0,
    capture_fps: float | None = None,
) -> Motion:
    """A Live Link Face CSV as a motion of an avatar with ``expression_names`` (:func:`arkit_motion`),
    resampled to ``fps``.

    Raises:
        InputError: as :func:`live_link_face_table`.
    """
    times, values = live_link_face_table(path, capture_fps)
    if len(values) > 1:
        values = resample(times, values, fps)
    return arkit_motion(
        values, expression_names, rest_rotation=rest_rotation, rest_translation=rest_translation, fps=fps
    )


def read_weights(
    path: str | Path,
    expression_names: list[str],
    *,
    rest_rotation: Tensor,
    rest_translation: Tensor,
    fps: float = 25.0,
) -> Motion:
    """A plain weight file (CSV or JSON, see the module docstring) as a motion with the head at the
    rest pose and the gaze ahead; a JSON ``fps`` overrides ``fps``.

    Raises:
        InputError: unreadable, or no name the avatar knows.
    """
    path = Path(path)
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise InputError(f"{path}: not readable JSON ({error}).") from error
        frames = data.get("frames") if isinstance(data, dict) else data
        fps = float(data.get("fps", fps)) if isinstance(data, dict) else fps
        if not isinstance(frames, list) or not frames or not all(isinstance(f, dict) for f in frames):
            raise InputError(
                f'{path}: expected a list of {{"name": weight}} frames (or {{"frames": [...]}}).'
            )
        names = sorted({name for frame in frames for name in frame})
        try:
            values = np.array([[float(frame.get(n, 0.0)) for n in names] for frame in frames])
        except (TypeError, ValueError) as error:
            raise InputError(f"{path}: a weight is not a number ({error}).") from error
    else:
        header, rows = _read_table(path)
        names = [h.strip() for h in header]
        values = _numbers(path, names, rows, names)
    mapping = ict_columns(names, expression_names)
    if not mapping:
        raise InputError(
            f"{path}: none of its names is a blendshape of the avatar "
            f"({', '.join(expression_names[:3])}, ...)."
        )
    weights = np.zeros((len(values), len(expression_names)))
    for name, targets in mapping.items():
        weights[:, targets] = values[:, names.index(name) : names.index(name) + 1]
    frames_n = len(weights)
    return Motion(
        torch.from_numpy(weights).float().clamp(0.0, 1.0),
        tuple(expression_names),
        torch.zeros(frames_n, 2, 2),
        rest_rotation.float().expand(frames_n, 3, 3).clone(),
        rest_translation.float().expand(frames_n, 3).clone(),
        float(fps),
    )
