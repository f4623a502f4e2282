"""Differentiable Gaussian rasterization: :func:`rasterize` and its backends."""

from headsplat.render.api import BACKENDS, RasterInfo, Rendering, choose_backend, gsplat_available, rasterize

__all__ = ["BACKENDS", "RasterInfo", "Rendering", "choose_backend", "gsplat_available", "rasterize"]
