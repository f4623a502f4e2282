"""The reference compositor: plain PyTorch autograd, small and obviously correct.

It evaluates every (pixel, Gaussian) pair of a pixel block densely and composites front to
back with the 3DGS rules (Kerbl et al., 2023, as implemented by gsplat): alpha =
min(0.999, o * exp(-sigma)), contributions below 1/255 skipped, and a pixel stops before a
Gaussian that would take its transmittance to 1e-4 or below. Blocks only skip Gaussians
whose exact alpha box (see :mod:`headsplat.render.projection`) misses the block, which
changes nothing in the result. It is the oracle for the fast backends' tests, not a
production path: memory grows with pixels x overlapping Gaussians.
"""

from __future__ import annotations

import torch
from torch import Tensor

from headsplat.render.projection import (
    ALPHA_MAX,
    ALPHA_MIN,
    TRANSMITTANCE_MIN,
    Camera,
    Projected,
    project_gaussians,
    with_depth_channel,
)
from headsplat.render.result import Rendering, composited_rendering

BLOCK = 16


def depth_order(projected: Projected) -> Tensor:
    """Indices of the visible Gaussians, nearest first (stable for equal depths)."""
    visible = torch.nonzero(projected.visible, as_tuple=False).squeeze(1)
    order = torch.argsort(projected.depths[visible].detach(), stable=True)
    return visible[order]


def render_reference(
    means: Tensor,
    quats: Tensor,
    scales: Tensor,
    opacities: Tensor,
    features: Tensor,
    background: Tensor,
    camera: Camera,
) -> Rendering:
    """Project (torch autograd) and composite (:class:`~headsplat.render.result.RenderBackend`);
    ``n_intersections`` counts the (pixel block, Gaussian) pairs evaluated."""
    projected = project_gaussians(means, quats, scales, opacities, camera)
    features, background = with_depth_channel(features, background, projected.depths)
    image, alpha, pairs = composite_reference(
        projected, opacities, features, background=background, width=camera.width, height=camera.height
    )
    return composited_rendering(image, alpha, projected, n_intersections=pairs, backend="reference")


def composite_reference(
    projected: Projected,
    opacities: Tensor,
    features: Tensor,
    *,
    background: Tensor,
    width: int,
    height: int,
) -> tuple[Tensor, Tensor]:
    """Alpha-composite projected Gaussians.

    opacities (N,), features (N, C), background (C,).
    Returns features image (H, W, C) with the background composited, alpha (H, W, 1) and
    the number of (block, Gaussian) pairs evaluated.
    """
    ids = depth_order(projected)
    means2d = projected.means2d[ids]
    conics = projected.conics[ids]
    radii = projected.radii[ids].to(means2d.dtype)
    opacity = opacities[ids]
    feature = features[ids]
    channels = features.shape[1]
    image = torch.zeros(height, width, channels, dtype=features.dtype, device=features.device)
    alpha = torch.zeros(height, width, 1, dtype=features.dtype, device=features.device)
    lower, upper = means2d.detach() - radii, means2d.detach() + radii
    pairs = 0
    for y0 in range(0, height, BLOCK):
        for x0 in range(0, width, BLOCK):
            y1, x1 = min(y0 + BLOCK, height), min(x0 + BLOCK, width)
            near_block = (
                (upper[:, 0] >= x0 + 0.5)
                & (lower[:, 0] <= x1 - 0.5)
                & (upper[:, 1] >= y0 + 0.5)
                & (lower[:, 1] <= y1 - 0.5)
            )
            sel = torch.nonzero(near_block, as_tuple=False).squeeze(1)
            pairs += sel.numel()
            ys, xs = torch.meshgrid(
                torch.arange(y0, y1, dtype=features.dtype, device=features.device) + 0.5,
                torch.arange(x0, x1, dtype=features.dtype, device=features.device) + 0.5,
                indexing="ij",
            )
            block_rgb, block_alpha = _composite_pixels(
                torch.stack((xs.reshape(-1), ys.reshape(-1)), dim=-1),
                means2d[sel],
                conics[sel],
                opacity[sel],
                feature[sel],
                background,
            )
            image[y0:y1, x0:x1] = block_rgb.reshape(y1 - y0, x1 - x0, channels)
            alpha[y0:y1, x0:x1] = block_alpha.reshape(y1 - y0, x1 - x0, 1)
    return image, alpha, pairs


def _composite_pixels(
    pixels: Tensor,
    means2d: Tensor,
    conics: Tensor,
    opacity: Tensor,
    feature: Tensor,
    background: Tensor,
) -> tuple[Tensor, Tensor]:
    """pixels (P, 2) centres; Gaussians (M, ...) sorted nearest first -> (P, C), (P,)."""
    delta = means2d[None, :, :] - pixels[:, None, :]
    dx, dy = delta[..., 0], delta[..., 1]
    a, b, c = conics[:, 0], conics[:, 1], conics[:, 2]
    sigma = 0.5 * (a * dx * dx + c * dy * dy) + b * dx * dy
    alpha = torch.clamp(opacity * torch.exp(-sigma), max=ALPHA_MAX)
    alpha = alpha * ((sigma >= 0) & (alpha >= ALPHA_MIN))
    with torch.no_grad():
        before_stop = torch.cumprod(1 - alpha, dim=1) > TRANSMITTANCE_MIN
    alpha = alpha * before_stop
    transmittance = torch.cumprod(1 - alpha, dim=1)
    ones = transmittance.new_ones(transmittance.shape[0], 1)
    weights = alpha * torch.cat((ones, transmittance[:, :-1]), dim=1)
    final_t = transmittance[:, -1:] if transmittance.shape[1] else ones
    return weights @ feature + final_t * background, 1 - final_t[:, 0]
