"""The personalised head an avatar renders with, embedded in the avatar: no head-model file is
needed to render, export or drive a trained avatar.

    V(expression, gaze) = gaze_rotation(neutral + expression_basis . expression)

with ``neutral`` = template + identity basis . identity (the subject's tracked identity). Personal
corrections are mesh deformers (:mod:`headsplat.avatar.deformers`), applied before the gaze.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

from headsplat.avatar.openings import behind_seams, opening_distance, tearing_vertices, touching_vertices
from headsplat.head.mirror import Mirror, mirror_maps
from headsplat.head.model import HeadModel, UVLayout, apply_gaze

HAIR_MATERIALS = ("M_BackHead",)
"""ICT's scalp, back of the head and neck: where hair (and collars) lie off the skull, so the
geometry stage moves the mesh and the Gaussians bind loosely there (ICT files the mouth's and
eyes' sockets here too; :meth:`HeadMesh.hair_triangles` leaves them out)."""
FACE_MATERIALS = ("M_Face",)
"""The face's skin, where the seams of :mod:`headsplat.avatar.openings` lie."""
INTERIOR_MATERIALS = ("M_GumsTongue", "M_Teeth")
"""Inside the mouth; with the sockets behind the seams, the head's interior
(:meth:`HeadMesh.interior_triangles`)."""


class Seams(NamedTuple):
    """Where a head model's skin opens (:mod:`headsplat.avatar.openings`), the same for every
    person. Attributes: vertices (V,) bool on the seams; interior (T,) bool, the triangles behind
    them (:meth:`HeadMesh.interior_triangles`)."""

    vertices: Tensor
    interior: Tensor


_SEAMS: dict[str, Seams] = {}
""":meth:`HeadMesh.seams` by head model checksum."""
_MIRRORS: dict[str, Mirror] = {}
""":meth:`HeadMesh.mirror` by head model checksum."""

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

    def interior_split_triangles(self) -> Tensor:
        """(T, 3) the triangles with the interior's (:meth:`interior_triangles`) vertex indices
        moved up by V, so that the interior and the skin share no vertex: mesh neighbourhoods
        over them (the colour prior's) stop at the seams. Indices < 2V."""
        interior = self.interior_triangles()[:, None]
        return torch.where(interior, self.triangles + self.n_vertices, self.triangles)

    def hair_triangles(self) -> Tensor:
        """(T,) bool: the triangles of :data:`HAIR_MATERIALS` but the sockets (:meth:`interior_triangles`)."""
        return self.on_materials(HAIR_MATERIALS) & ~self.interior_triangles()

    @cached_property
    def _opening_distance(self) -> Tensor:
        return opening_distance(self.neutral, self.triangles, self.seam_vertices())

    def seams(self) -> Seams:
        """The seams, found on the model's template once per head model (~1 s on ICT)."""
        key = self.info["checksum"]
        if key not in _SEAMS:
            face = torch.zeros(self.n_vertices, dtype=torch.bool, device=self.template.device)
            face[self.triangles[self.on_materials(FACE_MATERIALS)].flatten()] = True
            lips = tearing_vertices(self.template, self.expression_basis, face)
            seam = lips | touching_vertices(self.template, face, self.vertex_eye >= 0)
            sockets = behind_seams(self.triangles, self.on_materials(HAIR_MATERIALS), seam)
            _SEAMS[key] = Seams(seam.cpu(), (sockets | self.on_materials(INTERIOR_MATERIALS)).cpu())
        return Seams(*(t.to(self.template.device) for t in _SEAMS[key]))

    def mirror(self) -> Mirror:
        """The template's left-right mirror maps (:mod:`headsplat.head.mirror`), made once per head
        model (~0.05 s on ICT)."""
        key = self.info["checksum"]
        if key in _MIRRORS:
            return _MIRRORS[key]
        mirror = mirror_maps(
            self.template.cpu().double().numpy(),
            self.triangles.cpu().numpy(),
            self.triangle_material.cpu().numpy(),
            self.info["material_names"],
        )
        if key:  # a model built in memory has no checksum to tell it from another
            _MIRRORS[key] = mirror
        return mirror

    def seam_vertices(self) -> Tensor:
        """(V,) bool: the face's vertices on the lips' seam and the lids' margins."""
        return self.seams().vertices

    def interior_triangles(self) -> Tensor:
        """(T,) bool: the mouth's and eyes' interior: gums, tongue, teeth and the sockets behind
        the seams (dark unless the frames show them; not hair though ICT files the sockets so)."""
        return self.seams().interior

    def opening_distance(self) -> Tensor:
        """(T,) cm from each triangle's centroid to the nearest vertex of the seams
        (:meth:`seam_vertices`) on the person's neutral mesh; computed once."""
        return self._opening_distance.to(self.neutral.device)

    def uv_layout(self) -> UVLayout:
        """The UV layout, sized on the template like the head model's (:func:`sample_uv`)."""
        return UVLayout(
            self.template.cpu().numpy(),
            self.triangles.cpu().numpy(),
            self.triangle_uvs.cpu().numpy(),
            self.triangle_material.cpu().numpy(),
            tuple(self.info["material_names"]),
        )
