"""What every rasterizer backend returns, and the contract the backends follow."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Protocol

from torch import Tensor

from headsplat.render.projection import Camera, Projected


@dataclass
class RasterInfo:
    """Per-Gaussian by-products a densification strategy reads. ``N`` Gaussians.

    means2d: (N, 2) projected centres in pixels. When the inputs require grad it is part of
        the autograd graph with ``retain_grad()`` set, so after ``loss.backward()``
        :attr:`means2d_grad` holds the screen-space gradient (3DGS densification signal).
    depths: (N,) camera-space z.
    radii: (N, 2) int32 pixel half-extents of the screen box; 0 where culled.
    visible: (N,) bool, the Gaussian reached the image.
    n_intersections: how many (tile, Gaussian) pairs the renderer processed (0 for
        backends without tiles).
    backend: the backend that produced the image.
    """

    means2d_graph: Tensor
    depths: Tensor
    radii: Tensor
    visible: Tensor
    n_intersections: int
    backend: str

    @property
    def means2d(self) -> Tensor:
        """(N, 2) projected centres."""
        return self.means2d_graph.reshape(-1, 2)

    @property
    def means2d_grad(self) -> Tensor | None:
        """(N, 2) gradient of the loss with respect to :attr:`means2d`, after backward."""
        grad = self.means2d_graph.grad
        return None if grad is None else grad.reshape(-1, 2)


class Rendering(NamedTuple):
    """image (H, W, C) with the background composited; alpha (H, W, 1) accumulated opacity;
    depth (H, W, 1) expected camera z of the visible Gaussians (alpha-normalised, 0 where
    alpha is 0); info: :class:`RasterInfo`."""

    image: Tensor
    alpha: Tensor
    depth: Tensor
    info: RasterInfo


class RenderBackend(Protocol):
    """A rasterizer backend (:data:`headsplat.render.api.BACKENDS`): the inputs checked by
    :func:`headsplat.render.api.rasterize`, features (N, C) composited over background (C,)."""

    def __call__(
        self,
        means: Tensor,
        quats: Tensor,
        scales: Tensor,
        opacities: Tensor,
        features: Tensor,
        background: Tensor,
        camera: Camera,
    ) -> Rendering: ...


def composited_rendering(
    rendered: Tensor, alpha: Tensor, projected: Projected, *, n_intersections: int, backend: str
) -> Rendering:
    """The :class:`Rendering` of a backend that composited camera z as an extra last channel:
    ``rendered`` (H, W, C + 1), ``alpha`` (H, W, 1); the projected centres keep their gradient
    (``retain_grad``) for the strategies."""
    if projected.means2d.requires_grad:
        projected.means2d.retain_grad()
    depth = rendered[..., -1:] / alpha.clamp_min(1e-10)
    info = RasterInfo(
        means2d_graph=projected.means2d,
        depths=projected.depths.detach(),
        radii=projected.radii,
        visible=projected.visible,
        n_intersections=n_intersections,
        backend=backend,
    )
    return Rendering(rendered[..., :-1], alpha, depth, info)
