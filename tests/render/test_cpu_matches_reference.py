"""The fast CPU backend computes the reference's image and every gradient (rel. error <= 1e-3)."""

import pytest
import torch

from headsplat.render.synthetic import head_scene

from .helpers import random_scene, relative_error, render_with_grads

TOLERANCE = 1e-3
GRAD_NAMES = ("means", "quats", "scales", "opacities", "colors", "K", "viewmat", "background", "means2d")


def _compare(scene, background):
    ref_out, ref_grads = render_with_grads(scene, "reference", background)
    cpu_out, cpu_grads = render_with_grads(scene, "cpu", background)
    for name in ("image", "alpha", "depth"):
        assert relative_error(cpu_out[name], ref_out[name]) <= TOLERANCE, name
    for name in GRAD_NAMES:
        assert ref_grads[name].abs().max() > 0, f"reference gradient of {name} is zero: scene too easy"
        assert relative_error(cpu_grads[name], ref_grads[name]) <= TOLERANCE, name
    return ref_out


@pytest.mark.parametrize(
    ("n", "width", "height", "channels", "seed"),
    [(300, 64, 64, 3, 0), (800, 70, 45, 3, 1), (500, 33, 80, 1, 2), (400, 48, 40, 5, 3)],
)
def test_random_scenes(n, width, height, channels, seed):
    scene = random_scene(n, width, height, seed, channels)
    background = torch.rand(channels, generator=torch.Generator().manual_seed(seed))
    out = _compare(scene, background)
    assert 0.05 < out["alpha"].mean() < 0.999  # the scene really covers part of the image


def test_head_scene_with_saturated_pixels():
    """A dense head: many pixels stop early (transmittance cut) and alphas hit the 0.999 clamp."""
    scene = head_scene(3000, 96, seed=4, overlap=1.5)
    scene.opacities = torch.where(scene.opacities > 0.6, torch.ones_like(scene.opacities), scene.opacities)
    out = _compare(scene, torch.tensor([0.2, 0.5, 0.9]))
    assert (out["alpha"] > 0.9998).float().mean() > 0.1


def test_cpu_is_deterministic():
    scene = random_scene(600, 64, 64, seed=5)
    background = torch.tensor([0.1, 0.2, 0.3])
    first_out, first_grads = render_with_grads(scene, "cpu", background)
    second_out, second_grads = render_with_grads(scene, "cpu", background)
    for name in first_out:
        assert torch.equal(first_out[name], second_out[name])
    for name in GRAD_NAMES:
        assert torch.equal(first_grads[name], second_grads[name])
