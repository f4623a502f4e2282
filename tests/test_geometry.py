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
