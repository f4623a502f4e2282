"""Which parts of the head a clip showed: a head that turns shows its sides, one that looks
ahead does not, and the pictures say where."""

from __future__ import annotations

import numpy as np
import torch

from headsplat.geometry import MODEL_TO_OPENCV, axis_angle_to_matrix
from headsplat.preprocess.coverage import (
    TILE,
    coverage_image,
    coverage_warnings,
    part_coverage,
    triangle_visibility,
    view_histogram,
)

SIZE = 256


def turning_head(model, yaw_degrees: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(F, V, 3) the mean head in camera space at each yaw (its nose towards the subject's left for
    > 0), 60 cm away; K for SIZE pixels."""
    turns = axis_angle_to_matrix(
        torch.tensor(np.c_[0 * yaw_degrees, np.deg2rad(yaw_degrees), 0 * yaw_degrees])
    )
    rotation = MODEL_TO_OPENCV @ turns.numpy()
    vertices = np.einsum("fij,vj->fvi", rotation, model.shape.mean) + np.array([0.0, 0.0, 60.0])
    K = np.array([[2.0 * SIZE, 0, SIZE / 2], [0, 2.0 * SIZE, SIZE / 2], [0, 0, 1]])
    return vertices, K


def test_a_turning_head_shows_its_sides_and_a_still_one_only_its_front(ict_model):
    still = triangle_visibility(ict_model.triangles, *turning_head(ict_model, np.zeros(3)), SIZE)
    turning = triangle_visibility(
        ict_model.triangles, *turning_head(ict_model, np.linspace(-70, 70, 15)), SIZE
    )
    shares, turned = part_coverage(ict_model, still), part_coverage(ict_model, turning)
    assert shares["the face's front"] > 0.7 and shares["the back of the head"] < 0.05
    for side in ("the subject's left side", "the subject's right side"):
        assert shares[side] < 0.5 <= turned[side]
    assert (turning >= still - 1e-9).all()  # more views never see less
    warned = coverage_warnings(shares)
    assert any("the back of the head" in warning for warning in warned)
    assert not any("left side" in warning for warning in coverage_warnings(turned))
    # Only the head's left half faces a camera the head turned right for (yaw < 0: nose to -x).
    left = part_coverage(
        ict_model, triangle_visibility(ict_model.triangles, *turning_head(ict_model, np.array([-60.0])), SIZE)
    )
    assert left["the subject's left side"] > 0.5 > left["the subject's right side"]


def test_the_pictures_colour_the_unseen_red_and_mark_the_views(ict_model):
    visibility = np.zeros(len(ict_model.triangles))
    face = ict_model.material_triangles("M_Face")
    visibility[face] = 1.0
    image = coverage_image(ict_model, visibility)
    assert image.shape == (TILE, 2 * TILE, 3)
    face_tile, back_tile = image[:, :TILE].reshape(-1, 3), image[:, TILE:].reshape(-1, 3)
    green = (face_tile[:, 1] > 200) & (face_tile[:, 0] < 50)
    red = (back_tile[:, 0] > 150) & (back_tile[:, 1] < 50)
    assert green.mean() > 0.3 and red.mean() > 0.3
    histogram = view_histogram(np.array([[45.0, 0.0]] * 5), size=180)
    dark = np.argwhere((histogram[..., 0] < 100) & (histogram[..., 2] > 200))  # blue, not the labels
    assert (
        len(dark) and abs(dark[:, 1].mean() - (45 + 90) / 180 * 180) < 6 and abs(dark[:, 0].mean() - 90) < 6
    )
