"""The per-Gaussian by-products a densification strategy reads."""

import pytest
import torch

from headsplat.render import rasterize
from headsplat.render.synthetic import head_scene

from .helpers import random_scene


@pytest.mark.parametrize("backend", ["reference", "cpu"])
def test_info_fields(backend):
    scene = random_scene(200, 48, 40, seed=11)
    scene.means[:20, 2] -= 100.0  # some behind the camera
    means = scene.means.clone().requires_grad_(True)
    out = rasterize(means, *scene.tensors()[1:], scene.K, scene.viewmat, 48, 40, backend=backend)
    info = out.info
    assert info.backend == backend
    assert info.means2d.shape == (200, 2) and info.radii.shape == (200, 2)
    assert info.radii.dtype == torch.int32 and info.visible.dtype == torch.bool
    assert not info.visible[:20].any() and (info.radii[:20] == 0).all()
    assert info.visible[20:].any() and info.n_intersections > 0
    assert torch.equal(info.visible, (info.radii > 0).all(dim=1))
    assert info.means2d_grad is None
    out.image.sum().backward()
    grad = info.means2d_grad
    assert grad is not None and grad.shape == (200, 2)
    assert (grad[~info.visible] == 0).all() and grad[info.visible].abs().sum() > 0


def test_head_scene_renders_a_head():
    scene = head_scene(2000, 64)
    out = rasterize(*scene.tensors(), scene.K, scene.viewmat, 64, 64)
    alpha = out.alpha[..., 0]
    assert alpha[32, 32] > 0.99 and alpha[0, 0] < 0.01  # opaque centre, empty corner
    depth = out.depth[32, 32, 0]
    assert 0.45 < depth < 0.55  # the near surface of an ellipsoid 10 cm deep, 60 cm away
