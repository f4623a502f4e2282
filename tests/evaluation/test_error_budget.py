"""The error budget: a partition of the frame, and each part's share of the squared error."""

import math

import numpy as np
import pytest

from headsplat.evaluation.error_budget import PARTS, ErrorBudget, budget_parts, landmark_hull
from headsplat.evaluation.regions import outline_band
from tests.evaluation.test_regions import _disc, _face_landmarks


def test_parts_partition_the_frame_in_order_of_claim():
    size = 128
    alpha = _disc(size, 50)
    landmarks = _face_landmarks(size)
    parts = budget_parts(landmarks, alpha)
    assert tuple(parts) == PARTS
    stacked = np.stack(list(parts.values()))
    assert (stacked.sum(0) == 1).all()  # every pixel in exactly one part
    assert (parts["outline"] == outline_band(alpha, 3.0 * size / 256)).all()
    assert parts["mouth"][int(0.7 * size), int(0.5 * size)]
    assert parts["eyes"][int(0.4 * size), int(0.35 * size)]
    hull = landmark_hull(landmarks, size)
    assert not (parts["face"] & ~hull).any() and parts["face"].sum() > 0
    assert not (parts["hair_body"] & (alpha < 0.5)).any() and parts["hair_body"].sum() > 0
    assert not (parts["background"] & (alpha >= 0.5)).any()
    # No face found: no mouth, eyes or face; the mask still splits into outline, hair/body, background.
    lost = budget_parts(np.full((478, 2), np.nan), alpha)
    assert not (lost["mouth"].any() or lost["eyes"].any() or lost["face"].any())
    assert (lost["hair_body"] | lost["outline"] | lost["background"]).all()


def test_an_error_in_one_part_is_charged_to_it_and_pooled_over_frames():
    size = 64
    parts = budget_parts(_face_landmarks(size), _disc(size, 25))
    error = np.zeros((size, size))
    error[parts["mouth"]] = 0.01  # an error of 0.1 in every channel
    budget = ErrorBudget()
    budget.add(error, parts)
    budget.add(np.zeros((size, size)), parts)  # a perfect second frame halves the pooled error
    summary = budget.summary()
    mouth_fraction = parts["mouth"].sum() / size**2
    assert summary["psnr"] == pytest.approx(-10 * math.log10(0.01 * mouth_fraction / 2))
    assert summary["mouth"]["share"] == pytest.approx(100.0)
    assert summary["mouth"]["psnr"] == pytest.approx(-10 * math.log10(0.005))
    assert summary["mouth"]["pixels"] == pytest.approx(100 * mouth_fraction)
    assert math.isinf(summary["mouth"]["psnr_if_perfect"])
    for name in ("outline", "eyes", "face", "hair_body", "background"):
        assert summary[name]["share"] == 0 and math.isinf(summary[name]["psnr"])
        assert summary[name]["psnr_if_perfect"] == pytest.approx(summary["psnr"])
    assert sum(summary[name]["pixels"] for name in PARTS) == pytest.approx(100.0)


def test_an_empty_budget_is_an_error():
    with pytest.raises(ValueError, match="empty"):
        ErrorBudget().summary()
