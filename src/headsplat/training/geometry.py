"""The geometry stage: before any Gaussian trains, grow the bald head mesh out to the person's outline.

The ICT head is a bald skull: fitted to landmarks, it matches the face, but the hair's volume over
the scalp and down the back, which decides the outline in every frame that shows it, is not there.
Gaussians bound tightly to the skull cannot reach it, so the silhouette misses the hair in head
turns and an orbit shows a hairless back. EAvatar (Zhang et al., arXiv 2508.13537) fits a surface guided by a
prior mesh before its Gaussians; here the prior is the fitted ICT head and the data are the
training masks:

    d* = argmin_d  mean_f |alpha_f(d) - mask_f|                     silhouettes, every view
                  + w_smooth mean_(i,j) (d_i - d_j)^2              neighbours move together
                  + w_prior mean_i rho(d_i; sigma)                 template prior, outlier-robust

``d`` (V,) is each vertex's displacement along the neutral mesh's normal, free only on the scalp,
the back and the neck (material ``M_BackHead``), fading in from the face's border so the face
keeps the landmark fit, and at least ``-max_inward`` (the hair lies outside the skull). ``rho``
is Geman-McClure's, d^2 / (d^2 + sigma^2): small displacements cost like a quadratic, a hair
volume of several centimetres costs no more than one of two (the hair is an outlier to the skull,
not noise about it). ``alpha_f`` is the rendered opacity of a layer of small opaque Gaussian discs
on the displaced mesh, posed by the avatar's own pipeline (the still torso included): the Gaussian
rasterizer is the differentiable silhouette renderer, there being no differentiable mesh
rasterizer for CPU torch. The displaced mesh becomes the
avatar's personalised neutral, so the UV Gaussians, completion, export and driving use it as they
used the skull.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.nn import functional

from headsplat.avatar.avatar import Avatar
from headsplat.avatar.gaussians.store import GaussianConfig, GaussianStore, initial_columns
from headsplat.avatar.head_mesh import HeadMesh
from headsplat.geometry import mesh_edges, triangle_edges
from headsplat.render.mesh import vertex_normals
from headsplat.training.data import FrameData

SKIN_MATERIALS = ("M_Face", "M_BackHead")
"""The outer surface (the rest is mouth and eye interior)."""


@dataclass
class GeometryConfig:
    """The geometry stage (:mod:`headsplat.training.geometry`); ``steps = 0`` skips it.

    Off by default: it finds the outline (the training frames' silhouettes match their masks far
    better) but the avatar trained on the grown surface is worse, on the training frames and held
    out. Neither growing the scalp alone nor weighting coverage outside the masks more recovers it;
    in every variant more of the held-out error lies outside the person's mask (measurements:
    docs/quality.md, section "`training.geometry.GeometryConfig`").
    ``--set geometry.steps=150`` runs it (~30-45 s on 2 cores)."""

    steps: int = 0
    frames_per_step: int = 4
    size: int = 128
    """Side of the silhouettes it fits (px; at most the training size)."""
    lr: float = 0.1
    """Adam, cm per step."""
    smooth_weight: float = 0.1
    prior_weight: float = 1e-3
    prior_sigma: float = 1.0
    """cm: displacements beyond this cost little more (Geman-McClure)."""
    max_inward: float = 1.0
    """cm the surface may sink below the fitted skull (hair lies outside it; the identity fit's
    skull may be a little large). Without it a vertex in a crease behind the ear sinks 5 cm."""
    fade_rings: int = 3
    """The displacement fades in over this many rings of vertices from the face's border."""
    texels_per_cm: float = 2.0
    """Density of the silhouette discs."""
    disc_width: float = 0.5
    """Their scale relative to their spacing: narrow enough that their tails blur the outline by
    little (a disc as wide as its spacing stands ~1 cm beyond the surface at 1 per cm), wide
    enough that they overlap into an opaque surface."""


@dataclass
class GeometryReport:
    """What the stage did: silhouette IoU of the training frames before and after, the largest
    outward and inward displacement (cm), seconds."""

    iou_before: float
    iou_after: float
    max_out: float
    max_in: float
    seconds: float

    def as_dict(self) -> dict:
        return {k: round(v, 4) for k, v in self.__dict__.items()}


def border_vertices(triangles: Tensor) -> Tensor:
    """(B,) the vertices on the open border of the surface ``triangles`` (T, 3): on an edge only
    one triangle has."""
    edges, counts = torch.unique(triangle_edges(triangles), dim=0, return_counts=True)
    return torch.unique(edges[counts == 1])


def free_weights(head: HeadMesh, fade_rings: int) -> Tensor:
    """(V,) how freely each vertex may move: 1 on the hair materials ``fade_rings`` rings or more
    from the face and from the surface's open border (the neck's cut, which the masks' cut
    matches), rising linearly over those rings, 0 elsewhere."""
    hair, skin = head.hair_triangles(), head.on_materials(SKIN_MATERIALS)
    n, device = head.n_vertices, head.neutral.device
    on_hair = torch.zeros(n, dtype=torch.bool, device=device)
    on_hair[head.triangles[hair].reshape(-1)] = True
    fixed = torch.zeros(n, dtype=torch.bool, device=device)
    fixed[head.triangles[skin & ~hair].reshape(-1)] = True
    fixed[border_vertices(head.triangles[skin])] = True
    edges = mesh_edges(head.triangles[skin])
    # Rings from the fixed vertices, by repeated dilation along the edges.
    reached = fixed.clone()
    weight = torch.zeros(n, device=device)
    for ring in range(1, fade_rings + 1):
        grow = reached[edges[:, 0]] | reached[edges[:, 1]]
        step = torch.zeros_like(reached)
        step[edges[grow].reshape(-1)] = True
        new = step & ~reached
        weight[new] = ring / (fade_rings + 1)
        reached |= step
    weight[~reached] = 1.0
    return torch.where(on_hair & ~fixed, weight, torch.zeros_like(weight))


def geman_mcclure(x: Tensor, sigma: float) -> Tensor:
    return x.square() / (x.square() + sigma**2)


def _silhouettes(data: FrameData, frames: Sequence[int], size: int) -> Tensor:
    """(F, size, size) the masks of ``frames`` in [0, 1], area-resized."""
    masks = torch.stack([data.alpha(int(f))[..., 0] for f in frames])
    return functional.interpolate(masks[:, None], size=(size, size), mode="area")[:, 0]


def fit_surface(
    avatar: Avatar, data: FrameData, frames: Sequence[int], config: GeometryConfig
) -> tuple[Tensor, GeometryReport]:
    """Fit the displacement of :mod:`this module <headsplat.training.geometry>` for ``avatar``'s head
    to the masks of ``frames`` of ``data``; returns the displaced neutral (V, 3) and a report.
    The avatar is left as it was.
    """
    start = time.perf_counter()
    head = avatar.head
    base = head.neutral.detach().clone()
    skin = head.triangles[head.on_materials(SKIN_MATERIALS)]
    normals = torch.from_numpy(vertex_normals(base.cpu().numpy(), skin.cpu().numpy())).to(base)
    weight = free_weights(head, config.fade_rings)
    free = torch.nonzero(weight > 0)[:, 0]
    edges = mesh_edges(skin)
    edges = edges[(weight[edges] > 0).any(dim=1)]
    discs = GaussianConfig(texels_per_cm=config.texels_per_cm)
    discs_store = GaussianStore(initial_columns(head, discs, opacity=0.95, width=config.disc_width), discs)
    discs_store = discs_store.to(base.device)
    discs_store.requires_grad_(False)
    size = min(config.size, data.size)
    camera = avatar.camera(size)
    masks = _silhouettes(data, frames, size)
    displacement = torch.zeros(len(free), device=base.device, requires_grad=True)
    optimizer = torch.optim.Adam([displacement], lr=config.lr)
    generator = torch.Generator().manual_seed(0)

    def per_vertex(d: Tensor) -> Tensor:
        """(V,) the displacement of every vertex, from ``d`` (free vertices) faded by ``weight``."""
        return torch.zeros(len(base), device=base.device).index_put((free,), d * weight[free])

    def neutral_of(d: Tensor) -> Tensor:
        return base + per_vertex(d)[:, None] * normals

    def alpha(index: int) -> Tensor:
        condition = data.condition(int(frames[index]))
        _, posed = avatar.mesh(condition)
        return avatar.rasterize(discs_store.posed(posed, head.triangles), camera, 0.0).alpha[..., 0]

    def iou() -> float:
        with torch.no_grad():
            inter = union = 0.0
            for i in range(0, len(frames), max(1, len(frames) // 30)):
                rendered, mask = alpha(i) > 0.5, masks[i] > 0.5
                inter += float((rendered & mask).sum())
                union += float((rendered | mask).sum())
        return inter / max(union, 1.0)

    requires = [(p, p.requires_grad) for p in avatar.parameters()]
    avatar.requires_grad_(False)
    try:
        before = iou()
        for _ in range(config.steps):
            picks = torch.randint(len(frames), (config.frames_per_step,), generator=generator).tolist()
            head.neutral = neutral_of(displacement)
            silhouette = torch.stack([(alpha(i) - masks[i]).abs().mean() for i in picks]).mean()
            full = per_vertex(displacement)
            smooth = (full[edges[:, 0]] - full[edges[:, 1]]).square().mean()
            prior = geman_mcclure(displacement, config.prior_sigma).mean()
            loss = silhouette + config.smooth_weight * smooth + config.prior_weight * prior
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            with torch.no_grad():
                displacement.clamp_(min=-config.max_inward)
        with torch.no_grad():
            head.neutral = neutral_of(displacement)
            after = iou()
            fitted = head.neutral.detach().clone()
    finally:
        head.neutral = base
        for param, flag in requires:
            param.requires_grad_(flag)
    moved = torch.cat([displacement.detach() * weight[free], torch.zeros(1, device=base.device)])
    seconds = time.perf_counter() - start
    report = GeometryReport(before, after, float(moved.max()), float(-moved.min()), seconds)
    return fitted, report
