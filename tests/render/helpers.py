"""Scenes and comparisons shared by the rasterizer tests."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from headsplat.render import rasterize
from headsplat.render.synthetic import Scene


def random_scene(
    n: int, width: int, height: int, seed: int, channels: int = 3, dtype: torch.dtype = torch.float32
) -> Scene:
    """Gaussians scattered in front of a camera with a random pose and off-centre intrinsics."""
    gen = torch.Generator().manual_seed(seed)

    def rand(*shape: int) -> Tensor:
        return torch.rand(*shape, generator=gen, dtype=torch.float64)

    depth = 2.0 + 2.0 * rand(n)
    focal = 0.9 * max(width, height)
    cam_points = torch.stack(
        (
            (rand(n) - 0.5) * 1.3 * width / focal * depth,
            (rand(n) - 0.5) * 1.3 * height / focal * depth,
            depth,
        ),
        dim=1,
    )
    angle = 0.4 * rand(1).item()
    axis = torch.nn.functional.normalize(rand(3) - 0.5, dim=0)
    skew = torch.tensor([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    rotation = (
        torch.eye(3, dtype=torch.float64) + math.sin(angle) * skew + (1 - math.cos(angle)) * skew @ skew
    )
    translation = rand(3) - 0.5
    viewmat = torch.eye(4, dtype=torch.float64)
    viewmat[:3, :3], viewmat[:3, 3] = rotation, translation
    means = (cam_points - translation) @ rotation  # world points that land at cam_points
    K = torch.tensor(
        [[focal, 0, 0.47 * width], [0, 1.05 * focal, 0.53 * height], [0, 0, 1]], dtype=torch.float64
    )
    scales = 0.03 * torch.exp(1.2 * (rand(n, 3) - 0.5)) * depth[:, None].sqrt()
    tensors = (means, rand(n, 4) - 0.5, scales, 0.05 + 0.9 * rand(n), rand(n, channels), K, viewmat)
    return Scene(*(t.to(dtype) for t in tensors), width=width, height=height)


def render_with_grads(
    scene: Scene, backend: str, background: Tensor, seed: int = 0
) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """Render, back-propagate a fixed random weighting of image, alpha and depth.

    Returns (outputs, gradients) keyed by name; gradients cover every input and means2d.
    """
    inputs = {
        "means": scene.means, "quats": scene.quats, "scales": scene.scales,
        "opacities": scene.opacities, "colors": scene.colors, "K": scene.K,
        "viewmat": scene.viewmat, "background": background,
    }  # fmt: skip
    leaves = {name: t.detach().clone().requires_grad_(True) for name, t in inputs.items()}
    out = rasterize(
        leaves["means"], leaves["quats"], leaves["scales"], leaves["opacities"], leaves["colors"],
        leaves["K"], leaves["viewmat"], scene.width, scene.height, leaves["background"], backend=backend,
    )  # fmt: skip
    # Drawn on the CPU (one stream for every device), then moved to the outputs' device.
    gen = torch.Generator().manual_seed(seed)
    loss = sum(
        (tensor * torch.randn(tensor.shape, generator=gen, dtype=tensor.dtype).to(tensor.device)).sum()
        for tensor in (out.image, out.alpha, out.depth)
    )
    loss.backward()
    grads = {name: leaf.grad for name, leaf in leaves.items()}
    grads["means2d"] = out.info.means2d_grad
    outputs = {"image": out.image.detach(), "alpha": out.alpha.detach(), "depth": out.depth.detach()}
    return outputs, grads


def relative_error(value: Tensor, expected: Tensor) -> float:
    """||value - expected|| / ||expected|| (0 when both are 0)."""
    scale = expected.norm().item()
    diff = (value - expected).norm().item()
    return diff if scale == 0 else diff / scale
