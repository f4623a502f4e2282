"""The reference backend's gradients against central finite differences in float64."""

import torch

from headsplat.render import rasterize

from .helpers import random_scene


def test_reference_matches_finite_differences():
    # Few, wide, half-transparent Gaussians: every pixel sees alpha well inside (1/255, 0.999)
    # and transmittance far above the 1e-4 cut, so the rendering is smooth in every input.
    scene = random_scene(4, 12, 10, seed=7, dtype=torch.float64)
    scene.scales = scene.scales * 12.0
    scene.opacities = 0.3 + 0.4 * torch.rand(
        4, generator=torch.Generator().manual_seed(7), dtype=torch.float64
    )
    background = torch.tensor([0.3, 0.6, 0.1], dtype=torch.float64)
    inputs = [t.clone().requires_grad_(True) for t in (*scene.tensors(), scene.K, scene.viewmat, background)]

    def render(means, quats, scales, opacities, colors, K, viewmat, background):
        out = rasterize(
            means, quats, scales, opacities, colors, K, viewmat, 12, 10, background, backend="reference"
        )
        return out.image, out.alpha, out.depth

    _, alpha, _ = render(*inputs)
    assert alpha.min() > 0.02 and alpha.max() < 0.99
    assert torch.autograd.gradcheck(render, inputs, eps=1e-6, atol=1e-6, rtol=1e-4)
