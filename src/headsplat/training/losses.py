"""The image terms of the training loss; the avatar's modules add their own regularisers."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from headsplat.avatar.modules import Losses
from headsplat.metrics import LPIPS, ssim
from headsplat.render import Rendering


@dataclass
class LossConfig:
    """Weights of the image terms: L1 (weight 1) + ssim_weight (1 - SSIM) on frames composited onto
    the background with the subject's masks, the mask term and an optional LPIPS term."""

    ssim_weight: float = 0.2
    mask_weight: float = 0.2
    """L1 between the rendered alpha and the subject's mask: the silhouette must come from
    transparency, not from Gaussians painted in the background's colour, which a turntable shows
    as white and skin-coloured patches behind the ears and which completion would spread over the
    back of the head. At 0.2 it costs held-out PSNR and LPIPS little and the turntables lose their
    patches (measurements: docs/quality.md, section "`training.losses.LossConfig.mask_weight`")."""
    lpips_weight: float = 0.0
    """Weight of an LPIPS (VGG) term from step ``lpips_start`` on (FlashAvatar: 0.05). Off on
    CPU, where VGG at 256 px would double the step time."""
    lpips_start: int = 0


def image_losses(
    rendering: Rendering, target: Tensor, mask: Tensor, *, config: LossConfig, lpips: LPIPS | None, step: int
) -> Losses:
    """The image terms of one frame: l1, dssim, mask (when weighted) and lpips (when on).

    Args:
        rendering: the render. target: (S, S, 3) the masked frame. mask: (S, S, 1) in [0, 1].
    """
    image = rendering.image
    parts = {
        "l1": (1.0, (image - target).abs().mean()),
        "dssim": (config.ssim_weight, 1 - ssim(image, target)),
    }
    if config.mask_weight > 0:
        parts["mask"] = (
            config.mask_weight,
            (rendering.alpha - mask.reshape(rendering.alpha.shape)).abs().mean(),
        )
    if lpips is not None and step >= config.lpips_start:
        parts["lpips"] = (config.lpips_weight, lpips(image, target).mean())
    return parts
