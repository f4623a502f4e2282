"""Head-model tracking: camera, head pose, expression and identity from 2D landmarks
(:mod:`headsplat.track.fit`), then, as an option, from the pixels (:mod:`headsplat.track.photometric`)."""

TRACKERS = ("landmarks", "photometric")
"""``landmarks``: the fit to MediaPipe's landmarks alone; ``photometric``: that fit, then each
frame's pose and expression fitted to its pixels."""
