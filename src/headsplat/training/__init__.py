"""Training an avatar against a subject's frames."""
