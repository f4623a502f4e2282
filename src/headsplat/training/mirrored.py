"""Mirrored training frames: a training frame flipped left to right, its condition mirrored
(:meth:`~headsplat.avatar.condition.Condition.mirrored`), as a plausible view of the face's other
side. A monocular clip that turns one way more than the other, or keeps one cheek in shadow,
leaves that side to grazing glimpses; its mirror is a better guess than nothing, and wrong where
the face is not symmetric (a hair parting, a mole, a lopsided smile), so mirrored frames train at
a lower weight. Off by default until measured.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from torch import Tensor

from headsplat.avatar.condition import Camera


@dataclass
class MirroredFramesConfig:
    share: float = 0.0
    """The fraction of the steps that train on a training frame mirrored instead (0: none)."""
    weight: float = 0.5
    """A mirrored frame's loss weight against an unmirrored one's: a mirror image is a guess."""


def mirrored_camera(camera: Camera) -> Camera:
    """The camera that sees the mirrored world as the original sees the world, with its image
    flipped left to right: the principal point mirrored about the image's centre (pixel centres
    at ``x + 0.5``, so ``cx -> width - cx``); its view matrix reflected (``S V S``)."""
    K = camera.K.clone()
    K[0, 2] = camera.width - K[0, 2]
    reflect = camera.viewmat.new_ones(4)
    reflect[0] = -1
    viewmat = reflect[:, None] * camera.viewmat * reflect[None, :]
    return replace(camera, K=K, viewmat=viewmat)


def mirrored_image(image: Tensor) -> Tensor:
    """(H, W, ...) ``image`` flipped left to right."""
    return image.flip(1)
