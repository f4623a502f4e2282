"""Soft mattes around the segmenter's edge, and the flicker measure (synthetic images)."""

import numpy as np
import pytest

from headsplat.preprocess.matting import (
    mask_flicker,
    soft_matte,
    still_runs,
    temporal_mean,
    turn_degrees,
    unknown_band,
)

SIDE = 64
SKIN, WALL = np.array([200, 120, 90]), np.array([40, 70, 200])


def yaw(degrees) -> np.ndarray:
    """(F, 3, 3) rotations about the vertical axis."""
    a = np.radians(np.asarray(degrees, np.float64))
    c, s, zero, one = np.cos(a), np.sin(a), np.zeros_like(a), np.ones_like(a)
    return np.stack([c, zero, s, zero, one, zero, -s, zero, c], -1).reshape(-1, 3, 3)


def test_the_band_lies_on_both_sides_of_the_edge():
    person = np.zeros((SIDE, SIDE), bool)
    person[:, :30] = True
    band = unknown_band(person, 4.0)
    assert band[:, 26:34].all() and not band[:, :25].any() and not band[:, 35:].any()


def test_a_hard_colour_edge_is_found_where_the_blocky_segmenter_missed_it():
    """The colours change at column 37; the segmenter, in 8 px blocks, says 32."""
    image = np.where(np.arange(SIDE)[None, :, None] < 37, SKIN, WALL).repeat(SIDE, 0).astype(np.uint8)
    probability = np.zeros((SIDE, SIDE), np.float32)
    probability[:, :32] = 1.0
    alpha = soft_matte(image, probability, half_width=8.0)
    truth = (np.arange(SIDE) < 37).astype(np.float32)[None].repeat(SIDE, 0)
    assert np.abs(alpha - truth).mean() < 0.01  # the segmenter's own: 5 / 64 = 0.078
    assert np.abs(alpha - truth).max() < 0.1  # hard: no soft ramp where there is none


def test_a_fringe_of_hair_gets_its_fractional_alpha():
    """Hair over a wall thinning out over ten columns (alpha 1 at column 24 to 0 at 34, with a
    camera's noise); the segmenter says person up to column 32, in or out."""
    hair = np.array([60, 40, 20])
    truth = np.clip((34 - np.arange(SIDE)) / 10, 0, 1)[None].repeat(SIDE, 0)
    image = truth[..., None] * hair + (1 - truth[..., None]) * WALL
    image += np.random.default_rng(0).normal(0, 2, image.shape)
    probability = np.zeros((SIDE, SIDE), np.float32)
    probability[:, :32] = 1.0
    alpha = soft_matte(np.clip(image, 0, 255).round().astype(np.uint8), probability, half_width=10.0)
    assert np.abs(alpha - truth).mean() < 0.01  # the segmenter's own: 0.048
    fringe = alpha[:, 25:34]
    assert ((fringe > 0.05) & (fringe < 0.95)).mean() > 0.95  # soft where the hair thins
    assert (np.diff(alpha[:, 24:35].mean(0)) < 0).all()  # and thinning outwards


def test_known_background_stays_background_and_its_cut_sharp():
    image = np.broadcast_to(SKIN, (SIDE, SIDE, 3)).astype(np.uint8).copy()
    image[:, 40:] = WALL
    probability = np.ones((SIDE, SIDE), np.float32)
    probability[:, 40:] = 0.0
    below = np.zeros((SIDE, SIDE), bool)
    below[48:] = True  # below the neck's cut: the segmenter's person, known background
    alpha = soft_matte(image, probability, half_width=6.0, background=below)
    assert (alpha[48:] == 0).all() and (alpha[:40, :30] == 1).all()
    assert np.abs(alpha[:40, 20:60] - (np.arange(20, 60) < 40)).max() < 0.1


def test_turn_degrees_is_the_angle_between_consecutive_rotations():
    assert turn_degrees(yaw([0.0, 1.0, 1.0, -0.5])) == pytest.approx([1.0, 0.0, 1.5], abs=1e-6)


def test_flicker_compares_only_frames_whose_head_held_still():
    masks = np.zeros((4, 32, 32), np.uint8)
    masks[:, 4:28, 4:28] = 255
    masks[2, :, 26:28] = 0  # frame 2's right edge moves in by 2 px
    rotation = yaw([0.0, 0.1, 0.2, 3.0])  # frames 2 -> 3 turn 2.8 degrees: not compared
    flicker = mask_flicker(masks, rotation, edge_width=4.0)
    assert flicker.pairs == 2
    assert flicker.iou == pytest.approx((1.0 + 24 * 22 / (24 * 24)) / 2)
    # The edge bands (4 px inside each region): frame 2's moves 2 px into frame 1's interior there.
    edge_1, edge_2 = 24 * 24 - 16 * 16, 24 * 22 - 16 * 14
    moved_in = 2 * 16
    assert flicker.boundary_iou == pytest.approx((1.0 + (edge_2 - moved_in) / (edge_1 + moved_in)) / 2)
    assert flicker.boundary_iou < flicker.iou  # the edge shows the change the interior hides
    assert mask_flicker(masks.astype(np.float32) / 255, rotation, edge_width=4.0) == flicker
    nothing_still = mask_flicker(masks, rotation[[0, 3, 0, 3]])
    assert nothing_still.pairs == 0 and np.isnan(nothing_still.iou)


def test_the_temporal_mean_averages_within_a_still_run_and_never_across_a_turn():
    rotation = yaw([0.0, 0.1, 0.2, 0.3, 5.0, 5.1, 5.2])  # a turn between frames 3 and 4
    runs = still_runs(rotation)
    assert list(runs) == [0, 0, 0, 0, 1, 1, 1]
    alphas = np.arange(7, dtype=np.float32)[:, None, None] * np.ones((7, 2, 2), np.float32)
    out = [float(a[0, 0]) for a in temporal_mean(iter(alphas), runs, radius=1)]
    # Frame f: the mean of f-1, f, f+1 within its run; frame 3's neighbour 4 is across the turn.
    assert out == pytest.approx([0.5, 1.0, 2.0, 2.5, 4.5, 5.0, 5.5])
    assert [float(a[0, 0]) for a in temporal_mean(iter(alphas), runs, radius=0)] == list(range(7))
    long = [float(a[0, 0]) for a in temporal_mean(iter(alphas), np.zeros(7, int), radius=3)]
    assert long == pytest.approx([1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5])
