"""Differentiable Gaussian rasterization: :func:`rasterize` and its backends."""

from headsplat.render.api import BACKENDS, choose_backend, gsplat_available, rasterize
from headsplat.render.result import RasterInfo, RenderBackend, Rendering

__all__ = [
    "BACKENDS",
    "RasterInfo",
    "RenderBackend",
    "Rendering",
    "choose_backend",
    "gsplat_available",
    "rasterize",
]
