"""EWA projection of 3D Gaussians to screen-space ellipses (pure PyTorch, differentiable).

Conventions (shared by every backend):

* Camera: OpenCV, x right, y down, z forward. ``viewmat`` maps world to camera
  (``x_cam = R @ x_world + t``); ``K`` is the usual pinhole matrix.
* Pixels: pixel ``(row i, column j)`` has its centre at image coordinates
  ``(j + 0.5, i + 0.5)``; the image spans ``[0, width] x [0, height]``. This is gsplat's
  convention, so a principal point of ``(width / 2, height / 2)`` is the image centre.
* Quaternions are ``(w, x, y, z)``, normalised here; the zero quaternion means identity.

The maths follows Zwicker et al., "EWA Splatting" (2002), as used by 3D Gaussian Splatting
(Kerbl et al., 2023) and gsplat: the 2D covariance is ``J W Sigma W^T J^T`` with the
Jacobian evaluated at a view-frustum-clamped point, blurred by ``eps2d`` pixels^2. The
screen-space extent is gsplat's opacity-aware box (Radl et al., StopThePop, 2024, B.2):
outside ``sqrt(2 ln(255 o)) * sigma`` per axis a Gaussian's alpha is below 1/255, so the
box is exact for the compositing rule, not an approximation.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

ALPHA_MIN = 1.0 / 255.0
"""Contributions with a smaller alpha are skipped (3DGS rule)."""
ALPHA_MAX = 0.999
"""Per-Gaussian alpha is clamped to this (gsplat's value)."""
TRANSMITTANCE_MIN = 1e-4
"""A pixel stops compositing before a Gaussian that would take its transmittance to or below this."""


@dataclass(frozen=True)
class Camera:
    """One pinhole camera: K (3, 3), viewmat (4, 4) world-to-camera (OpenCV), image size,
    the z range that is kept, and the screen-space blur added to every 2D covariance."""

    K: Tensor
    viewmat: Tensor
    width: int
    height: int
    near: float = 0.01
    far: float = 1e10
    eps2d: float = 0.3


@dataclass
class Projected:
    """Screen-space Gaussians for one camera. ``N`` is the number of input Gaussians.

    means2d: (N, 2) pixel coordinates of the centres.
    conics: (N, 3) the inverse 2D covariance ``(a, b, c)``: ``[[a, b], [b, c]]``.
    depths: (N,) camera-space z.
    radii: (N, 2) int32 half-extents in pixels of the box outside which alpha < 1/255;
        0 for Gaussians that are culled.
    visible: (N,) bool, ``radii > 0``.
    """

    means2d: Tensor
    conics: Tensor
    depths: Tensor
    radii: Tensor
    visible: Tensor


def quat_to_rotmat(quats: Tensor) -> Tensor:
    """(N, 4) w-first quaternions (any norm; zero means identity) -> (N, 3, 3) rotations."""
    q = torch.nn.functional.normalize(quats, dim=-1)
    w, x, y, z = q.unbind(-1)
    rows = (
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    )  # fmt: skip
    return torch.stack(rows, dim=-1).reshape(*quats.shape[:-1], 3, 3)


def covariance_3d(quats: Tensor, scales: Tensor) -> Tensor:
    """(N, 4) quaternions, (N, 3) linear scales -> (N, 3, 3) covariances ``R S S R^T``."""
    rs = quat_to_rotmat(quats) * scales[..., None, :]
    return rs @ rs.transpose(-1, -2)


def project_gaussians(
    means: Tensor,
    quats: Tensor,
    scales: Tensor,
    opacities: Tensor,
    camera: Camera,
) -> Projected:
    """Project Gaussians into one pinhole camera (see the module docstring for conventions).

    means (N, 3), quats (N, 4), scales (N, 3), opacities (N,).
    Differentiable with respect to every floating-point input. Culled Gaussians (behind
    ``near`` or beyond ``far``, alpha below 1/255 everywhere, or entirely off-screen) get
    ``radii == 0``; their other outputs are finite but meaningless.
    """
    K, width, height, eps2d = camera.K, camera.width, camera.height, camera.eps2d
    rotation, translation = camera.viewmat[:3, :3], camera.viewmat[:3, 3]
    means_cam = means @ rotation.T + translation
    depth = means_cam[:, 2]
    in_range = (depth > camera.near) & (depth < camera.far)
    # Keep culled Gaussians away from z <= 0 so no inf/NaN reaches the backward pass.
    z = torch.where(in_range, depth, torch.ones_like(depth))
    x, y = means_cam[:, 0], means_cam[:, 1]
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]

    # Frustum-clamped Jacobian of the perspective map (gsplat / 3DGS: 1.3x the half field of view).
    tan_x, tan_y = 0.5 * width / fx, 0.5 * height / fy
    tx = z * torch.clamp(x / z, -(cx / fx + 0.3 * tan_x), (width - cx) / fx + 0.3 * tan_x)
    ty = z * torch.clamp(y / z, -(cy / fy + 0.3 * tan_y), (height - cy) / fy + 0.3 * tan_y)
    zeros = torch.zeros_like(z)
    jacobian = torch.stack(
        (fx / z, zeros, -fx * tx / (z * z), zeros, fy / z, -fy * ty / (z * z)), dim=-1
    ).reshape(-1, 2, 3)
    cov_cam = rotation @ covariance_3d(quats, scales) @ rotation.T
    cov2d = jacobian @ cov_cam @ jacobian.transpose(-1, -2)
    var_x = cov2d[:, 0, 0] + eps2d
    var_y = cov2d[:, 1, 1] + eps2d
    cov_xy = cov2d[:, 0, 1]
    det = var_x * var_y - cov_xy * cov_xy
    positive = det > 0
    det = torch.where(positive, det, torch.ones_like(det))
    conics = torch.stack((var_y / det, -cov_xy / det, var_x / det), dim=-1)
    means2d = torch.stack((fx * x / z + cx, fy * y / z + cy), dim=-1)

    with torch.no_grad():
        opaque_enough = opacities >= ALPHA_MIN
        extent = torch.sqrt(2.0 * torch.log(opacities.clamp_min(ALPHA_MIN) / ALPHA_MIN))
        radii = torch.stack(
            (
                torch.ceil(extent * var_x.clamp_min(0).sqrt()),
                torch.ceil(extent * var_y.clamp_min(0).sqrt()),
            ),
            dim=-1,
        )
        on_screen = (
            (means2d[:, 0] + radii[:, 0] > 0)
            & (means2d[:, 0] - radii[:, 0] < width)
            & (means2d[:, 1] + radii[:, 1] > 0)
            & (means2d[:, 1] - radii[:, 1] < height)
        )
        visible = in_range & positive & opaque_enough & on_screen & (radii > 0).all(-1)
        radii = torch.where(visible[:, None], radii, torch.zeros_like(radii)).to(torch.int32)
    return Projected(means2d, conics, depth, radii, visible)


def with_depth_channel(features: Tensor, background: Tensor, depths: Tensor) -> tuple[Tensor, Tensor]:
    """Append camera z as a last feature channel (background 0), so compositing also
    accumulates depth: (N, C), (C,), (N,) -> (N, C + 1), (C + 1,)."""
    features = torch.cat((features, depths[:, None].to(features.dtype)), dim=1)
    return features, torch.cat((background, background.new_zeros(1)))
