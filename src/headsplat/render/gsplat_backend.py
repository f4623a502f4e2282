"""The ``gsplat`` backend (nerfstudio's gsplat 1.5.3, Apache-2.0): the fast path on a CUDA GPU.

gsplat's "classic" mode uses the same projection and compositing rules as the other
backends (see :mod:`headsplat.render.projection`), so a model trained on one backend renders
the same on another.
"""

from __future__ import annotations

import torch
from torch import Tensor

from headsplat.render.projection import Camera
from headsplat.render.result import RasterInfo, Rendering


def _safe_quats(quats: Tensor) -> Tensor:
    """gsplat normalises quaternions itself and turns a zero one into NaN; ours means identity."""
    degenerate = quats.norm(dim=-1, keepdim=True) < 1e-12
    identity = torch.zeros_like(quats)
    identity[:, 0] = 1.0
    return torch.where(degenerate, identity, quats)


def rasterize_gsplat(
    means: Tensor,
    quats: Tensor,
    scales: Tensor,
    opacities: Tensor,
    colors: Tensor,
    background: Tensor,
    camera: Camera,
) -> Rendering:
    """Same contract as :func:`headsplat.render.rasterize` for CUDA tensors."""
    from gsplat import rasterization

    render, alpha, meta = rasterization(
        means, _safe_quats(quats), scales, opacities, colors, camera.viewmat[None], camera.K[None],
        camera.width, camera.height, near_plane=camera.near, far_plane=camera.far,
        eps2d=camera.eps2d, packed=False, tile_size=16,
        backgrounds=background[None], render_mode="RGB+ED", rasterize_mode="classic",
    )  # fmt: skip
    means2d = meta["means2d"]  # (1, N, 2), part of the graph
    if means2d.requires_grad:
        means2d.retain_grad()
    radii = meta["radii"][0].to(torch.int32)
    info = RasterInfo(
        means2d_graph=means2d,
        depths=meta["depths"][0].detach(),
        radii=radii,
        visible=(radii > 0).all(dim=-1),
        n_intersections=int(meta["flatten_ids"].numel()),
        backend="gsplat",
    )
    channels = colors.shape[1]
    return Rendering(render[0, ..., :channels], alpha[0], render[0, ..., channels:], info)
