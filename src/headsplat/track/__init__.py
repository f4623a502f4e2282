"""Head-model tracking: camera, head pose, expression and identity from 2D landmarks
(:mod:`headsplat.track.fit`), then each frame's pose and expression from its pixels
(:mod:`headsplat.track.photometric`), unless the landmarks alone are asked for."""

TRACKERS = ("landmarks", "photometric")
"""``landmarks``: the fit to MediaPipe's landmarks alone; ``photometric``: that fit, then each
frame's pose and expression fitted to its pixels."""

DEFAULT_TRACKER = "photometric"
"""The tracker of ``preprocess``, ``fit`` and video drivers unless told otherwise: it wins on every
shared clip measured, held-out frames at their tracked conditions and refined alike
(docs/quality.md, "Photometric tracking")."""
