"""Test-time tracking refinement: fit held-out frames' pose and expression to their images with the
avatar frozen.

Landmark tracking leaves each frame about a degree of head rotation, a millimetre or two of
translation and expressions the landmarks cannot pin (brows, cheeks); the avatar renders those
errors as silhouettes a few pixels off and features in the wrong place, which held-out metrics
then charge to the avatar. IMavatar and PointAvatar therefore evaluate after optimising the test
frames' pose and expression against the test images with the trained avatar frozen (PointAvatar's
``scripts/test.py``: "only used for calculating metrics"). This module does the same through the
avatar's own per-frame corrections (:class:`headsplat.avatar.deformers.head.FrameCorrections`): only the
rows of the refined frames change; Gaussians and head corrections stay as trained.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from headsplat.avatar.state import AvatarState
from headsplat.evaluation.metrics import ssim


@dataclass(frozen=True)
class RefineConfig:
    steps: int = 20
    """Adam steps per frame; each is one render and backward pass (d10, 256 px, CPU: ~0.25 s)."""
    lr_rotation: float = 3e-3
    """Radians per step, about the head."""
    lr_translation: float = 1e-2
    """Centimetres per step (a pixel is ~0.1 cm at 256 px)."""
    lr_expression: float = 2e-2
    ssim_weight: float = 0.2
    """The image loss is training's: L1 + ssim_weight (1 - SSIM)."""


DEFAULT_REFINE = RefineConfig()


def refine_tracking(
    state: AvatarState,
    frames: np.ndarray,
    K: torch.Tensor,
    targets: Callable[[int], torch.Tensor],
    background: float,
    config: RefineConfig = DEFAULT_REFINE,
) -> None:
    """Fit the frame corrections of ``frames`` to ``targets(f)`` (S, S, 3), one frame after the other.

    Each frame starts from the previous one's correction: tracking errors drift slowly through a
    clip, so consecutive frames (a test split) start close to their optimum.
    """
    corrections = state.frames
    learned = [p for p in (*state.params.values(), *state.head.parameters()) if p.requires_grad]
    for parameter in learned:
        parameter.requires_grad_(False)
    previous = None
    try:
        for f in (int(f) for f in frames):
            if previous is not None:
                with torch.no_grad():
                    for row in corrections.parameters():
                        row[f] = row[previous]
            # A fresh Adam per frame; the other frames' rows get zero gradients and so zero steps.
            optimizer = torch.optim.Adam(
                [
                    {"params": [corrections.rotation], "lr": config.lr_rotation},
                    {"params": [corrections.translation], "lr": config.lr_translation},
                    {"params": [corrections.expression], "lr": config.lr_expression},
                ]
            )
            target = targets(f)
            size = target.shape[0]
            for _ in range(config.steps):
                image = state.render(f, K, size, background).image
                loss = (image - target).abs().mean() + config.ssim_weight * (1 - ssim(image, target))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            previous = f
    finally:
        for parameter in learned:
            parameter.requires_grad_(True)
        for row in corrections.parameters():
            row.grad = None
