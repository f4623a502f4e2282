"""``rasterize``: one function, several backends."""

from __future__ import annotations

import importlib.util
from typing import Literal

import torch
from torch import Tensor

from headsplat.render.projection import Camera
from headsplat.render.result import RenderBackend, Rendering

Backend = Literal["auto", "reference", "cpu", "gsplat"]
BACKENDS: tuple[str, ...] = ("reference", "cpu", "gsplat")


def gsplat_available() -> bool:
    """True when the ``gsplat`` package (the ``cuda`` extra) can be imported."""
    return importlib.util.find_spec("gsplat") is not None


def choose_backend(device: torch.device, backend: Backend = "auto") -> str:
    """The backend :func:`rasterize` uses for tensors on ``device``.

    ``auto``: CUDA tensors -> ``gsplat``; CPU tensors -> ``cpu``; others -> ``reference``.

    Raises:
        ValueError: an unknown backend, one that cannot take ``device``'s tensors, or ``auto``
            on CUDA without gsplat (the dense ``reference`` is far too slow to fall back to
            silently; name it to use it anyway).
    """
    if backend != "auto":
        if backend not in BACKENDS:
            raise ValueError(f"unknown rasterizer backend {backend!r}; choose one of {BACKENDS}")
        if backend == "gsplat" and device.type != "cuda":
            raise ValueError("backend 'gsplat' needs CUDA tensors; use 'cpu' on the CPU")
        if backend == "cpu" and device.type != "cpu":
            raise ValueError(f"backend 'cpu' needs CPU tensors, got {device.type} tensors")
        return backend
    if device.type == "cuda":
        if not gsplat_available():
            raise ValueError(
                "rasterizing CUDA tensors needs gsplat, which is not installed: `pip install "
                "headsplat[cuda]` (or pass backend='reference', the slow dense oracle, or use CPU tensors)"
            )
        return "gsplat"
    return "cpu" if device.type == "cpu" else "reference"


def _check_inputs(tensors: dict[str, Tensor], width: int, height: int) -> None:
    """Validate shapes, dtypes, devices and finiteness. Raises ValueError naming the tensor."""
    means = tensors["means"]
    if means.ndim != 2 or means.shape[1] != 3:
        raise ValueError(f"means must have shape (N, 3), got {tuple(means.shape)}")
    n = means.shape[0]
    expected = {
        "quats": (n, 4),
        "scales": (n, 3),
        "opacities": (n,),
        "K": (3, 3),
        "viewmat": (4, 4),
    }
    for name, shape in expected.items():
        if tuple(tensors[name].shape) != shape:
            raise ValueError(f"{name} must have shape {shape}, got {tuple(tensors[name].shape)}")
    colors = tensors["colors"]
    if colors.ndim != 2 or colors.shape[0] != n or colors.shape[1] < 1:
        raise ValueError(f"colors must have shape (N, C) with N={n}, got {tuple(colors.shape)}")
    if tuple(tensors["background"].shape) != (colors.shape[1],):
        raise ValueError(
            f"background must have shape ({colors.shape[1]},), got {tuple(tensors['background'].shape)}"
        )
    if width < 1 or height < 1:
        raise ValueError(f"width and height must be positive, got {width} x {height}")
    for name, tensor in tensors.items():
        if not tensor.is_floating_point():
            raise ValueError(f"{name} must be a floating-point tensor, got {tensor.dtype}")
        if tensor.dtype != means.dtype:
            raise ValueError(f"{name} is {tensor.dtype} but means is {means.dtype}; use one dtype")
        if tensor.device != means.device:
            raise ValueError(f"{name} is on {tensor.device} but means is on {means.device}")
    # One host synchronisation for all tensors (a GPU waits for its queue at each one), and the
    # search for the culprit only when something is wrong.
    finite = torch.stack([torch.isfinite(tensor).all() for tensor in tensors.values()])
    if not bool(finite.all()):
        culprit = list(tensors)[int(torch.nonzero(~finite)[0, 0])]
        raise ValueError(f"{culprit} contains NaN or infinite values")


def rasterize(
    means: Tensor,
    quats: Tensor,
    scales: Tensor,
    opacities: Tensor,
    colors: Tensor,
    K: Tensor,
    viewmat: Tensor,
    width: int,
    height: int,
    background: Tensor | None = None,
    *,
    near: float = 0.01,
    far: float = 1e10,
    eps2d: float = 0.3,
    backend: Backend = "auto",
) -> Rendering:
    """Render 3D Gaussians into one pinhole camera, differentiably.

    Args:
        means: (N, 3) centres in world space.
        quats: (N, 4) rotations as quaternions, w first; normalised here (zero -> identity).
        scales: (N, 3) standard deviations along the rotated axes (linear, not log).
        opacities: (N,) in [0, 1].
        colors: (N, C) features composited per pixel; C = 3 for RGB (SH degree 0).
        K: (3, 3) pinhole intrinsics.
        viewmat: (4, 4) world-to-camera transform, OpenCV convention (x right, y down,
            z forward); pixel (i, j) has its centre at (j + 0.5, i + 0.5).
        width, height: image size in pixels.
        background: (C,) colour behind the Gaussians; zeros when None.
        near, far: camera-space z range; Gaussians outside it are culled.
        eps2d: screen-space blur added to every 2D covariance (pixels^2), as in 3DGS.
        backend: ``auto`` (see :func:`choose_backend`), ``reference``, ``cpu`` or ``gsplat``.

    Returns:
        :class:`Rendering` (image, alpha, depth, info). Gradients reach every floating-point
        input, including ``K`` and ``viewmat``.

    Raises:
        ValueError: a tensor has the wrong shape, device or dtype, or contains NaN/inf.
    """
    if background is None:
        background = torch.zeros(colors.shape[-1], dtype=colors.dtype, device=colors.device)
    tensors = dict(
        means=means, quats=quats, scales=scales, opacities=opacities, colors=colors,
        K=K, viewmat=viewmat, background=background,
    )  # fmt: skip
    _check_inputs(tensors, width, height)
    chosen = choose_backend(means.device, backend)
    camera = Camera(K, viewmat, width, height, near, far, eps2d)
    return _backend(chosen)(means, quats, scales, opacities, colors, background, camera)


def _backend(name: str) -> RenderBackend:
    """The backend ``name``, imported on first use (gsplat and numba load only when chosen)."""
    if name == "gsplat":
        from headsplat.render.gsplat_backend import rasterize_gsplat

        return rasterize_gsplat
    if name == "cpu":
        from headsplat.render.cpu import render_cpu

        return render_cpu
    from headsplat.render.reference import render_reference

    return render_reference
