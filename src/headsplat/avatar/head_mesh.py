"""The personalised head an avatar renders with, embedded in the avatar: no head-model file is
needed to render, export or drive a trained avatar.

    V(expression, gaze) = gaze_rotation(neutral + expression_basis . expression)

with ``neutral`` = template + identity basis . identity (the subject's tracked identity). Personal
corrections are mesh deformers (:mod:`headsplat.avatar.deformers`), applied before the gaze.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property

import numpy as np
import torch
from torch import Tensor, nn

from headsplat.head.model import HeadModel, UVLayout, apply_gaze

HAIR_MATERIALS = ("M_BackHead",)
"""ICT's scalp, back of the head and neck: where hair (and collars) lie off the skull, so the
geometry stage moves the mesh and the Gaussians bind loosely there."""

TENSORS = (
    "template",
    "neutral",
    "identity",
    "expression_basis",
    "triangles",
    "triangle_uvs",
    "triangle_material",
    "vertex_eye",
    "eye_centres",
    "eye_centre_expression_basis",
)


class HeadMesh(nn.Module):
    """One person's head mesh with its expression and gaze rig (all buffers, nothing learned).

    Buffers: template (V, 3) the model's mean shape; neutral (V, 3) the person's neutral shape;
    identity (I,) their coefficients; expression_basis (E, V, 3); triangles (T, 3) long;
    triangle_uvs (T, 3, 2); triangle_material (T,) long; vertex_eye (V,) 0 / 1 for the first /
    second eyeball, -1 elsewhere; eye_centres (2, 3) at neutral and their
    eye_centre_expression_basis (E, 2, 3). Units: cm, model axes.

    Args:
        tensors: the buffers by name (:data:`TENSORS`).
        info: ``name`` and ``checksum`` of the head model it came from, ``expression_names``,
            ``material_names``.
    """

    def __init__(self, tensors: dict[str, Tensor], info: dict):
        super().__init__()
        for name in TENSORS:
            self.register_buffer(name, tensors[name])
        self.info = {
            "name": info["name"],
            "checksum": info["checksum"],
            "expression_names": list(info["expression_names"]),
            "material_names": list(info["material_names"]),
        }

    @classmethod
    def from_model(cls, model: HeadModel, identity: np.ndarray) -> HeadMesh:
        """The head of ``model`` with identity coefficients ``identity`` (I,)."""
        identity = torch.as_tensor(identity, dtype=torch.float32)
        shape, centres = model.shape, model.eye_centres
        tensors = {
            "template": torch.from_numpy(shape.mean),
            "neutral": torch.from_numpy(shape.mean)
            + torch.einsum("i,ivd->vd", identity, torch.from_numpy(shape.identity_basis)),
            "identity": identity,
            "expression_basis": torch.from_numpy(shape.expression_basis).clone(),
            "triangles": torch.from_numpy(model.triangles),
            "triangle_uvs": torch.from_numpy(model.triangle_uvs),
            "triangle_material": torch.from_numpy(model.triangle_material),
            "vertex_eye": torch.from_numpy(model.vertex_eye),
            "eye_centres": torch.from_numpy(centres.mean)
            + torch.einsum("i,ipd->pd", identity, torch.from_numpy(centres.identity_basis)),
            "eye_centre_expression_basis": torch.from_numpy(centres.expression_basis),
        }
        info = {
            "name": model.name,
            "checksum": model.checksum,
            "expression_names": model.expression_names,
            "material_names": model.material_names,
        }
        return cls(tensors, info)

    @property
    def n_vertices(self) -> int:
        return len(self.neutral)

    @property
    def expression_names(self) -> list[str]:
        return self.info["expression_names"]

    @cached_property
    def _eye(self) -> np.ndarray:
        return self.vertex_eye.cpu().numpy()

    def vertices(self, expression: Tensor) -> Tensor:
        """(V, 3) the linear model at ``expression`` (E,), before corrections and gaze."""
        return self.neutral + torch.einsum("e,evd->vd", expression, self.expression_basis)

    def gaze(self, vertices: Tensor, expression: Tensor, gaze: Tensor) -> Tensor:
        """(V, 3) ``vertices`` with each eyeball turned by ``gaze`` (2, 2) about its centre (which
        moves with ``expression`` (E,))."""
        centres = self.eye_centres + torch.einsum("e,epd->pd", expression, self.eye_centre_expression_basis)
        return apply_gaze(vertices, self._eye, centres, gaze)

    def on_materials(self, names: Sequence[str]) -> Tensor:
        """(T,) bool: the triangles whose material is one of ``names`` (names the head lacks mark none)."""
        ids = [i for i, name in enumerate(self.info["material_names"]) if name in names]
        return torch.isin(self.triangle_material, torch.tensor(ids, device=self.triangle_material.device))

    def hair_triangles(self) -> Tensor:
        """(T,) bool: the triangles of :data:`HAIR_MATERIALS`."""
        return self.on_materials(HAIR_MATERIALS)

    def uv_layout(self) -> UVLayout:
        """The UV layout, sized on the template like the head model's (:func:`sample_uv`)."""
        return UVLayout(
            self.template.cpu().numpy(),
            self.triangles.cpu().numpy(),
            self.triangle_uvs.cpu().numpy(),
            self.triangle_material.cpu().numpy(),
            tuple(self.info["material_names"]),
        )
