"""EAvatar's sparse expression control (Zhang et al., arXiv 2508.13537, §3.2) as a model-space
mesh deformer: learned displacements of a few control vertices, which the mesh around them
follows, added to the head model's expression.

EAvatar picks as controls the Gaussians whose expression-driven displacement exceeds a threshold
and interpolates theirs to their neighbours by distance. Here the controls are vertices
(:mod:`headsplat.avatar.deformers.controls`): those the clip's expressions move at least ``tau``
times as far as the furthest-moved one, thinned by farthest-point sampling to one per
``spacing`` cm, chosen once when the avatar is made. Each vertex of the skin follows its
``neighbours`` nearest controls by distance along the mesh's edges within ``radius`` (so never
across the lips or onto an eyeball or a tooth), with inverse-square weights. A control's
displacement is learned as a function of the expression: linear (``mode="linear"``,
``d_k(e) = W_k e``, which the blendshape export holds exactly, :mod:`headsplat.avatar.linear`) or
EAvatar's nonlinear one (``mode="mlp"``: a 2 x 32 MLP of the control's position and the
expression; the export takes its secant). Both start at zero: a new avatar renders as without it.

Why a mesh deformer rather than per-Gaussian offsets: the Gaussians follow the vertices by their
barycentric binding, so they move with their triangle's frame (rotations and the seams' caps stay
right), densification has no per-Gaussian state to carry, and the linear form exports.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from headsplat.avatar.deformers.base import BuildContext, DeformContext, MeshDeformer, register_mesh_deformer
from headsplat.avatar.deformers.controls import (
    control_pairs,
    edge_graph,
    expression_reach,
    expression_strain,
    farthest_point_controls,
    following_weights,
    geodesic_neighbours,
)
from headsplat.avatar.head_mesh import FACE_MATERIALS, HAIR_MATERIALS, HeadMesh
from headsplat.avatar.modules import LossContext, Losses, ParamGroup

HIDDEN = 32
"""Width of each of the MLP's two hidden layers (``mode="mlp"``)."""


@dataclass
class SparseControlConfig:
    """Sparse expression control (:mod:`headsplat.avatar.deformers.sparse_control`)."""

    tau: float = 0.3
    """Candidates: the skin's vertices the clip's expressions move (95th percentile over the
    training frames, from the median expression) at least ``tau`` x as far as the furthest, or
    stretch at least ``tau`` x as much (``criterion``)."""
    criterion: str = "displacement"
    """What makes a vertex a candidate: ``displacement``, how far the expressions move it
    (EAvatar's), or ``strain``, how much they stretch the skin around it
    (:func:`~headsplat.avatar.deformers.controls.expression_strain`: an opening jaw moves the chin
    furthest but carries it nearly rigidly)."""
    spacing: float = 0.5
    """cm between controls (farthest-point sampling); a vertex this near a control follows in full."""
    neighbours: int = 4
    """Controls each vertex follows."""
    radius: float = 1.5
    """cm along the surface beyond which a control moves nothing."""
    mode: str = "linear"
    """``linear`` (``d_k(e) = W_k e``; the blendshape export holds it exactly) or ``mlp``."""
    lr: float = 1e-3
    """Adam's rate (cm per unit weight per step for ``linear``)."""
    offset_weight: float = 1e-2
    """Pull of the controls' displacements towards zero: mean squared cm over the controls."""
    smooth_weight: float = 1e-1
    """Pull of neighbouring controls (within 2 x ``spacing``) towards the same displacement."""


@register_mesh_deformer("sparse_control")
class SparseControl(MeshDeformer):
    """Adds sum_k w_vk d_k(expression) to each vertex (V, 3), in model space."""

    Config = SparseControlConfig
    space = "model"

    def __init__(self, config: SparseControlConfig, build: BuildContext):
        super().__init__()
        if config.mode not in ("linear", "mlp"):
            raise ValueError(f"sparse_control.mode must be linear or mlp, not {config.mode!r}")
        if config.criterion not in ("displacement", "strain"):
            raise ValueError(
                f"sparse_control.criterion must be displacement or strain, not {config.criterion!r}"
            )
        self.config = config
        head = build.head
        n_expression = head.expression_basis.shape[0]
        if build.expressions is None:
            # Being loaded: the controls are the saved ones (_load_from_state_dict sizes them).
            controls, pairs = np.zeros(0, np.int64), np.zeros((0, 2), np.int64)
            index = np.zeros((head.n_vertices, config.neighbours), np.int64)
            weights = np.zeros((head.n_vertices, config.neighbours), np.float32)
        else:
            controls, index, weights = choose_controls(head, build.expressions, config)
            pairs = control_pairs(head.neutral.cpu().numpy(), controls, 2 * config.spacing)
        device = head.neutral.device
        self.register_buffer("controls", torch.from_numpy(controls).to(device))
        self.register_buffer("control_pairs", torch.from_numpy(pairs).to(device))
        self.register_buffer("neighbour_index", torch.from_numpy(index).to(device))
        self.register_buffer("neighbour_weight", torch.from_numpy(weights).float().to(device))
        if config.mode == "linear":
            self.linear = nn.Parameter(torch.zeros(len(controls), n_expression, 3, device=device))
        else:
            self.mlp = nn.Sequential(
                nn.Linear(3 + n_expression, HIDDEN),
                nn.SiLU(),
                nn.Linear(HIDDEN, HIDDEN),
                nn.SiLU(),
                nn.Linear(HIDDEN, 3),
            ).to(device)
            nn.init.zeros_(self.mlp[-1].weight)
            nn.init.zeros_(self.mlp[-1].bias)

    def displacements(self, expression: Tensor, head: HeadMesh) -> Tensor:
        """(C, 3) cm: each control's displacement for ``expression`` (E,)."""
        if self.config.mode == "linear":
            return torch.einsum("e,ced->cd", expression, self.linear)
        # Positions in decimetres: inputs of order one.
        positions = head.neutral[self.controls] / 10
        return self.mlp(torch.cat([positions, expression.expand(len(positions), -1)], dim=1))

    def forward(self, vertices: Tensor, ctx: DeformContext) -> Tensor:
        if len(self.controls) == 0:
            return vertices
        moved = self.displacements(ctx.condition.expression, ctx.head)[self.neighbour_index]  # (V, K, 3)
        return vertices + (self.neighbour_weight[..., None] * moved).sum(dim=1)

    def param_groups(self) -> list[ParamGroup]:
        return [ParamGroup("controls", list(self.parameters()), self.config.lr)]

    def losses(self, ctx: LossContext) -> Losses:
        if len(self.controls) == 0:
            return {}
        moved = self.displacements(ctx.condition.expression, ctx.avatar.head)
        losses = {"control_offset": (self.config.offset_weight, moved.pow(2).sum(-1).mean())}
        if len(self.control_pairs):
            first, second = self.control_pairs.unbind(dim=1)
            smooth = (moved[first] - moved[second]).pow(2).sum(-1).mean()
            losses["control_smooth"] = (self.config.smooth_weight, smooth)
        return losses

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        # How many controls the avatar has is its clip's: take the saved sizes before loading.
        for name in ("controls", "control_pairs"):
            saved = state_dict.get(prefix + name)
            if saved is not None:
                setattr(self, name, torch.empty_like(saved, device=self.neighbour_weight.device))
        saved = state_dict.get(prefix + "linear")
        if saved is not None and self.config.mode == "linear":
            self.linear = nn.Parameter(torch.empty_like(saved, device=self.neighbour_weight.device))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


def skin_triangles(head: HeadMesh) -> np.ndarray:
    """(S, 3) the triangles controls lie on and follow along: the skin (face, scalp, neck) less the
    mouth's and eyes' sockets, so no path crosses the lips or reaches an eye or a tooth."""
    skin = head.on_materials(FACE_MATERIALS + HAIR_MATERIALS) & ~head.interior_triangles()
    return head.triangles[skin].cpu().numpy()


def candidate_scores(
    head: HeadMesh, expressions: Tensor, *, criterion: str, triangles: np.ndarray
) -> np.ndarray:
    """(V,) what makes a vertex a control for the training frames' ``expressions`` (F, E): how far
    they move it (``criterion="displacement"``, cm) or how much they stretch the surface of
    ``triangles`` (S, 3) around it (``"strain"``)."""
    basis, expressions = head.expression_basis.detach().cpu().float(), expressions.cpu().float()
    if criterion == "strain":
        neutral = head.neutral.detach().cpu().float()
        return expression_strain(neutral, basis, torch.from_numpy(triangles), expressions).numpy()
    return expression_reach(basis, expressions).numpy()


def choose_controls(
    head: HeadMesh, expressions: Tensor, config: SparseControlConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The controls of ``head`` for the training frames' ``expressions`` (F, E) and how each vertex
    follows them: (C,) vertex indices; (V, K) each vertex's controls (indices into the C) and its
    weights (zero for all but the skin near the controls)."""
    positions = head.neutral.detach().cpu().double().numpy()
    triangles = skin_triangles(head)
    on_skin = np.zeros(head.n_vertices, bool)
    on_skin[triangles.ravel()] = True
    reach = np.where(
        on_skin, candidate_scores(head, expressions, criterion=config.criterion, triangles=triangles), 0.0
    )
    # A clip whose expressions move nothing has nothing to control.
    candidates = on_skin & (reach >= config.tau * reach.max()) & (reach.max() > 0)
    controls = farthest_point_controls(positions, reach, candidates, config.spacing)
    index, distance = geodesic_neighbours(
        edge_graph(positions, triangles), controls, count=config.neighbours, limit=config.radius
    )
    weights = following_weights(distance, plateau=config.spacing, radius=config.radius)
    return controls, index, weights.astype(np.float32)
