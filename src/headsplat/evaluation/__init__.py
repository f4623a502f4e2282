"""Held-out evaluation: region masks, the error budget, the refined and tracked protocols."""
