"""headsplat: an animatable 3D Gaussian head avatar from one ordinary video.

The scripting API: ``headsplat.load_avatar(RUN)`` returns an :class:`~headsplat.avatar.Avatar`;
``avatar.render(avatar.condition(expression=...), avatar.camera())`` renders it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"

if TYPE_CHECKING:
    from headsplat.avatar import Avatar, Camera, Condition, load_avatar

__all__ = ["Avatar", "Camera", "Condition", "load_avatar"]


def __getattr__(name: str):
    # Lazily, so that `headsplat --help` and the preprocessing do not import the avatar's stack.
    if name in __all__:
        import headsplat.avatar

        return getattr(headsplat.avatar, name)
    raise AttributeError(f"module 'headsplat' has no attribute {name!r}")
