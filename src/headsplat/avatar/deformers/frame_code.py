"""A per-frame code for training only: what a training frame shows that its condition does not
explain (hair swinging, a strand blown across the cheek) moves that frame's Gaussians through a
few learned numbers of its own, instead of blurring the shared Gaussians into the average of
every frame's hair (NeRFace's per-frame latent codes: Gafni et al., "Dynamic Neural Radiance
Fields for Monocular 4D Facial Avatar Reconstruction", CVPR 2021).

The codes, ``size`` numbers per frame, belong to the training data
(:class:`~headsplat.training.frames.FrameCorrections`), which hands frame f's to this deformer as
``condition.extras["frame_code"]``; the L2 pull on it (``code_weight``, mean square) keeps it small
and the training frames' mean code is held at zero, so zero is the clip's average frame. The
offsets are linear in the code before their bound (:mod:`~headsplat.avatar.deformers.driven`),
zero for a zero code. Any condition without a code (every held-out frame, evaluation's
refinement, reenactment, the viewer, the exports) renders exactly as without this deformer, so
the avatar does not depend on the codes; evaluation's refinement never fits one (it would score
frames by numbers fitted to their own pixels).

Off by default: the held-out frames lost on d3 as first measured (measurements: docs/quality.md,
section "Hair skinning, motion and the per-frame code").
"""

from __future__ import annotations

from dataclasses import dataclass

from headsplat.avatar.deformers.base import BuildContext, register_gaussian_deformer
from headsplat.avatar.deformers.driven import DrivenOffsets
from headsplat.avatar.deformers.uv_decoder import UVDecoderConfig
from headsplat.avatar.modules import LossContext, Losses

CODE = "frame_code"
"""The key of a training frame's code (size,) in :attr:`Condition.extras`."""


@dataclass
class FrameCodeConfig(UVDecoderConfig):
    size: int = 16
    """Numbers per training frame."""
    lr_code: float = 1e-2
    """Adam's rate of the codes (a frame's code learns only on the steps that draw the frame)."""
    code_weight: float = 1e-2
    """Pull of each drawn frame's code towards zero: its mean square."""


@register_gaussian_deformer("frame_code")
class FrameCode(DrivenOffsets):
    """Offsets from a training frame's code."""

    Config = FrameCodeConfig
    drive_key = CODE
    moves_gaussians = False
    """It moves Gaussians only for a training frame's code, which no export or player is given."""

    def __init__(self, config: FrameCodeConfig, build: BuildContext):
        super().__init__(config, build, config.size)

    def losses(self, ctx: LossContext) -> Losses:
        code = ctx.condition.extras.get(CODE)
        if code is None:
            return {}
        return {"frame_code": (self.config.code_weight, code.pow(2).mean())}
