"""The deformer contracts and their registries: the pipeline's pluggable stages
(docs/architecture.md, section 4).

    condition -> head mesh -> model-space mesh deformers -> gaze -> rigid pose
              -> world-space mesh deformers -> binding -> Gaussian deformers -> rasterize

A mechanism is one class in one file, registered here by name; the run config names the enabled
ones in order (``mesh_deformers`` / ``gaussian_deformers``), each with its own ``Config``
dataclass. ``docs/architecture.md`` walks through adding one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Literal

from torch import Tensor

from headsplat.avatar.modules import AvatarModule
from headsplat.io.settings import registering

if TYPE_CHECKING:
    from headsplat.avatar.condition import Condition
    from headsplat.avatar.gaussians.store import GaussianSet, GaussianStore
    from headsplat.avatar.head_mesh import HeadMesh


@dataclass(frozen=True)
class BuildContext:
    """What a deformer may size itself by when it is built: the head mesh, the Gaussian count and,
    when the avatar is made (not when it is loaded: None), the training frames' ``expressions``
    (F, E)."""

    head: HeadMesh
    n_gaussians: int
    expressions: Tensor | None = None


@dataclass(frozen=True)
class DeformContext:
    """What a deformer sees of one render.

    Attributes:
        condition: the frame's condition. head: the head mesh.
        canonical: (V, 3) the model-space mesh after the model-space deformers and the gaze
            (None while the model-space deformers run).
        posed: (V, 3) the world-space mesh the Gaussians are bound to (None before it exists).
        gaussians: the Gaussian store (UV binding, per-Gaussian attributes).
        view_rotation: (3, 3) world-to-camera rotation of the camera the Gaussians are posed for
            (None: the training camera, whose frame is the world's).
    """

    condition: Condition
    head: HeadMesh
    gaussians: GaussianStore
    canonical: Tensor | None = None
    posed: Tensor | None = None
    view_rotation: Tensor | None = None


class MeshDeformer(AvatarModule):
    """Vertices -> vertices. ``space`` "model": before the gaze and the pose (e.g. personal
    blendshapes, EAvatar's sparse control); "world": after the rigid pose (e.g. the still torso).

    A mechanism that moves the surface is best one of these: the Gaussians follow the vertices by
    their binding (rotations and the seams' caps stay right), densification has no state of it to
    carry, and a deformer linear in the expression exports exactly (:mod:`headsplat.avatar.linear`).

    Subclasses set ``Config`` (a dataclass) and ``space``, and take ``(config, build)``.
    """

    Config: ClassVar[type]
    space: ClassVar[Literal["model", "world"]] = "model"

    def forward(self, vertices: Tensor, ctx: DeformContext) -> Tensor:
        """(V, 3) deformed ``vertices`` (V, 3)."""
        raise NotImplementedError


class GaussianDeformer(AvatarModule):
    """World Gaussians + condition -> world Gaussians (e.g. STAvatar's soft binding, a learned
    light). Subclasses set ``Config`` and take ``(config, build)``."""

    Config: ClassVar[type]
    moves_gaussians: ClassVar[bool] = True
    """Whether ``forward`` changes means, rotations or scales. The blendshape export
    (:mod:`headsplat.avatar.linear`) bakes a deformer that changes only colours and opacities at
    rest, and refuses one that moves Gaussians until the export learns to hold it."""

    def forward(self, gaussians: GaussianSet, ctx: DeformContext) -> GaussianSet:
        raise NotImplementedError


MESH_DEFORMERS: dict[str, type[MeshDeformer]] = {}
GAUSSIAN_DEFORMERS: dict[str, type[GaussianDeformer]] = {}


register_mesh_deformer = registering(MESH_DEFORMERS, "mesh deformer")
"""Class decorator: ``@register_mesh_deformer("name")`` makes a mesh deformer available as
``mesh_deformers.NAME``."""
register_gaussian_deformer = registering(GAUSSIAN_DEFORMERS, "Gaussian deformer")
"""Class decorator: ``@register_gaussian_deformer("name")`` makes a Gaussian deformer available as
``gaussian_deformers.NAME`` (``headsplat train --deformer NAME``)."""
