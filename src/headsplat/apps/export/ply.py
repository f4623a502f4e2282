"""The standard 3D Gaussian Splatting .ply (Kerbl et al. 2023), as SuperSplat, Spark, viser and
the original viewers read it: binary little-endian vertices with x, y, z, nx, ny, nz (zeros),
f_dc_0..2 (degree-0 SH), opacity (logit), scale_0..2 (log), rot_0..3 (quaternion, w first).
"""

from __future__ import annotations

import os

import numpy as np
import torch

from headsplat.avatar.avatar import Avatar
from headsplat.avatar.gaussians.store import GaussianSet, rgb_to_sh0
from headsplat.geometry import MODEL_TO_OPENCV
from headsplat.io.atomic import atomic_write

FIELDS = ("x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2", "opacity",
          "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3")  # fmt: skip


def write_ply(
    path: str | os.PathLike,
    *,
    means: np.ndarray,
    sh0: np.ndarray,
    opacity_logit: np.ndarray,
    log_scales: np.ndarray,
    quats: np.ndarray,
) -> None:
    """Write N Gaussians (means (N,3), sh0 (N,3), opacity_logit (N,), log_scales (N,3), quats (N,4))
    atomically (temporary name, renamed when complete)."""
    n = len(means)
    columns = [means, np.zeros((n, 3)), sh0, np.reshape(opacity_logit, (n, 1)), log_scales, quats]
    data = np.concatenate([np.asarray(c, dtype=np.float32).reshape(n, -1) for c in columns], axis=1)
    header = ["ply", "format binary_little_endian 1.0", f"element vertex {n}"]
    header += [f"property float {name}" for name in FIELDS] + ["end_header"]
    payload = ("\n".join(header) + "\n").encode("ascii") + data.astype("<f4").tobytes()
    atomic_write(path, lambda p: p.write_bytes(payload))


def write_gaussians(path: str | os.PathLike, gaussians: GaussianSet) -> None:
    """Write posed ``gaussians`` as a standard .ply (atomically)."""
    opacity = gaussians.opacities.clamp(1e-6, 1 - 1e-6)
    write_ply(
        path,
        means=gaussians.means.cpu().numpy(),
        sh0=rgb_to_sh0(gaussians.colours).cpu().numpy(),
        opacity_logit=torch.logit(opacity).cpu().numpy(),
        log_scales=torch.log(gaussians.scales).cpu().numpy(),
        quats=gaussians.quats.cpu().numpy(),
    )


@torch.no_grad()
def export_avatar_ply(avatar: Avatar, path: str | os.PathLike) -> int:
    """Write the avatar at neutral expression, straight gaze, in model space (cm, y up, z forward):
    the condition of the identity pose with the torso following the head.

    Returns:
        The number of Gaussians written.
    """
    condition = avatar.condition(rotation=torch.eye(3), translation=torch.zeros(3), torso=None)
    # Colours as the training camera saw the head from the front (view-dependent mechanisms).
    front = torch.from_numpy(MODEL_TO_OPENCV).float().to(avatar.device)
    gaussians = avatar.posed_gaussians(condition, front)
    write_gaussians(path, gaussians)
    return len(gaussians.means)
