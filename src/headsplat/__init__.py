"""headsplat: an animatable 3D Gaussian head avatar from one ordinary video."""

__version__ = "0.1.0"
