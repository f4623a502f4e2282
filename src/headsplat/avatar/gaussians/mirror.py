"""Gaussians' mirror images across the head's left-right plane (:mod:`headsplat.head.mirror`):
the columns of a Gaussian on the other side of the face that looks like this one seen in a
mirror (symmetric completion copies the seen side onto the unseen one with it)."""

from __future__ import annotations

import torch
from torch import Tensor

from headsplat.avatar.gaussians.binding import face_frames
from headsplat.geometry import matrix_to_quaternion, quaternion_to_matrix
from headsplat.head.mirror import REFLECTION, mirror_points


def mirrored_columns(head, store, rows: Tensor) -> dict[str, Tensor]:
    """The store's columns (R, ...) of the mirror images of Gaussians ``rows`` (R,) long.

    On the template (the binding is topological, so any posed mesh carries them alike): the
    mirrored point's triangle and barycentric coordinates; the rotation ``S R S`` (``S`` the
    reflection; a covariance ``R D R^T`` reflects to ``(S R S) D (S R S)^T``) in the new
    triangle's frame; offset and scales kept in centimetres (they are relative to each triangle's
    size); opacity and colour copied.

    Args:
        head: :class:`~headsplat.avatar.head_mesh.HeadMesh`. store:
            :class:`~headsplat.avatar.gaussians.store.GaussianStore`.
    """
    device = store.sh0.device
    template = head.template.detach().cpu().double()
    triangles = head.triangles.cpu()
    source = store.triangle[rows].cpu()
    triangle, bary, _ = mirror_points(
        template.numpy(),
        triangles.numpy(),
        head.mirror(),
        head.triangle_material.cpu().numpy(),
        triangle=source.numpy(),
        bary=store.bary[rows].detach().cpu().double().numpy(),
    )
    triangle = torch.from_numpy(triangle)
    frames = face_frames(template, triangles)
    reflection = torch.from_numpy(REFLECTION)
    local = quaternion_to_matrix(
        torch.nn.functional.normalize(store.rotation[rows].detach().cpu().double(), dim=-1)
    )
    world = reflection @ frames.rotation[source] @ local @ reflection
    rotation = matrix_to_quaternion(frames.rotation[triangle].transpose(-1, -2) @ world)
    size = (frames.scale[source] / frames.scale[triangle])[:, None]
    columns = {
        "triangle": triangle,
        "bary": torch.from_numpy(bary),
        # The offset's tanh bound is the same on both sides (mirrored materials); the distance it
        # gives is relative to the triangle's size.
        "offset": torch.atanh(
            (torch.tanh(store.offset[rows].detach().cpu().double()) * size).clamp(-0.999, 0.999)
        ),
        "rotation": rotation,
        "log_scale": store.log_scale[rows].detach().cpu().double() + torch.log(size),
        "opacity": store.opacity[rows].detach().cpu().double(),
        "sh0": store.sh0[rows].detach().cpu().double(),
    }
    dtypes = {name: getattr(store, name).dtype for name in columns}
    return {name: value.to(device=device, dtype=dtypes[name]) for name, value in columns.items()}
