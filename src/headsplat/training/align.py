"""Align the training frames' head poses to their images once the avatar has formed.

Landmark tracking leaves each frame about half a degree of head rotation and a couple of
millimetres of translation off, as the refined protocol's fit finds on the training frames. An
avatar trained on those poses averages its outline and features over the jitter and comes out
blurred; on a subject whose hair edge crosses the whole frame a one-pixel misregistration alone
holds the frame's PSNR down (measurements: docs/quality.md, section "The first tables"). Per-frame
corrections learned with the Gaussians (FATE, GaussianAvatars) need many visits per frame; at 2000
steps each of a few hundred frames gets a handful, too few for Adam to settle on each frame's pose.
So here, once the avatar has formed, every training frame's pose is fitted to its image with the
avatar frozen, as the refined protocol fits the test frames
(:func:`headsplat.training.refine.fit_corrections`), at a reduced size to be cheap, and training
goes on at the aligned poses. The corrections are centred
(:class:`~headsplat.training.frames.FrameCorrections`), so the avatar stays in the tracker's frame
and renders the tracker's poses (tracked protocol, driving) as before.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional

from headsplat.avatar.avatar import Avatar
from headsplat.geometry import axis_angle_to_matrix, matrix_to_axis_angle
from headsplat.training.data import FrameData, OnDemand
from headsplat.training.frames import FrameCorrections
from headsplat.training.refine import RefineConfig, fit_corrections


def resized(image: torch.Tensor, size: int) -> torch.Tensor:
    """(size, size, C) the (S, S, C) ``image`` area-resized."""
    if image.shape[0] == size:
        return image
    return functional.interpolate(image.permute(2, 0, 1)[None], size=(size, size), mode="area")[0].permute(
        1, 2, 0
    )


@torch.no_grad()
def align_poses(
    avatar: Avatar, data: FrameData, frames: np.ndarray, *, corrections: FrameCorrections, background: float
) -> dict[str, float]:
    """Fit the pose corrections of ``frames`` (the training frames, in clip order) of ``data`` to
    their images with ``avatar`` frozen, on top of the corrections they have; write them into
    ``corrections`` (centred over ``frames``). Returns the mean change (degrees, cm).
    """
    config = corrections.config
    size = min(config.align_size, data.size)
    camera = avatar.camera(size)
    conditions = [corrections.apply(int(f), data.condition(int(f))) for f in frames]
    targets = OnDemand(lambda i: resized(data.target(int(frames[i]), background), size), len(frames))
    refine = RefineConfig(steps=config.align_steps, lr_expression=0.0)
    with torch.enable_grad():
        fitted = fit_corrections(avatar, conditions, camera, targets, background=background, config=refine)
    index = torch.as_tensor(np.asarray(frames), device=corrections.rotation.device)
    composed = axis_angle_to_matrix(corrections.rotation[index]) @ axis_angle_to_matrix(fitted.rotation)
    corrections.rotation[index] = matrix_to_axis_angle(composed)
    corrections.translation[index] += fitted.translation
    corrections.centre_(index)
    return {
        "rotation_deg": float(fitted.rotation.norm(dim=-1).mean()) * 180 / np.pi,
        "translation_cm": float(fitted.translation.norm(dim=-1).mean()),
    }
