"""A subject's frames at one size, with each frame's tracked condition: what training compares the
avatar with, and what evaluation scores it on. The frames wait in a temporary file and are read one
at a time, so memory does not grow with the clip."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TypeVar

import cv2
import numpy as np
import torch
from torch import Tensor

from headsplat.avatar.condition import MOTION, Camera, Condition, head_motion, pinhole_camera
from headsplat.io.subject import LANDMARK_FIT_ARRAYS, Subject
from headsplat.io.video import read_png

Item = TypeVar("Item")


class OnDemand(Sequence[Item]):
    """A sequence whose ``i``-th item is ``make(i)``, made each time it is read and never kept:
    what per-frame work over a long clip iterates instead of a list of every frame's tensors."""

    def __init__(self, make: Callable[[int], Item], length: int):
        self.make, self.length = make, length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self.length))]
        if not -self.length <= i < self.length:
            raise IndexError(f"item {i} of {self.length}")
        return self.make(i % self.length)


class FrameStore:
    """F frames (S, S, 3) and masks (S, S), uint8, in an unlinked temporary file (``TMPDIR``; it
    needs F x S x S x 4 bytes and vanishes with the process, even after a crash).

    A 4,000-frame clip at 512 px is 4 GB of pixels: in memory it would not fit beside training
    on a laptop; the operating system's file cache keeps what fits and reading one frame takes
    microseconds, against tens of milliseconds a training step.
    """

    def __init__(self, pairs: Iterable[tuple[np.ndarray, np.ndarray]], size: int):
        self.size = size
        # Open as long as the store lives: closed (and so deleted) with it.
        self._file = tempfile.TemporaryFile(prefix="headsplat-frames-")  # noqa: SIM115
        self._frame_bytes = size * size * 4
        self.n_frames = 0
        for image, mask in pairs:
            self._file.write(np.concatenate([image, mask[..., None]], axis=-1).tobytes())
            self.n_frames += 1
        self._file.flush()

    def __len__(self) -> int:
        return self.n_frames

    def read(self, f: int) -> Tensor:
        """(S, S, 4) uint8: frame ``f``'s RGB and mask."""
        if not 0 <= f < self.n_frames:
            raise IndexError(f"frame {f} of {self.n_frames}")
        out = np.empty((self.size, self.size, 4), dtype=np.uint8)
        self._file.seek(f * self._frame_bytes)
        self._file.readinto(memoryview(out).cast("B"))
        return torch.from_numpy(out)

    def image(self, f: int) -> Tensor:
        """(S, S, 3) uint8 RGB of frame ``f``."""
        return self.read(f)[..., :3]

    def mask(self, f: int) -> Tensor:
        """(S, S) uint8 mask of frame ``f``."""
        return self.read(f)[..., 3]


@dataclass
class FrameData:
    """Frames, masks, intrinsics and tracking of one subject at ``size`` x ``size``.

    Attributes:
        frames: the images and masks (:class:`FrameStore`). K: (3, 3) intrinsics at size S.
        rotation (F, 3, 3), translation (F, 3), expression (F, E), gaze (F, 2, 2): the tracking.
        torso: the torso pose every frame's condition carries (the avatar's rest pose), or None.
    """

    subject: Subject
    frames: FrameStore
    K: Tensor
    rotation: Tensor
    translation: Tensor
    expression: Tensor
    gaze: Tensor
    torso: tuple[Tensor, Tensor] | None = None

    @property
    def size(self) -> int:
        return self.frames.size

    def to(self, device: str | torch.device) -> FrameData:
        """The tracking on ``device``; frames are read to the tracking's device as they are used."""
        tensors = ("K", "rotation", "translation", "expression", "gaze")
        torso = None if self.torso is None else tuple(t.to(device) for t in self.torso)
        return replace(self, **{name: getattr(self, name).to(device) for name in tensors}, torso=torso)

    def with_torso(self, torso: tuple[Tensor, Tensor] | None) -> FrameData:
        return replace(self, torso=None if torso is None else tuple(t.to(self.K.device) for t in torso))

    def landmark_tracked(self) -> FrameData | None:
        """The same frames at the landmark fit's conditions, when the subject was tracked
        photometrically (its ``landmark_fit_*`` arrays); None otherwise."""
        tracking = self.subject.tracking
        names = [f"landmark_fit_{name}" for name in LANDMARK_FIT_ARRAYS]
        if not all(name in tracking for name in names):
            return None
        arrays = {
            name: torch.as_tensor(tracking[f"landmark_fit_{name}"], dtype=torch.float32).to(self.K.device)
            for name in LANDMARK_FIT_ARRAYS
        }
        return replace(self, **arrays)

    def camera(self) -> Camera:
        """The fixed camera of the clip (at the origin)."""
        return pinhole_camera(self.K, self.size)

    def condition(self, f: int) -> Condition:
        """Frame f's tracked condition, with the head's motion over the frames before it
        (:func:`~headsplat.avatar.condition.head_motion`)."""
        window = self.rotation[max(f - 4, 0) : f + 1]
        torso_rotation = None if self.torso is None else self.torso[0]
        motion = head_motion(window, float(self.subject.meta["fps"]), torso_rotation)[-1]
        return Condition(
            self.expression[f],
            self.gaze[f],
            self.rotation[f],
            self.translation[f],
            self.torso,
            {MOTION: motion},
        )

    def alpha(self, f: int) -> Tensor:
        """(S, S, 1) float mask of frame f in [0, 1]."""
        return self.frames.mask(f).to(self.K.device).float()[..., None] / 255

    def target(self, f: int, background: float) -> Tensor:
        """(S, S, 3) float frame f composited onto the background with its mask."""
        pixels = self.frames.read(f).to(self.K.device).float() / 255
        alpha = pixels[..., 3:]
        return pixels[..., :3] * alpha + background * (1 - alpha)

    def targets(self, frames: Sequence[int], background: float) -> Sequence[Tensor]:
        """:meth:`target` of each of ``frames``, read when used (:class:`OnDemand`)."""
        return OnDemand(lambda i: self.target(int(frames[i]), background), len(frames))


def resized_frames(subject: Subject, size: int) -> Iterable[tuple[np.ndarray, np.ndarray]]:
    """Each frame of ``subject`` and its mask, area-resized to ``size`` x ``size``, one at a time."""
    for f in range(subject.n_frames):
        image, mask = read_png(subject.frame_path(f)), read_png(subject.mask_path(f))
        yield (
            cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA),
            cv2.resize(mask, (size, size), interpolation=cv2.INTER_AREA),
        )


def load_frame_data(subject: Subject, size: int) -> FrameData:
    """A subject's tracking, and its frames and masks at ``size`` in a :class:`FrameStore`."""
    tracking = {
        k: torch.as_tensor(subject.tracking[k], dtype=torch.float32)
        for k in ("rotation", "translation", "expression", "gaze")
    }
    return FrameData(
        subject, FrameStore(resized_frames(subject, size), size), subject.intrinsics(size), **tracking
    )
