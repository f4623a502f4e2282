"""A small hand-made avatar: ``n`` separate triangles in a row, one Gaussian on each, no mechanisms
unless asked for. For tests of the contracts that do not need a real head."""

from __future__ import annotations

import torch

from headsplat.avatar.avatar import Avatar, AvatarConfig, assemble_avatar
from headsplat.avatar.gaussians.store import GaussianStore
from headsplat.avatar.head_mesh import HeadMesh


def strip_head(n: int) -> HeadMesh:
    """``n`` unit triangles side by side in the z = 0 plane (cm), one expression, no eyes."""
    corners = torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    vertices = corners[None] + torch.arange(n, dtype=torch.float32)[:, None, None] * torch.tensor([1.5, 0, 0])
    vertices = vertices.reshape(-1, 3)
    tensors = {
        "template": vertices,
        "neutral": vertices.clone(),
        "identity": torch.zeros(1),
        "expression_basis": torch.zeros(1, 3 * n, 3),
        "triangles": torch.arange(3 * n).reshape(n, 3),
        "triangle_uvs": torch.zeros(n, 3, 2),
        "triangle_material": torch.zeros(n, dtype=torch.long),
        "vertex_eye": torch.full((3 * n,), -1),
        "eye_centres": torch.zeros(2, 3),
        "eye_centre_expression_basis": torch.zeros(1, 2, 3),
    }
    # Its own checksum per size: the head's seams are cached by checksum.
    info = {"name": "strip", "checksum": f"strip-{n}", "expression_names": ["jawOpen"]}
    info["material_names"] = ["M_Face"]
    return HeadMesh(tensors, info)


def strip_avatar(n: int = 50, config: AvatarConfig | None = None, log_scale: float = -2.0) -> Avatar:
    """An avatar on :func:`strip_head`: Gaussian i on triangle i, its colour i (all channels)."""
    config = config or AvatarConfig(mesh_deformers={}, gaussian_deformers={})
    columns = {
        "triangle": torch.arange(n),
        "bary": torch.full((n, 3), 1 / 3),
        "offset": torch.zeros(n, 1),
        "rotation": torch.tensor([1.0, 0, 0, 0]).repeat(n, 1),
        "log_scale": torch.full((n, 3), log_scale),
        "opacity": torch.full((n, 1), 2.0),
        "sh0": torch.arange(n, dtype=torch.float32)[:, None].repeat(1, 3),
    }
    store = GaussianStore(columns, config.gaussians)
    K = torch.tensor([[64.0, 0, 32], [0, 64.0, 32], [0, 0, 1]])
    info = {"size": 64, "fps": 25.0, "background": 1.0}
    rest_translation = torch.tensor([-n * 0.75, 0.0, 40.0])
    return assemble_avatar(
        strip_head(n),
        store,
        config,
        K=K,
        rest_rotation=torch.eye(3),
        rest_translation=rest_translation,
        neutral=torch.zeros(1),
        info=info,
    )


def train_with_deformer(subject, run, deformer: str, steps: int, *settings: str) -> int:
    """``headsplat train`` on a tiny subject with the Gaussian deformer ``deformer`` and
    ``settings`` (``SECTION.FIELD=VALUE``), densifying at every step: the exit code."""
    from headsplat.cli import main

    args = ["train", str(subject), "-o", str(run), "--size", "32", "--texels-per-cm", "0.5"]
    args += ["--steps", str(steps), "--deformer", deformer]
    densify = ("strategy.sampling.start=1", "strategy.sampling.every=1", "strategy.sampling.add=25")
    for setting in (*settings, *densify):
        args += ["--set", setting]
    return main(args)
