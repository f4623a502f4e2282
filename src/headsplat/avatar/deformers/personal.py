"""Personalised blendshapes (FATE §3.2): learnable corrections of the head model's neutral shape and
expression basis,

    V = neutral + (B_exp + dB_exp) . expression + dV0,

kept small by weight decay (:meth:`PersonalBlendshapes.param_groups`) and dV0 smooth by a mesh
Laplacian (:meth:`PersonalBlendshapes.losses`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from headsplat.avatar.deformers.base import BuildContext, DeformContext, MeshDeformer, register_mesh_deformer
from headsplat.avatar.modules import LossContext, Losses, ParamGroup
from headsplat.geometry import mesh_edges


@dataclass
class PersonalBlendshapesConfig:
    lr: float = 1e-4
    """Adam's rate for dV0 and dB_exp (cm per step scale)."""
    laplacian_weight: float = 1e3
    """Smoothness of the neutral correction dV0 (squared uniform Laplacian)."""
    offset_weight: float = 1.0
    blendshape_weight: float = 1.0
    """Magnitude penalties of dV0 and dB_exp, applied as Adam weight decay
    (:meth:`PersonalBlendshapes.weight_decays`)."""
    learn_expressions: bool = True
    """Learn dB_exp; False keeps the head model's expressions as they are (the ``fewshot`` preset:
    a few frames show too few expressions to correct 53 of them)."""


def uniform_laplacian(triangles: np.ndarray, n_vertices: int) -> Tensor:
    """Sparse (V, V) uniform graph Laplacian L = I - D^-1 A over the triangles' edges."""
    edges = mesh_edges(torch.from_numpy(triangles)).numpy()
    rows = np.concatenate([edges[:, 0], edges[:, 1]])
    cols = np.concatenate([edges[:, 1], edges[:, 0]])
    degree = np.bincount(rows, minlength=n_vertices).astype(np.float32)
    weights = -1.0 / np.maximum(degree[rows], 1)
    index = np.concatenate([np.stack([rows, cols]), np.tile(np.arange(n_vertices), (2, 1))], axis=1)
    values = np.concatenate([weights, (degree > 0).astype(np.float32)])
    return torch.sparse_coo_tensor(
        torch.from_numpy(index), torch.from_numpy(values), (n_vertices, n_vertices), check_invariants=True
    ).coalesce()


@register_mesh_deformer("personal_blendshapes")
class PersonalBlendshapes(MeshDeformer):
    """Adds dV0 (V, 3) + dB_exp (E, V, 3) . expression in model space."""

    Config = PersonalBlendshapesConfig
    space = "model"

    def __init__(self, config: PersonalBlendshapesConfig, build: BuildContext):
        super().__init__()
        self.config = config
        head = build.head
        self.delta_expression_basis = nn.Parameter(torch.zeros_like(head.expression_basis))
        self.delta_neutral = nn.Parameter(torch.zeros_like(head.neutral))
        with warnings.catch_warnings():  # "sparse CSR support is in beta": products are all we use
            warnings.simplefilter("ignore", UserWarning)
            # CSR: its product is 2x faster than COO's on the CPU. Derived: not checkpointed.
            laplacian = uniform_laplacian(head.triangles.cpu().numpy(), head.n_vertices).to_sparse_csr()
        self.register_buffer("laplacian", laplacian.to(head.neutral.device), persistent=False)

    def correction(self, expression: Tensor) -> Tensor:
        """(V, 3) the learned personal displacement dV0 + dB_exp . expression for (E,)."""
        return self.delta_neutral + torch.einsum("e,evd->vd", expression, self.delta_expression_basis)

    def forward(self, vertices: Tensor, ctx: DeformContext) -> Tensor:
        # Two products rather than one with (basis + delta): no 4M-entry sum every step.
        return vertices + self.correction(ctx.condition.expression)

    def smoothness(self) -> Tensor:
        """Mean squared uniform Laplacian of the neutral correction dV0.

        dB_exp is not smoothed: smoothing it at each frame's expression (same weight) cost held-out
        PSNR (measurements: docs/quality.md, section
        "`avatar.deformers.personal.PersonalBlendshapes.smoothness`"), probably because lips and
        eyelids need corrections that are sharp across their edges.
        """
        return (self.laplacian @ self.delta_neutral).pow(2).sum(-1).mean()

    def weight_decays(self) -> dict[str, float]:
        """Adam L2 coefficients equal to the magnitude penalties ``offset_weight`` x mean over
        vertices of |dV0|^2 and ``blendshape_weight`` x mean over (shape, vertex) of |dB_exp|^2
        (gradient 2 w p / count): applied inside the fused optimizer step, they cost nothing,
        where the loss terms cost two passes over dB_exp's 4M entries each step."""
        n_expression, n_vertices = self.delta_expression_basis.shape[:2]
        return {
            "delta_neutral": 2 * self.config.offset_weight / n_vertices,
            "delta_expression_basis": 2 * self.config.blendshape_weight / (n_expression * n_vertices),
        }

    def param_groups(self) -> list[ParamGroup]:
        decays = self.weight_decays()
        rates = {"delta_expression_basis": self.config.lr if self.config.learn_expressions else 0.0}
        return [
            ParamGroup(
                name, [getattr(self, name)], rates.get(name, self.config.lr), weight_decay=decays[name]
            )
            for name in ("delta_expression_basis", "delta_neutral")
        ]

    def losses(self, ctx: LossContext) -> Losses:
        return {"laplacian": (self.config.laplacian_weight, self.smoothness())}
