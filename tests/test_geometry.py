"""Rotation maths: Rodrigues round trip, orthonormality, finite gradients at zero."""

import torch

from headsplat.geometry import axis_angle_to_matrix, matrix_to_axis_angle, rotation_angle_deg


def test_round_trip_and_orthonormal():
    r = torch.randn(64, 3, dtype=torch.float64)
    r = (
        r / r.norm(dim=1, keepdim=True) * torch.linspace(0.0, 3.0, 64, dtype=torch.float64)[:, None]
    )  # angles < pi
    R = axis_angle_to_matrix(r)
    eye = torch.eye(3, dtype=torch.float64).expand(64, 3, 3)
    assert torch.allclose(R @ R.transpose(-1, -2), eye, atol=1e-12)
    assert torch.allclose(torch.linalg.det(R), torch.ones(64, dtype=torch.float64))
    assert torch.allclose(matrix_to_axis_angle(R), r, atol=1e-9)


def test_known_rotation_and_angle():
    R = axis_angle_to_matrix(torch.tensor([0.0, 0.0, torch.pi / 2], dtype=torch.float64))
    assert torch.allclose(
        R @ torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64),
        torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64),
        atol=1e-12,
    )
    assert abs(float(rotation_angle_deg(torch.eye(3, dtype=torch.float64), R)) - 90) < 1e-9


def test_gradient_is_finite_at_zero():
    r = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    (axis_angle_to_matrix(r) @ torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)).sum().backward()
    assert torch.isfinite(r.grad).all()
    assert torch.autograd.gradcheck(
        axis_angle_to_matrix, (torch.randn(4, 3, dtype=torch.float64, requires_grad=True),)
    )


def test_view_angles_name_the_side_of_the_head_the_camera_sees():
    import numpy as np

    from headsplat.geometry import MODEL_TO_OPENCV, view_angles

    def posed(axis_angle, translation):
        turn = axis_angle_to_matrix(torch.tensor(axis_angle, dtype=torch.float64)).numpy()
        return MODEL_TO_OPENCV @ turn, np.asarray(translation, float)

    face_on = view_angles(*posed([0.0, 0.0, 0.0], [0.0, 0.0, 60.0]))
    assert np.allclose(face_on, 0.0, atol=1e-9)
    # The head turns 30 degrees to its left (its nose towards +x, the subject's left): the camera
    # now sees its right cheek, from yaw -30.
    assert np.allclose(view_angles(*posed([0.0, np.deg2rad(30), 0.0], [0.0, 0.0, 60.0])), [-30.0, 0.0])
    # Chin down (a turn about +x takes the nose down in model axes): seen from above.
    assert np.allclose(view_angles(*posed([np.deg2rad(20), 0.0, 0.0], [0.0, 0.0, 60.0])), [0.0, 20.0])
    # A head facing the camera's axis but off to the image's right is seen from its right side.
    assert np.allclose(view_angles(*posed([0.0, 0.0, 0.0], [60.0, 0.0, 60.0])), [-45.0, 0.0])
