"""Image metrics, held-out evaluation and test-time tracking refinement."""
