"""A per-frame code for training only: what a training frame shows that its condition does not
explain (hair swinging, a strand blown across the cheek) moves that frame's Gaussians through a
few learned numbers of its own, instead of blurring the shared Gaussians into the average of
every frame's hair (NeRFace's per-frame latent codes: Gafni et al., "Dynamic Neural Radiance
Fields for Monocular 4D Facial Avatar Reconstruction", CVPR 2021).

The codes, ``size`` numbers per frame, belong to the training data
(:class:`~headsplat.training.frames.FrameCorrections`), which hands frame f's to this deformer as
``condition.extras["frame_code"]``; the L2 pull on it (``code_weight``, mean square) keeps it small
and the training frames' mean code is held at zero, so zero is the clip's average frame. Each
Gaussian decodes, from features in a UV atlas at its point (as soft binding's), a (13, size) basis:
its offsets (:func:`~headsplat.avatar.deformers.soft_binding.offset_gaussians`) are
``tanh(basis @ code)``, zero for a zero code. Any condition without a code (every held-out frame,
evaluation's refinement, reenactment, the viewer, the exports) renders exactly as without this
deformer: the avatar does not depend on the codes, and evaluation's refinement never fits one
(it would score frames by numbers fitted to their own pixels).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from headsplat.avatar.deformers.base import (
    BuildContext,
    DeformContext,
    GaussianDeformer,
    register_gaussian_deformer,
)
from headsplat.avatar.deformers.soft_binding import (
    OUTPUTS,
    OffsetBounds,
    decoder_mlp,
    feature_atlas,
    offset_gaussians,
)
from headsplat.avatar.gaussians.store import GaussianSet
from headsplat.avatar.gaussians.uv_atlas import gaussians_in_atlas, sample_atlas
from headsplat.avatar.modules import LossContext, Losses, ParamGroup

CODE = "frame_code"
"""The key of a training frame's code (size,) in :attr:`Condition.extras`."""


@dataclass
class FrameCodeConfig(OffsetBounds):
    size: int = 16
    """Numbers per training frame."""
    channels: int = 8
    """Features per texel of the UV atlas."""
    resolution: int = 32
    """Texels per side of each material's tile."""
    hidden: int = 64
    """Width of the decoder's two hidden layers."""
    lr_code: float = 1e-2
    """Adam's rate of the codes (a frame's code learns only on the steps that draw the frame)."""
    lr_features: float = 1e-2
    lr_decoder: float = 1e-3
    code_weight: float = 1e-2
    """Pull of each drawn frame's code towards zero: its mean square."""


@register_gaussian_deformer("frame_code")
class FrameCode(GaussianDeformer):
    """Offsets from a training frame's code, each Gaussian's basis decoded from the UV atlas."""

    Config = FrameCodeConfig
    moves_gaussians = False
    """It moves Gaussians only for a training frame's code, which no export or player is given."""

    def __init__(self, config: FrameCodeConfig, build: BuildContext):
        super().__init__()
        self.config = config
        head = build.head
        device = head.neutral.device
        n_materials = len(head.info["material_names"])
        self.features = feature_atlas(config.channels, config.resolution, n_materials, device)
        # Not zeroed as soft binding's: the codes start at zero, and a zero basis would leave both
        # without a gradient.
        self.decoder = decoder_mlp(config.channels, config.hidden, OUTPUTS * config.size, device)

    def offsets(self, code: Tensor, ctx: DeformContext) -> Tensor:
        """(N, 13) the tanh-normalised offsets of every Gaussian for ``code`` (size,)."""
        grid = gaussians_in_atlas(ctx.head, ctx.gaussians, self.config.resolution)
        basis = self.decoder(sample_atlas(self.features, grid)).unflatten(-1, (OUTPUTS, self.config.size))
        return torch.tanh(basis @ code)

    def forward(self, gaussians: GaussianSet, ctx: DeformContext) -> GaussianSet:
        code = ctx.condition.extras.get(CODE)
        if code is None:
            return gaussians
        return offset_gaussians(gaussians, self.offsets(code, ctx), ctx, self.config)

    def param_groups(self) -> list[ParamGroup]:
        c = self.config
        return [
            ParamGroup("features", [self.features], c.lr_features),
            ParamGroup("decoder", list(self.decoder.parameters()), c.lr_decoder),
        ]

    def losses(self, ctx: LossContext) -> Losses:
        code = ctx.condition.extras.get(CODE)
        if code is None:
            return {}
        return {"frame_code": (self.config.code_weight, code.pow(2).mean())}
