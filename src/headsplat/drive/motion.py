"""A driving signal: per frame, what the head does (expression, gaze, pose), and its file.

The motion file (``.npz``, written next to every reenactment video, read by ``headsplat reenact
--motion`` and by viewers) holds::

    expression        (F, E) float32  blendshape weights in [0, 1], in the order of
    expression_names  (E,)   str      ARKit-style names (ICT-FaceKit's: browDown_L ... noseSneer_R)
    gaze              (F, 2, 2)       (yaw, pitch) of each eyeball in radians, model axes: positive
                                      yaw towards the subject's left, positive pitch up; first
                                      the ``eyeball_left`` region's eye
    rotation          (F, 3, 3)       head pose, model -> camera (OpenCV axes), as in tracking.npz
    translation       (F, 3)          cm, model -> camera
    fps               ()              frames per second
    format_version    ()              1

Model axes: x to the subject's left, y up, z forward, cm. A motion is in the avatar's terms once
:mod:`headsplat.drive.transfer` has mapped it (or in a driver's own terms as tracked).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from headsplat.avatar.condition import MOTION, Condition, head_motion
from headsplat.io.atomic import atomic_write
from headsplat.io.errors import InputError

FORMAT_VERSION = 1


@dataclass(frozen=True)
class Motion:
    """F frames of head motion (see the module docstring for each field's meaning)."""

    expression: Tensor
    expression_names: tuple[str, ...]
    gaze: Tensor
    rotation: Tensor
    translation: Tensor
    fps: float

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray], fps: float) -> Motion:
        """The motion in ``arrays`` holding ``expression``, ``expression_names``, ``gaze``,
        ``rotation`` and ``translation`` (a motion file's or a subject's ``tracking.npz``)."""
        tensor = lambda name: torch.from_numpy(np.asarray(arrays[name])).float()  # noqa: E731
        return cls(
            tensor("expression"),
            tuple(str(name) for name in arrays["expression_names"]),
            tensor("gaze"),
            tensor("rotation"),
            tensor("translation"),
            float(fps),
        )

    def __len__(self) -> int:
        return len(self.expression)

    def select(self, frames: Sequence[int] | Tensor | np.ndarray) -> Motion:
        """The motion of ``frames`` only, in that order."""
        index = torch.as_tensor(np.asarray(frames), dtype=torch.long)
        return replace(
            self,
            expression=self.expression[index],
            gaze=self.gaze[index],
            rotation=self.rotation[index],
            translation=self.translation[index],
        )

    def with_expression_order(self, names: list[str] | tuple[str, ...]) -> Motion:
        """The same motion with its expression columns in the order ``names``.

        Raises:
            InputError: a name is missing from this motion.
        """
        missing = [name for name in names if name not in self.expression_names]
        if missing:
            raise InputError(
                f"the driving motion has no weights for {', '.join(missing[:5])}"
                f"{' ...' if len(missing) > 5 else ''}: it was tracked with another head model."
            )
        index = torch.tensor([self.expression_names.index(name) for name in names])
        return replace(self, expression=self.expression[:, index], expression_names=tuple(names))

    def conditions(self, torso: tuple[Tensor, Tensor] | None) -> Iterator[Condition]:
        """One :class:`Condition` per frame, the torso held at ``torso`` (None: it turns with the
        head), each with the head's motion over the frames before it (:func:`head_motion`)."""
        motion = head_motion(self.rotation, self.fps, None if torso is None else torso[0].to(self.rotation))
        for f in range(len(self)):
            yield Condition(
                self.expression[f],
                self.gaze[f],
                self.rotation[f],
                self.translation[f],
                torso,
                {MOTION: motion[f]},
            )

    def save(self, path: str | os.PathLike) -> Path:
        """Write the motion file (atomically)."""
        arrays = {
            "expression": self.expression.detach().cpu().float().numpy(),
            "expression_names": np.array(self.expression_names),
            "gaze": self.gaze.detach().cpu().float().numpy(),
            "rotation": self.rotation.detach().cpu().float().numpy(),
            "translation": self.translation.detach().cpu().float().numpy(),
            "fps": np.float64(self.fps),
            "format_version": np.int64(FORMAT_VERSION),
        }

        def write(temporary: Path) -> None:
            with open(temporary, "wb") as stream:
                np.savez(stream, **arrays)

        return atomic_write(path, write)


def load_motion(path: str | os.PathLike) -> Motion:
    """Read a motion file written by :meth:`Motion.save`.

    Raises:
        InputError: not a readable motion file, or another format version.
    """
    try:
        with np.load(path) as data:
            arrays = dict(data)
    except (OSError, ValueError) as error:
        raise InputError(
            f"{path}: not a readable motion file ({error}). Give a .npz written by reenact."
        ) from error
    expected = {"expression", "expression_names", "gaze", "rotation", "translation", "fps", "format_version"}
    if not expected <= arrays.keys():
        raise InputError(
            f"{path}: not a motion file (missing {', '.join(sorted(expected - arrays.keys()))})."
        )
    if int(arrays["format_version"]) != FORMAT_VERSION:
        raise InputError(
            f"{path}: motion format {int(arrays['format_version'])}, this headsplat reads {FORMAT_VERSION}."
        )
    return Motion.from_arrays(arrays, float(arrays["fps"]))
