"""Driving an avatar: motions (per-frame expression, gaze and head pose) from another video's
tracking, from ARKit blendshape captures or from files, mapped onto an avatar."""
