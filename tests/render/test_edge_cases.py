"""Degenerate and invalid inputs, on both CPU backends."""

import pytest
import torch

from headsplat.render import choose_backend, rasterize

from .helpers import random_scene, relative_error, render_with_grads

BACKENDS = ("reference", "cpu")
BACKGROUND = torch.tensor([0.25, 0.5, 0.75])


def _assert_empty_image(scene, backend):
    out, grads = render_with_grads(scene, backend, BACKGROUND)
    assert torch.allclose(out["image"], BACKGROUND.expand(scene.height, scene.width, 3))
    assert torch.count_nonzero(out["alpha"]) == 0
    assert torch.count_nonzero(out["depth"]) == 0
    # Only the background can move the image; it receives the summed image weights.
    assert grads["background"].abs().sum() > 0
    for name in ("means", "quats", "scales", "opacities", "colors"):
        assert torch.count_nonzero(grads[name]) == 0, name
        assert torch.isfinite(grads[name]).all(), name
    return out


@pytest.mark.parametrize("backend", BACKENDS)
def test_zero_gaussians(backend):
    scene = random_scene(0, 20, 16, seed=0)
    _assert_empty_image(scene, backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_all_behind_the_camera(backend):
    scene = random_scene(50, 20, 16, seed=1)
    scene.viewmat[2, 3] -= 100.0  # move every Gaussian to negative camera z
    _assert_empty_image(scene, backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_all_off_screen(backend):
    scene = random_scene(50, 20, 16, seed=2)
    scene.K[0, 2] += 10_000.0  # shift the principal point far to the side
    _assert_empty_image(scene, backend)


def test_one_huge_gaussian_covers_the_image():
    scene = random_scene(1, 40, 30, seed=3)
    scene.scales[:] = 50.0
    scene.opacities[:] = 0.8
    outputs = {b: render_with_grads(scene, b, BACKGROUND) for b in BACKENDS}
    (ref_out, ref_grads), (cpu_out, cpu_grads) = outputs["reference"], outputs["cpu"]
    assert ref_out["alpha"].min() > 0.79
    for name in ref_out:
        assert relative_error(cpu_out[name], ref_out[name]) <= 1e-3, name
    for name in ("means", "scales", "opacities", "colors", "background"):
        assert relative_error(cpu_grads[name], ref_grads[name]) <= 1e-3, name


@pytest.mark.parametrize("backend", BACKENDS)
def test_zero_quaternion_means_identity(backend):
    scene = random_scene(40, 24, 24, seed=4)
    scene.quats[:10] = 0.0
    identity = random_scene(40, 24, 24, seed=4)
    identity.quats[:10] = torch.tensor([1.0, 0.0, 0.0, 0.0])
    out, grads = render_with_grads(scene, backend, BACKGROUND)
    expected, _ = render_with_grads(identity, backend, BACKGROUND)
    assert torch.allclose(out["image"], expected["image"], atol=1e-6)
    for name, grad in grads.items():
        assert torch.isfinite(grad).all(), name


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", ["means", "quats", "scales", "opacities", "colors", "K", "viewmat"])
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_input_is_named(backend, name, bad):
    scene = random_scene(10, 16, 16, seed=5)
    tensors = dict(
        means=scene.means, quats=scene.quats, scales=scene.scales, opacities=scene.opacities,
        colors=scene.colors, K=scene.K, viewmat=scene.viewmat,
    )  # fmt: skip
    tensors[name] = tensors[name].clone()
    tensors[name].view(-1)[0] = bad
    with pytest.raises(ValueError, match=rf"^{name} contains NaN or infinite values"):
        rasterize(**tensors, width=16, height=16, backend=backend)


def test_bad_shapes_dtypes_and_backends_are_named():
    scene = random_scene(10, 16, 16, seed=6)
    args = [*scene.tensors(), scene.K, scene.viewmat, 16, 16]
    with pytest.raises(ValueError, match=r"^scales must have shape"):
        rasterize(*args[:2], scene.scales[:, :2], *args[3:])
    with pytest.raises(ValueError, match=r"^background must have shape"):
        rasterize(*args, torch.zeros(4))
    with pytest.raises(ValueError, match=r"^K is torch\.float64 but means is torch\.float32"):
        rasterize(*args[:5], scene.K.double(), *args[6:])
    with pytest.raises(ValueError, match="unknown rasterizer backend"):
        rasterize(*args, backend="opengl")
    with pytest.raises(ValueError, match="needs CUDA tensors"):
        rasterize(*args, backend="gsplat")


def test_auto_backend_choice(monkeypatch):
    assert choose_backend(torch.device("cpu")) == "cpu"
    assert choose_backend(torch.device("cpu"), "reference") == "reference"
    monkeypatch.setattr("headsplat.render.api.gsplat_available", lambda: True)
    assert choose_backend(torch.device("cuda")) == "gsplat"
    # CUDA without gsplat: a clear error with the fix, not a silent dense fallback.
    monkeypatch.setattr("headsplat.render.api.gsplat_available", lambda: False)
    with pytest.raises(ValueError, match=r"pip install headsplat\[cuda\]"):
        choose_backend(torch.device("cuda"))
    assert choose_backend(torch.device("cuda"), "reference") == "reference"


def test_the_finiteness_check_synchronises_once_whatever_the_tensor_count(monkeypatch):
    """Each bool() of a device tensor waits for the GPU's queue; the check does one per call,
    not one per input tensor (counted on the CPU by patching Tensor.__bool__)."""
    scene = random_scene(10, 16, 16, seed=7)
    calls = []
    original = torch.Tensor.__bool__

    def counting(tensor):
        calls.append(tensor.shape)
        return original(tensor)

    monkeypatch.setattr(torch.Tensor, "__bool__", counting)
    from headsplat.render.api import _check_inputs

    tensors = dict(
        means=scene.means, quats=scene.quats, scales=scene.scales, opacities=scene.opacities,
        colors=scene.colors, K=scene.K, viewmat=scene.viewmat, background=torch.zeros(3),
    )  # fmt: skip
    _check_inputs(tensors, 16, 16)
    assert len(calls) == 1
