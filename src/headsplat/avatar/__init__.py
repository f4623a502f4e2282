"""The avatar: Gaussians bound to a personalised head mesh, the mechanisms that deform them, and
one call that renders it (:meth:`Avatar.render`). See ``docs/architecture.md``."""

from headsplat.avatar.avatar import Avatar, AvatarConfig, create_avatar, load_avatar
from headsplat.avatar.condition import Camera, Condition, pinhole_camera

__all__ = ["Avatar", "AvatarConfig", "Camera", "Condition", "create_avatar", "load_avatar", "pinhole_camera"]
