"""Numba EWA projection for the ``cpu`` backend, forward and hand-written backward.

The same function as :func:`headsplat.render.projection.project_gaussians` (its torch
autograd twin is the reference the tests compare against), fused per Gaussian so that
30k Gaussians project in about a millisecond instead of tens of milliseconds of small torch
ops. 3x3 matrices are row-major 9-tuples, which numba keeps in registers.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from headsplat.render.projection import ALPHA_MIN

CAMERA_GRAD = 16
"""Columns of a per-Gaussian camera gradient row: R (9, row-major), t (3), fx, fy, cx, cy."""
_NORM_EPS = 1e-12  # torch.nn.functional.normalize's default


@nb.njit(cache=True)
def _matmul(a, b):
    return (
        a[0] * b[0] + a[1] * b[3] + a[2] * b[6], a[0] * b[1] + a[1] * b[4] + a[2] * b[7],
        a[0] * b[2] + a[1] * b[5] + a[2] * b[8], a[3] * b[0] + a[4] * b[3] + a[5] * b[6],
        a[3] * b[1] + a[4] * b[4] + a[5] * b[7], a[3] * b[2] + a[4] * b[5] + a[5] * b[8],
        a[6] * b[0] + a[7] * b[3] + a[8] * b[6], a[6] * b[1] + a[7] * b[4] + a[8] * b[7],
        a[6] * b[2] + a[7] * b[5] + a[8] * b[8],
    )  # fmt: skip


@nb.njit(cache=True)
def _transpose(a):
    return (a[0], a[3], a[6], a[1], a[4], a[7], a[2], a[5], a[8])


@nb.njit(cache=True)
def _unit_quat(qw, qx, qy, qz):
    norm = max(np.sqrt(qw * qw + qx * qx + qy * qy + qz * qz), _NORM_EPS)
    return qw / norm, qx / norm, qy / norm, qz / norm, norm


@nb.njit(cache=True)
def _rotation(w, x, y, z):
    return (
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    )  # fmt: skip


@nb.njit(cache=True)
def _covariances(quat, scale, cam_rot):
    """Returns (rotation of the Gaussian, M = rotation * diag(scale), world cov, camera cov)."""
    w, x, y, z, _ = _unit_quat(quat[0], quat[1], quat[2], quat[3])
    rot = _rotation(w, x, y, z)
    s0, s1, s2 = scale[0], scale[1], scale[2]
    m = (rot[0] * s0, rot[1] * s1, rot[2] * s2, rot[3] * s0, rot[4] * s1, rot[5] * s2,
         rot[6] * s0, rot[7] * s1, rot[8] * s2)  # fmt: skip
    cov = _matmul(m, _transpose(m))
    cov_cam = _matmul(_matmul(cam_rot, cov), _transpose(cam_rot))
    return rot, m, cov, cov_cam


@nb.njit(cache=True)
def _frustum_limits(fx, fy, cx, cy, width, height):
    """Clamp range of x/z and y/z for the Jacobian (gsplat / 3DGS: 1.3x the half field of view)."""
    x_low = -(cx / fx + 0.15 * width / fx)
    x_high = (width - cx) / fx + 0.15 * width / fx
    y_low = -(cy / fy + 0.15 * height / fy)
    y_high = (height - cy) / fy + 0.15 * height / fy
    return x_low, x_high, y_low, y_high


@nb.njit(cache=True)
def _jacobian_cov2d(x, y, z, fx, fy, tx, ty, cov_cam):
    """J and J cov_cam J^T for the pinhole Jacobian at clamped (tx, ty, z)."""
    j00, j02 = fx / z, -fx * tx / (z * z)
    j11, j12 = fy / z, -fy * ty / (z * z)
    c = cov_cam
    # rows of J @ cov_cam
    r0 = (j00 * c[0] + j02 * c[6], j00 * c[1] + j02 * c[7], j00 * c[2] + j02 * c[8])
    r1 = (j11 * c[3] + j12 * c[6], j11 * c[4] + j12 * c[7], j11 * c[5] + j12 * c[8])
    v00 = r0[0] * j00 + r0[2] * j02
    v01 = r0[1] * j11 + r0[2] * j12
    v11 = r1[1] * j11 + r1[2] * j12
    return j00, j02, j11, j12, v00, v01, v11


@nb.njit(cache=True)
def _clamped(value, low, high):
    return min(max(value, low), high)


@nb.njit(cache=True, parallel=True)
def project_forward(means, quats, scales, opacities, K, viewmat, width, height, near, far,
                    eps2d, means2d, conics, depths, radii, visible):  # fmt: skip
    """Fill means2d (N, 2), conics (N, 3), depths (N,), radii (N, 2) int32, visible (N,)."""
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    cam_rot = (viewmat[0, 0], viewmat[0, 1], viewmat[0, 2], viewmat[1, 0], viewmat[1, 1],
               viewmat[1, 2], viewmat[2, 0], viewmat[2, 1], viewmat[2, 2])  # fmt: skip
    x_low, x_high, y_low, y_high = _frustum_limits(fx, fy, cx, cy, width, height)
    for i in nb.prange(means.shape[0]):
        mx, my, mz = means[i, 0], means[i, 1], means[i, 2]
        x = cam_rot[0] * mx + cam_rot[1] * my + cam_rot[2] * mz + viewmat[0, 3]
        y = cam_rot[3] * mx + cam_rot[4] * my + cam_rot[5] * mz + viewmat[1, 3]
        z = cam_rot[6] * mx + cam_rot[7] * my + cam_rot[8] * mz + viewmat[2, 3]
        depths[i] = z
        radii[i, 0] = radii[i, 1] = 0
        visible[i] = False
        means2d[i, 0] = means2d[i, 1] = 0.0
        conics[i, 0] = conics[i, 1] = conics[i, 2] = 0.0
        if not (z > near and z < far):
            continue
        tx = z * _clamped(x / z, x_low, x_high)
        ty = z * _clamped(y / z, y_low, y_high)
        _, _, _, cov_cam = _covariances(quats[i], scales[i], cam_rot)
        _, _, _, _, v00, v01, v11 = _jacobian_cov2d(x, y, z, fx, fy, tx, ty, cov_cam)
        v00 += eps2d
        v11 += eps2d
        det = v00 * v11 - v01 * v01
        u, v = fx * x / z + cx, fy * y / z + cy
        means2d[i, 0], means2d[i, 1] = u, v
        if det <= 0.0:
            continue
        conics[i, 0], conics[i, 1], conics[i, 2] = v11 / det, -v01 / det, v00 / det
        if opacities[i] < ALPHA_MIN:
            continue
        extent = np.sqrt(2.0 * np.log(opacities[i] / ALPHA_MIN))
        rx = np.ceil(extent * np.sqrt(max(v00, 0.0)))
        ry = np.ceil(extent * np.sqrt(max(v11, 0.0)))
        if rx <= 0 or ry <= 0 or u + rx <= 0 or u - rx >= width or v + ry <= 0 or v - ry >= height:
            continue
        radii[i, 0], radii[i, 1] = int(rx), int(ry)
        visible[i] = True


@nb.njit(cache=True)
def _rotation_vjp(w, x, y, z, g):
    """Gradient of the unit quaternion (w, x, y, z) given g = dL/d rotation (9-tuple)."""
    gw = 2 * (-z * g[1] + y * g[2] + z * g[3] - x * g[5] - y * g[6] + x * g[7])
    gx = 2 * (y * g[1] + z * g[2] + y * g[3] - 2 * x * g[4] - w * g[5] + z * g[6] + w * g[7] - 2 * x * g[8])
    gy = 2 * (-2 * y * g[0] + x * g[1] + w * g[2] + x * g[3] + z * g[5] - w * g[6] + z * g[7] - 2 * y * g[8])
    gz = 2 * (-2 * z * g[0] - w * g[1] + x * g[2] + w * g[3] - 2 * z * g[4] + y * g[5] + x * g[6] + y * g[7])
    return gw, gx, gy, gz


@nb.njit(cache=True, parallel=True)
def project_backward(means, quats, scales, K, viewmat, width, height, eps2d, visible,
                     grad_means2d, grad_conics, grad_depths, grad_means, grad_quats,
                     grad_scales, grad_camera):  # fmt: skip
    """Vector-Jacobian product of :func:`project_forward` (culled Gaussians get zeros).

    Fills grad_means (N, 3), grad_quats (N, 4), grad_scales (N, 3) and grad_camera
    (N, :data:`CAMERA_GRAD`), the per-Gaussian terms of the viewmat and K gradients.
    """
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    cam_rot = (viewmat[0, 0], viewmat[0, 1], viewmat[0, 2], viewmat[1, 0], viewmat[1, 1],
               viewmat[1, 2], viewmat[2, 0], viewmat[2, 1], viewmat[2, 2])  # fmt: skip
    x_low, x_high, y_low, y_high = _frustum_limits(fx, fy, cx, cy, width, height)
    for i in nb.prange(means.shape[0]):
        grad_means[i, :] = 0.0
        grad_quats[i, :] = 0.0
        grad_scales[i, :] = 0.0
        grad_camera[i, :] = 0.0
        if not visible[i]:
            continue
        mx, my, mz = means[i, 0], means[i, 1], means[i, 2]
        x = cam_rot[0] * mx + cam_rot[1] * my + cam_rot[2] * mz + viewmat[0, 3]
        y = cam_rot[3] * mx + cam_rot[4] * my + cam_rot[5] * mz + viewmat[1, 3]
        z = cam_rot[6] * mx + cam_rot[7] * my + cam_rot[8] * mz + viewmat[2, 3]
        ratio_x, ratio_y = x / z, y / z
        clamped_x = ratio_x < x_low or ratio_x > x_high
        clamped_y = ratio_y < y_low or ratio_y > y_high
        bound_x = _clamped(ratio_x, x_low, x_high)
        bound_y = _clamped(ratio_y, y_low, y_high)
        tx, ty = z * bound_x, z * bound_y
        rot, m, cov, cov_cam = _covariances(quats[i], scales[i], cam_rot)
        j00, j02, j11, j12, v00, v01, v11 = _jacobian_cov2d(x, y, z, fx, fy, tx, ty, cov_cam)
        v00 += eps2d
        v11 += eps2d
        det = v00 * v11 - v01 * v01
        qa, qb, qc = v11 / det, -v01 / det, v00 / det

        # conic = V^-1  =>  dV = -Q dQ Q, with dQ symmetric (off-diagonal gets half of d b).
        ga, gb, gc = grad_conics[i, 0], 0.5 * grad_conics[i, 1], grad_conics[i, 2]
        t00, t01 = ga * qa + gb * qb, ga * qb + gb * qc
        t10, t11 = gb * qa + gc * qb, gb * qb + gc * qc
        d00 = -(qa * t00 + qb * t10)
        d01 = -(qa * t01 + qb * t11)
        d11 = -(qb * t01 + qc * t11)

        # V = J C J^T  =>  dC = J^T dV J,  dJ = 2 dV J C
        dvj0 = (d00 * j00, d01 * j11, d00 * j02 + d01 * j12)  # rows of dV @ J
        dvj1 = (d01 * j00, d11 * j11, d01 * j02 + d11 * j12)
        c = cov_cam
        gj00 = 2 * (dvj0[0] * c[0] + dvj0[1] * c[3] + dvj0[2] * c[6])
        gj02 = 2 * (dvj0[0] * c[2] + dvj0[1] * c[5] + dvj0[2] * c[8])
        gj11 = 2 * (dvj1[0] * c[1] + dvj1[1] * c[4] + dvj1[2] * c[7])
        gj12 = 2 * (dvj1[0] * c[2] + dvj1[1] * c[5] + dvj1[2] * c[8])
        # dC = J^T dV J with J = [[j00, 0, j02], [0, j11, j12]]
        gc_cam = (
            j00 * dvj0[0], j00 * dvj0[1], j00 * dvj0[2],
            j11 * dvj1[0], j11 * dvj1[1], j11 * dvj1[2],
            j02 * dvj0[0] + j12 * dvj1[0], j02 * dvj0[1] + j12 * dvj1[1], j02 * dvj0[2] + j12 * dvj1[2],
        )  # fmt: skip

        # Jacobian entries depend on z and the clamped tx, ty.
        z2, z3 = z * z, z * z * z
        grad_tx, grad_ty = -fx / z2 * gj02, -fy / z2 * gj12
        gx_cam = grad_means2d[i, 0] * fx / z
        gy_cam = grad_means2d[i, 1] * fy / z
        gz_cam = grad_depths[i] - (grad_means2d[i, 0] * fx * x + grad_means2d[i, 1] * fy * y) / z2
        gz_cam += -fx / z2 * gj00 - fy / z2 * gj11 + 2 * fx * tx / z3 * gj02 + 2 * fy * ty / z3 * gj12
        grad_fx = grad_means2d[i, 0] * ratio_x + gj00 / z - gj02 * tx / z2
        grad_fy = grad_means2d[i, 1] * ratio_y + gj11 / z - gj12 * ty / z2
        grad_cx, grad_cy = grad_means2d[i, 0], grad_means2d[i, 1]
        if clamped_x:  # tx = z * bound, bound a function of fx, cx
            gz_cam += grad_tx * bound_x
            grad_fx += -grad_tx * z * bound_x / fx
            grad_cx += -grad_tx * z / fx
        else:
            gx_cam += grad_tx
        if clamped_y:
            gz_cam += grad_ty * bound_y
            grad_fy += -grad_ty * z * bound_y / fy
            grad_cy += -grad_ty * z / fy
        else:
            gy_cam += grad_ty

        # C_cam = R Sigma R^T  =>  dSigma = R^T dC R,  dR += 2 dC R Sigma  (dC symmetric)
        gc_sym = (
            gc_cam[0], 0.5 * (gc_cam[1] + gc_cam[3]), 0.5 * (gc_cam[2] + gc_cam[6]),
            0.5 * (gc_cam[1] + gc_cam[3]), gc_cam[4], 0.5 * (gc_cam[5] + gc_cam[7]),
            0.5 * (gc_cam[2] + gc_cam[6]), 0.5 * (gc_cam[5] + gc_cam[7]), gc_cam[8],
        )  # fmt: skip
        g_cov = _matmul(_matmul(_transpose(cam_rot), gc_sym), cam_rot)
        g_rot_cam = _matmul(_matmul(gc_sym, cam_rot), cov)
        # Sigma = M M^T  =>  dM = 2 dSigma M ; M = rot diag(s)
        g_m = _matmul(g_cov, m)
        s0, s1, s2 = scales[i, 0], scales[i, 1], scales[i, 2]
        grad_scales[i, 0] = 2 * (g_m[0] * rot[0] + g_m[3] * rot[3] + g_m[6] * rot[6])
        grad_scales[i, 1] = 2 * (g_m[1] * rot[1] + g_m[4] * rot[4] + g_m[7] * rot[7])
        grad_scales[i, 2] = 2 * (g_m[2] * rot[2] + g_m[5] * rot[5] + g_m[8] * rot[8])
        g_rot = (2 * g_m[0] * s0, 2 * g_m[1] * s1, 2 * g_m[2] * s2, 2 * g_m[3] * s0, 2 * g_m[4] * s1,
                 2 * g_m[5] * s2, 2 * g_m[6] * s0, 2 * g_m[7] * s1, 2 * g_m[8] * s2)  # fmt: skip
        w, qx, qy, qz, norm = _unit_quat(quats[i, 0], quats[i, 1], quats[i, 2], quats[i, 3])
        gw, gx, gy, gz = _rotation_vjp(w, qx, qy, qz, g_rot)
        if norm > _NORM_EPS:  # through q / |q|
            radial = w * gw + qx * gx + qy * gy + qz * gz
            gw, gx, gy, gz = gw - w * radial, gx - qx * radial, gy - qy * radial, gz - qz * radial
        grad_quats[i, 0], grad_quats[i, 1] = gw / norm, gx / norm
        grad_quats[i, 2], grad_quats[i, 3] = gy / norm, gz / norm

        # x_cam = R m + t
        for r in range(3):
            g_r = (gx_cam, gy_cam, gz_cam)[r]
            grad_means[i, 0] += cam_rot[3 * r] * g_r
            grad_means[i, 1] += cam_rot[3 * r + 1] * g_r
            grad_means[i, 2] += cam_rot[3 * r + 2] * g_r
            grad_camera[i, 3 * r] = g_r * mx + 2 * g_rot_cam[3 * r]
            grad_camera[i, 3 * r + 1] = g_r * my + 2 * g_rot_cam[3 * r + 1]
            grad_camera[i, 3 * r + 2] = g_r * mz + 2 * g_rot_cam[3 * r + 2]
            grad_camera[i, 9 + r] = g_r
        grad_camera[i, 12], grad_camera[i, 13] = grad_fx, grad_fy
        grad_camera[i, 14], grad_camera[i, 15] = grad_cx, grad_cy
