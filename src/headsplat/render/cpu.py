"""The ``cpu`` backend: numba projection and tile rasterizer, both with hand-written
backward passes, using every core (:mod:`cpu_projection`, :mod:`cpu_kernels`)."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from headsplat.render import cpu_kernels, cpu_projection
from headsplat.render.projection import ALPHA_MIN, Camera, Projected, with_depth_channel
from headsplat.render.result import Rendering, composited_rendering

# 16 px tiles double the tile intersections and run slower on 2 cores (measurements:
# docs/quality.md, section "`render.cpu.TILE_SIZE`").
TILE_SIZE = 32


def _numpy(tensor: Tensor) -> np.ndarray:
    return tensor.detach().contiguous().numpy()


class _ProjectCPU(torch.autograd.Function):
    """means, quats, scales, opacities, K, viewmat -> means2d, conics, depths (+ radii, visible)."""

    @staticmethod
    def forward(ctx, means, quats, scales, opacities, K, viewmat, settings):
        width, height, near, far, eps2d = settings
        arrays = [_numpy(t) for t in (means, quats, scales, opacities, K, viewmat)]
        n, dtype = means.shape[0], arrays[0].dtype
        means2d, conics = np.empty((n, 2), dtype), np.empty((n, 3), dtype)
        depths, radii = np.empty(n, dtype), np.empty((n, 2), np.int32)
        visible = np.empty(n, np.bool_)
        cpu_projection.project_forward(
            *arrays, width, height, near, far, eps2d, means2d, conics, depths, radii, visible
        )
        ctx.arrays, ctx.settings, ctx.visible, ctx.dtype = arrays, settings, visible, means.dtype
        outputs = [torch.from_numpy(a) for a in (means2d, conics, depths, radii, visible)]
        ctx.mark_non_differentiable(outputs[3], outputs[4])
        return tuple(outputs)

    @staticmethod
    def backward(ctx, grad_means2d, grad_conics, grad_depths, _grad_radii, _grad_visible):
        means, quats, scales, _, K, viewmat = ctx.arrays
        width, height, _, _, eps2d = ctx.settings
        n, dtype = means.shape[0], means.dtype
        grad_means, grad_quats = np.empty((n, 3), dtype), np.empty((n, 4), dtype)
        grad_scales = np.empty((n, 3), dtype)
        grad_camera = np.empty((n, cpu_projection.CAMERA_GRAD), dtype)
        cpu_projection.project_backward(
            means, quats, scales, K, viewmat, width, height, eps2d, ctx.visible,
            *(_numpy(g.to(ctx.dtype)) for g in (grad_means2d, grad_conics, grad_depths)),
            grad_means, grad_quats, grad_scales, grad_camera,
        )  # fmt: skip
        camera = grad_camera.sum(axis=0, dtype=np.float64)
        grad_viewmat = np.zeros((4, 4))
        grad_viewmat[:3, :3] = camera[:9].reshape(3, 3)
        grad_viewmat[:3, 3] = camera[9:12]
        grad_K = np.zeros((3, 3))
        grad_K[0, 0], grad_K[1, 1], grad_K[0, 2], grad_K[1, 2] = camera[12:16]
        return (
            torch.from_numpy(grad_means),
            torch.from_numpy(grad_quats),
            torch.from_numpy(grad_scales),
            None,
            torch.from_numpy(grad_K.astype(K.dtype)),
            torch.from_numpy(grad_viewmat.astype(viewmat.dtype)),
            None,
        )


class _Binning:
    """Which Gaussians touch which tile, nearest first (see ``cpu_kernels.bin_to_tiles``)."""

    def __init__(self, projected: Projected, width: int, height: int) -> None:
        visible = np.flatnonzero(projected.visible.numpy())
        depths = _numpy(projected.depths)[visible]
        order = visible[np.argsort(depths, kind="stable")].astype(np.int32)
        self.radii = projected.radii.numpy().astype(np.float32)
        self.offsets, self.ids = cpu_kernels.bin_to_tiles(
            order, _numpy(projected.means2d), self.radii, width, height, TILE_SIZE
        )


class _CompositeCPU(torch.autograd.Function):
    """means2d, conics, opacities, features, background -> features image, alpha."""

    @staticmethod
    def forward(ctx, means2d, conics, opacities, features, background, binning, width, height):
        ctx.dtype = features.dtype
        means2d, conics, opacities, features, background = (
            _numpy(t) for t in (means2d, conics, opacities, features, background)
        )
        cutoffs = np.log(np.maximum(opacities, ALPHA_MIN) / ALPHA_MIN)
        arrays = [means2d, conics, opacities, cutoffs, binning.radii, features, background]
        image = np.empty((height, width, features.shape[1]), features.dtype)
        final_t = np.empty((height, width), features.dtype)
        n_used = np.empty((height, width), np.int32)
        cpu_kernels.rasterize_forward(
            binning.offsets, binning.ids, *arrays, width, height, TILE_SIZE, image, final_t, n_used
        )
        ctx.arrays, ctx.binning, ctx.size = arrays, binning, (width, height)
        ctx.final_t, ctx.n_used = final_t, n_used
        alpha = torch.from_numpy(1.0 - final_t)[..., None]
        return torch.from_numpy(image), alpha

    @staticmethod
    def backward(ctx, grad_image, grad_alpha):
        width, height = ctx.size
        binning, features, dtype = ctx.binning, ctx.arrays[5], ctx.dtype
        rows = np.empty((binning.ids.shape[0], cpu_kernels.GRAD_FIXED + features.shape[1]), features.dtype)
        cpu_kernels.rasterize_backward(
            binning.offsets, binning.ids, *ctx.arrays, width, height, TILE_SIZE, ctx.final_t,
            ctx.n_used, _numpy(grad_image.to(dtype)), _numpy(grad_alpha[..., 0].to(dtype)), rows,
        )  # fmt: skip
        n = features.shape[0]
        grads = torch.from_numpy(cpu_kernels.sum_rows_per_gaussian(binning.ids, rows, n))
        grad_background = (grad_image * torch.from_numpy(ctx.final_t)[..., None]).sum(dim=(0, 1))
        fixed = cpu_kernels.GRAD_FIXED
        return grads[:, 0:2], grads[:, 2:5], grads[:, 5], grads[:, fixed:], grad_background, None, None, None


def render_cpu(
    means: Tensor,
    quats: Tensor,
    scales: Tensor,
    opacities: Tensor,
    features: Tensor,
    background: Tensor,
    camera: Camera,
) -> Rendering:
    """Project and composite (:class:`~headsplat.render.result.RenderBackend`), numba kernels."""
    width, height = camera.width, camera.height
    settings = (width, height, camera.near, camera.far, camera.eps2d)
    means2d, conics, depths, radii, visible = _ProjectCPU.apply(
        means, quats, scales, opacities, camera.K, camera.viewmat, settings
    )
    projected = Projected(means2d, conics, depths, radii, visible)
    binning = _Binning(projected, width, height)
    features, background = with_depth_channel(features, background, depths)
    image, alpha = _CompositeCPU.apply(
        means2d, conics, opacities, features, background, binning, width, height
    )
    return composited_rendering(
        image, alpha, projected, n_intersections=int(binning.ids.shape[0]), backend="cpu"
    )
