"""Head-model tracking: camera, head pose, expression and identity from 2D landmarks."""
