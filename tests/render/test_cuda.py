"""gsplat on a CUDA GPU against the reference (skipped without CUDA and gsplat)."""

import pytest
import torch

from headsplat.render import gsplat_available, rasterize
from headsplat.render.synthetic import head_scene

from .helpers import random_scene, relative_error, render_with_grads

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
    pytest.mark.skipif(not gsplat_available(), reason="needs gsplat (pip install headsplat[cuda])"),
]


def _on(scene, device):
    for field in ("means", "quats", "scales", "opacities", "colors", "K", "viewmat"):
        setattr(scene, field, getattr(scene, field).to(device))
    return scene


@pytest.mark.parametrize("seed", [0, 1])
def test_gsplat_matches_reference(seed):
    background = torch.tensor([0.2, 0.4, 0.6])
    ref_out, ref_grads = render_with_grads(random_scene(500, 64, 48, seed), "reference", background)
    gpu_out, gpu_grads = render_with_grads(
        _on(random_scene(500, 64, 48, seed), "cuda"), "gsplat", background.cuda()
    )
    for name in ("image", "alpha", "depth"):
        assert relative_error(gpu_out[name].cpu(), ref_out[name]) <= 1e-3, name
    for name in ("means", "quats", "scales", "opacities", "colors", "means2d"):
        assert relative_error(gpu_grads[name].cpu(), ref_grads[name]) <= 1e-3, name


def test_auto_picks_gsplat_for_cuda_tensors():
    scene = _on(head_scene(1000, 64), "cuda")
    out = rasterize(*scene.tensors(), scene.K, scene.viewmat, 64, 64)
    assert out.info.backend == "gsplat" and out.image.is_cuda
