"""The Gaussians bound to the head mesh in UV space (FATE §3.1): their columns, their posing, their
regularisers and their row operations.

Columns (all (N, ...)):

=================  =======  ===============================================================
``triangle``        long     binding triangle (buffer)
``bary``            (N, 3)   barycentric point on it (buffer)
``offset``          (N, 1)   distance along the normal, in mean edge lengths (tanh-bounded)
``rotation``        (N, 4)   quaternion in the triangle frame, w first
``log_scale``       (N, 3)   log scale relative to the triangle's mean edge length
``opacity``         (N, 1)   logit
``sh0``             (N, 3)   degree-0 spherical-harmonic colour (RGB = 0.5 + C0 * sh0)
=================  =======  ===============================================================
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

from headsplat.avatar.gaussians.binding import bind, face_frames
from headsplat.avatar.gaussians.colour_prior import colour_smoothness
from headsplat.avatar.gaussians.rows import RowChange, replace_parameter
from headsplat.avatar.gaussians.uv_sampling import material_density, sample_uv
from headsplat.avatar.modules import AvatarModule, LossContext, Losses, ParamGroup

SH_C0 = 0.28209479177387814  # Y_0^0, as in 3DGS
INTERIOR_RGB = (0.15, 0.06, 0.05)
"""A shadowed mouth: the initial colour of the head's interior (``dark_interior``)."""
BOUND = ("triangle", "bary")
LEARNED = ("offset", "rotation", "log_scale", "opacity", "sh0")
COLUMNS = BOUND + LEARNED


def rgb_to_sh0(rgb: Tensor) -> Tensor:
    return (rgb - 0.5) / SH_C0


def sh0_to_rgb(sh0: Tensor) -> Tensor:
    return (0.5 + SH_C0 * sh0).clamp_min(0.0)


@dataclass
class GaussianConfig:
    """The UV-bound Gaussians: initial sampling, binding range, learning rates, regularisers."""

    texels_per_cm: float = 2.0
    """Initial UV sampling density (2.0: ~14k Gaussians on ICT)."""
    max_offset: float = 0.5
    """Largest distance from the surface along the normal, in mean edge lengths (tanh bound): on
    the face, FATE's tight binding (the landmark-fitted mesh is the surface there)."""
    hair_max_offset: float = 0.5
    """The same on the hair materials (:data:`~headsplat.avatar.head_mesh.HAIR_MATERIALS`: scalp,
    back, neck), where the mesh is at best near the surface. The face's by default: 3 edges (~1 cm,
    with hair_scale_ratio_max 30 and 4x eyeball density) scored worse refined and tracked on both
    clips tried (measurements: docs/quality.md, section "The geometry stage and the binding by
    region")."""
    lr_sh0: float = 2.5e-3
    lr_opacity: float = 5e-2
    lr_log_scale: float = 5e-3
    lr_rotation: float = 1e-3
    lr_offset: float = 1.6e-3
    scale_ratio_weight: float = 0.1
    scale_ratio_max: float = 9.0
    """PhysGaussian: penalise Gaussians whose largest/smallest scale ratio exceeds this."""
    hair_scale_ratio_max: float = 9.0
    """The same on the hair materials (strands are long and thin; see ``hair_max_offset``)."""
    opening_scale: float = 0.5
    """Each Gaussian's scales are softly capped at this times its triangle's distance to the
    nearest seam (the lips' seam and the lids' margins, :mod:`headsplat.avatar.openings`), and no
    lower than ``opening_floor``. Without it the lips' Gaussians straddle the closed mouth and
    paint over it when it opens (nearly all the rendering weight between parted lips came from
    face Gaussians several edges wide centred on the seam) and the lids' Gaussians paint the iris,
    where gaze cannot turn it (measurements: docs/quality.md, section "The seams and the
    interior"). 0: no cap."""
    opening_floor: float = 0.05
    """cm: the cap's least value (at the seam itself)."""
    dark_interior: bool = True
    """The mouth's and eyes' interior (gums, tongue, teeth, sockets:
    :meth:`~headsplat.avatar.head_mesh.HeadMesh.interior_triangles`) starts at
    :data:`INTERIOR_RGB`, a shadowed cavity, which it keeps where the frames never show it; else
    the skin's mid-grey. Grey teeth and gums, or the lips' colour spread by the colour prior,
    made a mouth opened wider than in any training frame pale where the frame shows a dark cavity
    (measurements: docs/quality.md, section "`avatar.gaussians.store.GaussianConfig.dark_interior`")."""
    colour_smoothness_weight: float = 1.0
    """Pull of each colour towards its mesh neighbourhood's (:mod:`headsplat.avatar.gaussians.colour_prior`):
    fills the parts of the head the video never shows."""


class GaussianSet(NamedTuple):
    """Gaussians in world space, as :func:`headsplat.render.rasterize` takes them.

    Attributes:
        means (N, 3), quats (N, 4) unit w first, scales (N, 3) linear, opacities (N,) in [0, 1],
        colours (N, 3) RGB.
    """

    means: Tensor
    quats: Tensor
    scales: Tensor
    opacities: Tensor
    colours: Tensor


def initial_columns(
    head, config: GaussianConfig, *, opacity: float = 0.9, flatness: float = 0.3, width: float = 1.0
) -> dict[str, Tensor]:
    """One Gaussian per UV sample of ``head`` (:class:`~headsplat.avatar.head_mesh.HeadMesh`): on
    the surface, disc-shaped, as wide as its texel, on the head's device.

    Args:
        opacity: initial opacity. flatness: thickness along the normal relative to the width.
        width: scale in the surface relative to the texel spacing.
    """
    samples = sample_uv(head.uv_layout(), config.texels_per_cm)
    density = [material_density(name, config.texels_per_cm) for name in head.info["material_names"]]
    per_sample = torch.tensor(density, dtype=torch.float32)[samples.material]
    triangle = torch.from_numpy(samples.points.triangle)
    # The UV grid's spacing is 1 / density cm on the template (the layout is sized on it), so in
    # the template's edge lengths; a triangle the person's surface stretches (the geometry stage's
    # hair) stretches its samples' spacing and, edge-relative, their discs alike.
    edge = face_frames(head.template.cpu(), head.triangles.cpu()).scale[triangle]
    spacing = 1.0 / per_sample / edge  # texel spacing in mean edge lengths
    width = width * spacing
    n = len(triangle)
    columns = {
        "triangle": triangle,
        "bary": torch.from_numpy(samples.points.bary),
        "offset": torch.zeros(n, 1),
        "rotation": torch.tensor([1.0, 0.0, 0.0, 0.0]).repeat(n, 1),
        "log_scale": torch.log(torch.stack([width, width, flatness * width], dim=-1)).float(),
        "opacity": torch.full((n, 1), float(np.log(opacity / (1 - opacity)))),
        "sh0": torch.zeros(n, 3),
    }
    if config.dark_interior:
        interior = head.interior_triangles().cpu()[triangle]
        columns["sh0"][interior] = rgb_to_sh0(torch.tensor(INTERIOR_RGB))
    return {k: v.to(head.neutral.device) for k, v in columns.items()}


class GaussianStore(AvatarModule):
    """The Gaussians' columns: ``triangle`` and ``bary`` are buffers, the rest parameters.

    Args:
        columns: every column of :data:`COLUMNS`, (N, ...) each. config: settings.
    """

    def __init__(self, columns: dict[str, Tensor], config: GaussianConfig):
        super().__init__()
        self.config = config
        for name in BOUND:
            self.register_buffer(name, columns[name])
        for name in LEARNED:
            setattr(self, name, nn.Parameter(columns[name]))

    def __len__(self) -> int:
        return len(self.triangle)

    @contextmanager
    def columns_from(self, values: dict[str, Tensor]) -> Iterator[None]:
        """Within the block, the learned columns named in ``values`` read those tensors (N, ...)
        instead of the parameters, gradients flowing into them: how a network that produces the
        attributes (FATE's baking) renders through the ordinary pipeline."""
        unknown = set(values) - set(LEARNED)
        if unknown:
            raise KeyError(f"not learned columns: {sorted(unknown)}")
        order = list(self._parameters)  # state_dict and optimizers see the parameters in this order
        saved = {name: self._parameters.pop(name) for name in values}
        try:
            for name, value in values.items():
                self.__dict__[name] = value
            yield
        finally:
            for name in saved:
                del self.__dict__[name]
            restored = {name: saved.get(name, self._parameters.get(name)) for name in order}
            self._parameters.clear()
            self._parameters.update(restored)

    def columns(self) -> dict[str, Tensor]:
        """Every column by name (the live tensors)."""
        return {name: getattr(self, name) for name in COLUMNS}

    def rgb(self) -> Tensor:
        return sh0_to_rgb(self.sh0)

    def on_hair(self, hair_triangles: Tensor | None) -> Tensor:
        """(N,) bool: the Gaussians on the triangles ``hair_triangles`` (T,) bool marks (None: none)."""
        if hair_triangles is None:
            return torch.zeros(len(self), dtype=torch.bool, device=self.triangle.device)
        return hair_triangles[self.triangle]

    def offset_distance(self, hair_triangles: Tensor | None = None) -> Tensor:
        """(N, 1) each Gaussian's distance along its triangle's normal in mean edge lengths: the
        learned offset, tanh-bounded by its region's limit (``hair_triangles`` (T,) bool)."""
        c = self.config
        limit = torch.where(self.on_hair(hair_triangles), c.hair_max_offset, c.max_offset)
        return limit[:, None] * torch.tanh(self.offset)

    def max_scale(self, opening_distance: Tensor) -> Tensor:
        """(N, 1) each Gaussian's largest scale (cm) given its triangles' ``opening_distance`` (T,)
        cm (:meth:`~headsplat.avatar.head_mesh.HeadMesh.opening_distance`); +inf without a cap."""
        c = self.config
        if c.opening_scale <= 0:
            return torch.full((len(self), 1), float("inf"), device=self.triangle.device)
        return (c.opening_scale * opening_distance).clamp_min(c.opening_floor)[self.triangle, None]

    def posed(
        self,
        vertices: Tensor,
        triangles: Tensor,
        hair_triangles: Tensor | None = None,
        opening_distance: Tensor | None = None,
    ) -> GaussianSet:
        """The Gaussians on the mesh ``vertices`` (V, 3) with ``triangles`` (T, 3), those on the
        ``hair_triangles`` (T,) bool with the hair's binding range, their scales capped by the
        triangles' ``opening_distance`` (T,) (see :meth:`max_scale`; None: no cap)."""
        offset = self.offset_distance(hair_triangles)
        world = bind(
            vertices,
            triangles,
            triangle=self.triangle,
            bary=self.bary,
            offset=offset,
            local_quats=self.rotation,
            log_scales=self.log_scale,
        )
        scales = world.scales
        if opening_distance is not None:
            scales = soft_cap(scales, self.max_scale(opening_distance))
        return GaussianSet(world.means, world.quats, scales, torch.sigmoid(self.opacity[:, 0]), self.rgb())

    def param_groups(self) -> list[ParamGroup]:
        c = self.config
        return [
            ParamGroup(name, [getattr(self, name)], getattr(c, f"lr_{name}"), per_gaussian=True, eps=1e-15)
            for name in LEARNED
        ]

    def losses(self, ctx: LossContext) -> Losses:
        c, head = self.config, ctx.avatar.head
        hair = self.on_hair(head.hair_triangles())
        ratio = torch.where(hair, c.hair_scale_ratio_max, c.scale_ratio_max)
        triangles = head.interior_split_triangles()  # the skin's colours stay out of the mouth
        colour = colour_smoothness(SH_C0 * self.sh0, self.triangle, triangles, 2 * head.n_vertices)
        return {
            "scale_ratio": (c.scale_ratio_weight, scale_ratio_penalty(self.log_scale, ratio)),
            "colour_smoothness": (c.colour_smoothness_weight, colour),
        }

    def apply_row_change(self, change: RowChange, optimizers: Sequence[torch.optim.Optimizer]) -> None:
        if set(change.appended) != set(COLUMNS) and change.appended:
            raise ValueError(
                f"appended rows have columns {sorted(change.appended)}, the store {sorted(COLUMNS)}"
            )
        for name, old in self.columns().items():
            rows = old.detach()[change.keep]
            if change.appended:
                rows = torch.cat([rows, change.appended[name].to(rows)])
            if name in BOUND:
                setattr(self, name, rows)
            else:
                replace_parameter(self, name, rows, optimizers=optimizers, change=change)


def soft_cap(values: Tensor, cap: Tensor, sharpness: float = 4.0) -> Tensor:
    """``values`` > 0 smoothly capped at ``cap`` (broadcast; +inf: unchanged): the p-norm
    (v^-p + cap^-p)^(-1/p), which keeps a value at half the cap within 1.5 % and gives the cap
    0.84x itself, with a gradient everywhere (a hard min would freeze what lies above)."""
    return values * (1 + (values / cap) ** sharpness) ** (-1 / sharpness)


def scale_ratio_penalty(log_scale: Tensor, max_ratio: float | Tensor) -> Tensor:
    """PhysGaussian's anisotropy regulariser: mean of relu(max/min scale - r), ``r`` one ratio or
    (N,) one per Gaussian."""
    ratio = torch.exp(log_scale.max(-1).values - log_scale.min(-1).values)
    return torch.relu(ratio - max_ratio).mean()
