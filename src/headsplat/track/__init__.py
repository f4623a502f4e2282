"""Head-model tracking: camera, head pose, expression and identity from 2D landmarks
(:mod:`headsplat.track.fit`), then each frame's pose and expression from its pixels
(:mod:`headsplat.track.photometric`), unless the landmarks alone are asked for."""

TRACKERS = ("landmarks", "photometric")
"""``landmarks``: the fit to MediaPipe's landmarks alone; ``photometric``: that fit, then each
frame's pose and expression fitted to its pixels."""

DEFAULT_TRACKER = "photometric"
"""The tracker of ``preprocess``, ``fit`` and video drivers unless told otherwise: held out at their
tracked conditions, avatars score higher with it on every shared clip measured (refined, on all
but one; docs/quality.md, "Photometric tracking on seven clips")."""
