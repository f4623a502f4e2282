"""Region masks and the metrics inside them."""

import math

import numpy as np
import pytest
import torch

from headsplat.evaluation.regions import (
    LEFT_EYE,
    LIPS_INNER,
    LIPS_OUTER,
    RIGHT_EYE,
    outline_band,
    region_masks,
    region_scores,
    square_crop,
)
from headsplat.metrics import LPIPS, psnr


def _disc(size: int, radius: float) -> np.ndarray:
    y, x = np.mgrid[:size, :size] + 0.5
    return ((x - size / 2) ** 2 + (y - size / 2) ** 2 <= radius**2).astype(np.float32)


def _face_landmarks(size: int, opening: float = 0.5) -> np.ndarray:
    """478 landmarks: the outer lips on a ring about (size/2, 0.7 size), the inner lips on a ring
    inside it ``opening`` x as high as wide, the eyes on rings about (0.35 size, 0.4 size) and
    (0.65 size, 0.4 size), the rest at the centre."""
    marks = np.full((478, 2), size / 2, np.float32)
    for indices, centre, radius, aspect in (
        (LIPS_OUTER, (0.5, 0.7), 0.1, 0.5),
        (LIPS_INNER, (0.5, 0.7), 0.07, opening),
        (RIGHT_EYE, (0.35, 0.4), 0.05, 0.5),
        (LEFT_EYE, (0.65, 0.4), 0.05, 0.5),
    ):
        angle = np.linspace(0, 2 * np.pi, len(indices), endpoint=False)
        ring = np.c_[np.cos(angle), aspect * np.sin(angle)] * radius + centre
        marks[list(indices)] = ring * size
    return marks


def test_outline_band_is_three_pixels_each_side_at_256():
    alpha = _disc(256, 80)
    band = outline_band(alpha, 3.0)
    y, x = np.mgrid[:256, :256] + 0.5
    radius = np.hypot(x - 128, y - 128)
    assert band[np.abs(radius - 80) < 1.5].all()  # on the boundary
    assert not band[np.abs(radius - 80) > 4.6].any()  # beyond 3 px (+ the pixel grid) of it
    assert 0.8 < band.sum() / (2 * np.pi * 80 * 6) < 1.25  # about 6 px wide


def test_region_masks_cover_the_mouth_and_eyes_they_are_drawn_from():
    size = 128
    masks = region_masks(_face_landmarks(size), _disc(size, 50))
    assert set(masks) == {"mouth", "mouth_inside", "eyes", "outline"}
    assert masks["mouth"][int(0.7 * size), int(0.5 * size)]
    assert not masks["mouth"][int(0.4 * size), int(0.35 * size)]
    eye_row = int(0.4 * size)
    assert masks["eyes"][eye_row, int(0.35 * size)] and masks["eyes"][eye_row, int(0.65 * size)]
    assert not masks["eyes"][int(0.7 * size), int(0.5 * size)]
    # The mouth region is the lips' ellipse (semi-axes 12.8, 6.4 px) grown by a fifth of its width
    # (r = 5.1 px): area + perimeter r + pi r^2 (Steiner's formula).
    grown = math.pi * 12.8 * 6.4 + 61.4 * 5.12 + math.pi * 5.12**2
    assert 0.9 * grown < masks["mouth"].sum() < 1.1 * grown
    # No face found: no mouth or eyes, the outline still scored.
    lost = region_masks(np.full((478, 2), np.nan), _disc(size, 50))
    assert not lost["mouth"].any() and not lost["eyes"].any() and lost["outline"].any()
    assert not lost["mouth_inside"].any()


def test_the_mouth_inside_is_the_inner_lip_opening_and_empty_when_closed():
    size = 256
    inside = region_masks(_face_landmarks(size, opening=0.5), _disc(size, 100))["mouth_inside"]
    # The inner ring's ellipse, semi-axes 17.9 and 9.0 px, filled with its edge pixels.
    assert 0.85 * math.pi * 17.92 * 8.96 < inside.sum() < 1.15 * math.pi * 17.92 * 8.96  # + edge pixels
    assert inside[int(0.7 * size), size // 2] and not inside[int(0.7 * size) + 12, size // 2]
    outer = region_masks(_face_landmarks(size), _disc(size, 100))["mouth"]
    assert not (inside & ~outer).any()
    closed = region_masks(_face_landmarks(size, opening=0.01), _disc(size, 100))["mouth_inside"]
    assert not closed.any()


@pytest.mark.parametrize("centre", [(5, 5), (60, 64), (120, 126)])
def test_square_crops_are_at_least_64_wide_and_inside_the_image(centre):
    mask = np.zeros((128, 128), bool)
    mask[centre] = True
    rows, cols = square_crop(mask)
    assert rows.stop - rows.start == cols.stop - cols.start == 64
    assert rows.start >= 0 and rows.stop <= 128 and cols.start >= 0 and cols.stop <= 128
    assert rows.start <= centre[0] < rows.stop and cols.start <= centre[1] < cols.stop
    wide = np.zeros((128, 128), bool)
    wide[10:20, 5:100] = True
    rows, cols = square_crop(wide)
    assert cols == slice(5, 100) and rows.stop - rows.start == 95


def test_region_scores_charge_an_error_to_its_region_only():
    size = 128
    masks = region_masks(_face_landmarks(size), _disc(size, 50))
    target = torch.full((size, size, 3), 0.5)
    image = target.clone()
    mouth = torch.from_numpy(masks["mouth"])
    image[mouth] += 0.1
    scores = region_scores(image, target, masks, LPIPS("alex"))
    assert scores["mouth_psnr"] == pytest.approx(20.0, abs=1e-3)  # an error of 0.1 everywhere inside
    assert scores["mouth_psnr"] < float(psnr(image, target))
    assert math.isinf(scores["eyes_psnr"]) and scores["eyes_ssim"] == pytest.approx(1.0)
    assert scores["eyes_lpips"] < scores["mouth_lpips"]
    assert scores["mouth_lpips"] > 0 and scores["mouth_ssim"] < 1
