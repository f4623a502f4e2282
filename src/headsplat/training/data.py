"""A subject's frames at one size, in memory, with each frame's tracked condition: what training
compares the avatar with, and what evaluation scores it on."""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np
import torch
from torch import Tensor

from headsplat.avatar.condition import Camera, Condition, pinhole_camera
from headsplat.io.subject import Subject


@dataclass
class FrameData:
    """Frames, masks, intrinsics and tracking of one subject at ``size`` x ``size``.

    Attributes:
        images: (F, S, S, 3) uint8. masks: (F, S, S) uint8. K: (3, 3) intrinsics at size S.
        rotation (F, 3, 3), translation (F, 3), expression (F, E), gaze (F, 2, 2): the tracking.
        torso: the torso pose every frame's condition carries (the avatar's rest pose), or None.
    """

    subject: Subject
    images: Tensor
    masks: Tensor
    K: Tensor
    rotation: Tensor
    translation: Tensor
    expression: Tensor
    gaze: Tensor
    torso: tuple[Tensor, Tensor] | None = None

    @property
    def size(self) -> int:
        return self.images.shape[1]

    def to(self, device: str | torch.device) -> FrameData:
        tensors = ("images", "masks", "K", "rotation", "translation", "expression", "gaze")
        torso = None if self.torso is None else tuple(t.to(device) for t in self.torso)
        return replace(self, **{name: getattr(self, name).to(device) for name in tensors}, torso=torso)

    def with_torso(self, torso: tuple[Tensor, Tensor] | None) -> FrameData:
        return replace(self, torso=None if torso is None else tuple(t.to(self.K.device) for t in torso))

    def camera(self) -> Camera:
        """The fixed camera of the clip (at the origin)."""
        return pinhole_camera(self.K, self.size)

    def condition(self, f: int) -> Condition:
        """Frame f's tracked condition."""
        return Condition(self.expression[f], self.gaze[f], self.rotation[f], self.translation[f], self.torso)

    def alpha(self, f: int) -> Tensor:
        """(S, S, 1) float mask of frame f in [0, 1]."""
        return self.masks[f].float()[..., None] / 255

    def target(self, f: int, background: float) -> Tensor:
        """(S, S, 3) float frame f composited onto the background with its mask."""
        alpha = self.alpha(f)
        return self.images[f].float() / 255 * alpha + background * (1 - alpha)


def load_frame_data(subject: Subject, size: int) -> FrameData:
    """Read and resize every frame and mask of a subject."""
    images, masks = [], []
    for f in range(subject.n_frames):
        image = cv2.cvtColor(cv2.imread(str(subject.frame_path(f))), cv2.COLOR_BGR2RGB)
        mask = cv2.imread(str(subject.mask_path(f)), cv2.IMREAD_GRAYSCALE)
        images.append(cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA))
        masks.append(cv2.resize(mask, (size, size), interpolation=cv2.INTER_AREA))
    tracking = {
        k: torch.as_tensor(subject.tracking[k], dtype=torch.float32)
        for k in ("rotation", "translation", "expression", "gaze")
    }
    return FrameData(
        subject,
        torch.from_numpy(np.stack(images)),
        torch.from_numpy(np.stack(masks)),
        subject.intrinsics(size),
        **tracking,
    )
