"""`headsplat export --sequence CONDITIONS --ply-dir DIR`: one standard 3DGS .ply per frame of a
driven sequence, for tools that know no blendshapes (SuperSplat's and Spark's players, Blender
add-ons): the exact avatar, not the linear export, posed per frame.

Each frame is in the model axes of the avatar's rest pose (cm, y up, z the way the face looks at
rest, as ``export --ply``): the head's motion relative to its rest pose shows, the torso stays.
``sequence.json`` beside the frames gives ``fps``, ``frames``, ``gaussians`` and the axes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from headsplat.apps.export.ply import write_gaussians
from headsplat.avatar.avatar import Avatar
from headsplat.drive.motion import Motion
from headsplat.geometry import matrix_to_quaternion, quaternion_multiply
from headsplat.io.atomic import atomic_folder, check_replaceable
from headsplat.io.progress import ProgressBar

INDEX = "sequence.json"


@torch.no_grad()
def export_sequence(
    avatar: Avatar, motion: Motion, folder: str | os.PathLike, *, progress: bool = True
) -> Path:
    """Write ``frame_00000.ply``... (one per frame of ``motion``) and ``sequence.json`` into ``folder``.

    Raises:
        InputError: ``folder`` exists, is not empty and is not an earlier sequence export.
    """
    folder = Path(folder)
    check_replaceable(folder, INDEX, "a headsplat sequence export")
    rest_rotation, rest_translation = avatar.rest_pose()
    to_rest = rest_rotation.T
    turn = matrix_to_quaternion(to_rest)
    bar = ProgressBar(len(motion), log_every=25) if progress else None
    with atomic_folder(folder) as temporary:
        for f, condition in enumerate(motion.conditions(avatar.rest_pose())):
            gaussians = avatar.posed_gaussians(condition.to(avatar.device))
            means = (gaussians.means - rest_translation) @ to_rest.T
            quats = quaternion_multiply(turn.expand_as(gaussians.quats), gaussians.quats)
            write_gaussians(temporary / f"frame_{f:05d}.ply", gaussians._replace(means=means, quats=quats))
            if bar is not None:
                bar.update(f + 1, {"frames": "ply"})
        index = {
            "fps": motion.fps,
            "frames": len(motion),
            "gaussians": len(avatar.gaussians),
            "axes": "cm; the avatar's rest pose's model axes: +x the subject's left, +y up, +z forward",
        }
        (temporary / INDEX).write_text(json.dumps(index, indent=1))
    return folder
