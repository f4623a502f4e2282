"""Completion of the unseen head as a post-training hook (:mod:`headsplat.avatar.gaussians.completion`
has the why and the maths). A completion is a :class:`Completion` registered by name
(:func:`register_completion`) with its own ``Config``; the run config's ``completion`` slot holds
the chosen one, or none (``--no-completion``, ``--set completion=none``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import ClassVar

import numpy as np
import torch
from torch import Tensor

from headsplat.avatar.avatar import Avatar
from headsplat.avatar.condition import Camera, Condition
from headsplat.avatar.gaussians.completion import UNSEEN_WEIGHT, fill_colours, surface_detail, unseen
from headsplat.avatar.gaussians.mirror import mirrored_columns
from headsplat.avatar.gaussians.rows import RowChange
from headsplat.avatar.gaussians.store import initial_columns, rgb_to_sh0
from headsplat.avatar.head_mesh import HeadMesh
from headsplat.io.errors import InputError
from headsplat.io.settings import registering, the_chosen
from headsplat.preprocess.coverage import SEEN, triangle_visibility
from headsplat.render.mesh import rasterize_mesh

HAIR_FILLS = ("seen_mean", "harmonic")
SKIN, SCALP, NECK, INTERIOR = range(4)
"""The fill regions of :func:`completion_regions`."""
SCALP_BOTTOM = -4.0
"""Model height (cm) dividing the scalp from the neck (:attr:`HarmonicConfig.scalp_bottom`)."""


@dataclass
class CompletionConfig:
    """The base of every completion's settings."""

    def validate(self) -> None:
        """Raise :class:`InputError` for a value the completion cannot take (the base has none)."""


@dataclass
class HarmonicConfig(CompletionConfig):
    frames: int = 40
    """Training frames, spread over the clip, that decide which Gaussians are seen (one render and
    backward pass each)."""
    unseen_weight: float = UNSEEN_WEIGHT
    """A Gaussian with less rendering weight (pixels) than this in every one of them is unseen."""
    hair_fill: str = "seen_mean"
    """How the unseen scalp and neck are coloured before the borrowed texture: ``seen_mean``, the
    mean colour of their region's seen Gaussians weighted by how much each is seen
    (:func:`seen_means`), or ``harmonic``, the fill from the seen boundary the skin gets. The
    boundary of the seen hair is where it grazes the silhouette, its colour blended with the
    background, and the harmonic fill spread it over the whole back: a grey-khaki bald shell
    where the seen hair is brown (measurements: docs/quality.md, section "The first tables")."""
    fresh_opacity: float = 0.95
    """Opacity of the Gaussians completion adds."""
    detail: float = 1.0
    """How much of the seen surface's fine texture the filled colours get (0: the smooth fill)."""
    scalp_bottom: float = SCALP_BOTTOM
    """Model height (cm; between the ear lobes and the jaw's corner) dividing the hair materials
    into the scalp above, filled from the seen hair, and the neck below, filled from what the
    clip shows there (skin, collars, hoods): one region, filled as one, spread a hoodie's grey up
    the back of d18's head."""
    mirror: bool = False
    """Symmetric completion first: each seen Gaussian whose mirror image (x -> -x,
    :mod:`headsplat.avatar.gaussians.mirror`) would land on a triangle no training frame showed
    is copied there, colour and shape, and the fill covers only what is still bare. The face's
    other side, as the clip showed this one (a hair parting or a mole is copied too). A copy the
    frames see after all (its offset and scales reach past their outline) is dropped."""
    grazing: float = SEEN
    """Skin that no frame saw within arccos(``grazing``) of face-on (75 degrees) and through which
    the head's interior paints from a side (:func:`interior_showing`) is a hole and gets a cover
    (:meth:`HarmonicCompletion.cover_holes`), even where a frame glimpses it; -1 turns it off."""
    hole_inset: float = 0.95
    """How deep a hole's cover sits below the surface, as a share of the deepest offset a Gaussian
    may take (``GaussianConfig.max_offset``): behind the outline the frames saw, still in front of
    the interior."""
    hole_flatness: float = 0.05
    """A hole's cover's thickness along the normal relative to its width: edge-on, in the frames
    that glimpse it, a thin disc covers little of the outline."""
    hole_weight: float = 3.0
    """Pixels of rendering weight (at ``fresh_opacity``) a Gaussian covering a hole may have in a
    training frame: more, and it would stand out of the outline they show (measurements:
    docs/quality.md, section "The interior through the cheek")."""
    probe_opacity: float = 0.05
    """The faint opacity fresh samples are tested at behind the kept ones (rasterizers skip alphas
    under 1/255, so the probe cannot be infinitesimal)."""
    copy_coverage: float = 0.02
    """The share of a pixel of a training frame that symmetric completion's copies may paint
    together (its colour changes by at most this share of the difference)."""

    def validate(self) -> None:
        if not 0 <= self.hole_inset < 1:
            raise InputError(f"completion.harmonic.hole_inset must be in [0, 1), not {self.hole_inset}")
        if self.hole_flatness <= 0:
            raise InputError(f"completion.harmonic.hole_flatness must be > 0, not {self.hole_flatness}")
        if self.hair_fill not in HAIR_FILLS:
            raise InputError(
                f"unknown completion.harmonic.hair_fill {self.hair_fill!r}; known: {', '.join(HAIR_FILLS)}"
            )


@dataclass
class HookContext:
    """What a post-training hook sees: the avatar, the training frames with their conditions (the
    training data's corrections applied) and camera, and the row operation of the run."""

    avatar: Avatar
    frames: np.ndarray
    condition: Callable[[int], Condition]
    camera: Camera
    change_rows: Callable[..., RowChange]


def completion_regions(head: HeadMesh, scalp_bottom: float) -> Tensor:
    """(T,) long: each triangle's fill region: 0 skin (face, ears, eyes), 1 the scalp (the hair
    materials at or above model height ``scalp_bottom`` cm, by the template's triangle centres),
    2 the neck (the hair materials below it), 3 the interior (:meth:`HeadMesh.interior_triangles`,
    which completion keeps as trained)."""
    hair = head.hair_triangles()
    height = head.template[head.triangles].mean(dim=1)[:, 1]
    regions = torch.where(hair, torch.where(height >= scalp_bottom, SCALP, NECK), SKIN)
    return torch.where(head.interior_triangles(), INTERIOR, regions)


def seen_means(colours: Tensor, strength: Tensor, region: Tensor, n_regions: int) -> Tensor:
    """(n_regions, 3) the mean of ``colours`` (N, 3) in each ``region`` (N,) long, weighted by
    ``strength`` (N,) (how much each Gaussian is seen: its largest rendering weight, pixels), so
    the Gaussians seen face-on count and those grazing the silhouette barely do; NaN for a region
    with no weight."""
    sums = torch.zeros(n_regions, 4, device=colours.device)
    sums.index_add_(0, region, torch.cat([colours * strength[:, None], strength[:, None]], 1))
    return sums[:, :3] / sums[:, 3:].where(sums[:, 3:] > 0, torch.nan)


def spread_evenly(frames: np.ndarray, count: int) -> np.ndarray:
    """At most ``count`` of ``frames`` (F,), evenly spaced from the first to the last."""
    return frames[np.linspace(0, len(frames) - 1, min(count, len(frames))).round().astype(int)]


def borrowed_detail(detail: Tensor, region: Tensor, n_known: int, seed: int = 0) -> Tensor:
    """(N - n_known, 3): for each Gaussian after the first ``n_known``, the ``detail`` (n_known, 3)
    of a random known Gaussian of its own ``region`` (N,) (zero where its region has none): the
    seen texture's statistics carried onto the filled surface."""
    generator = torch.Generator().manual_seed(seed)
    out = torch.zeros(len(region) - n_known, 3, device=detail.device)
    for value in torch.unique(region[n_known:]):
        donors = torch.nonzero(region[:n_known] == value)[:, 0]
        takers = torch.nonzero(region[n_known:] == value)[:, 0]
        if len(donors):
            picks = torch.randint(len(donors), (len(takers),), generator=generator).to(donors.device)
            out[takers] = detail[donors[picks]]
    return out


@torch.no_grad()
def view_cosines(avatar: Avatar, conditions: Sequence[Condition], camera: Camera) -> Tensor:
    """(T,) for each triangle of ``avatar``'s head the largest cosine between its normal and the
    direction to ``camera`` over the ``conditions`` in which it is visible, 0 where it never is
    (:func:`~headsplat.preprocess.coverage.triangle_visibility` of the posed meshes)."""
    rotation, translation = camera.viewmat[:3, :3], camera.viewmat[:3, 3]
    meshes = (
        (avatar.mesh(condition)[1] @ rotation.T + translation).cpu().numpy() for condition in conditions
    )
    triangles, K = avatar.head.triangles.cpu().numpy(), camera.K.cpu().numpy()
    return torch.from_numpy(triangle_visibility(triangles, meshes, K, camera.width)).float().to(avatar.device)


SIDE_VIEWS = (-150.0, -120.0, -90.0, -60.0, 60.0, 90.0, 120.0, 150.0)
"""Degrees the head turns about its vertical axis for :func:`interior_showing`'s views."""


@torch.no_grad()
def coverage(
    avatar: Avatar, condition: Condition, camera: Camera, rows: Tensor, *, present: Tensor | None = None
) -> Tensor:
    """(H, W) the share of each pixel the Gaussians ``rows`` (N,) bool paint together in
    ``condition``, behind whatever stands in front of them, with only the ``present`` (N,) bool
    Gaussians (default all)."""
    gaussians = avatar.posed_gaussians(condition, camera.viewmat[:3, :3].to(avatar.device))
    painting = rows[:, None].to(gaussians.colours.dtype).expand_as(gaussians.colours).contiguous()
    gaussians = gaussians._replace(colours=painting)
    if present is not None:
        gaussians = gaussians._replace(opacities=gaussians.opacities * present)
    return avatar.rasterize(gaussians, camera, 0.0).image[..., 0]


def interior_share(
    avatar: Avatar, condition: Condition, camera: Camera, present: Tensor | None = None
) -> Tensor:
    """(H, W) the share of each pixel of ``avatar``'s render that the Gaussians on the head's
    interior triangles (mouth, teeth, eyeballs) paint, with only the ``present`` (N,) bool
    Gaussians (default all)."""
    interior = avatar.head.interior_triangles()[avatar.gaussians.triangle]
    return coverage(avatar, condition, camera, interior, present=present)


@torch.no_grad()
def interior_showing(
    avatar: Avatar, condition: Condition, camera: Camera, *, present: Tensor, share: float = 0.2
) -> Tensor:
    """(T,) bool: the skin triangles (not the interior's) that the head's interior paints more
    than ``share`` of a pixel through, in a view of ``condition``'s head turned by each of
    :data:`SIDE_VIEWS` (the torso turning along), with only the ``present`` (N,) bool Gaussians:
    holes a turntable would show."""
    head = avatar.head
    interior = head.interior_triangles()
    showing = torch.zeros_like(interior)
    zero = torch.zeros_like(condition.translation)
    for degrees in SIDE_VIEWS:
        turn = torch.tensor([0.0, float(np.deg2rad(degrees)), 0.0], device=zero.device)
        turned = replace(condition.corrected(turn, zero, torch.zeros_like(condition.expression)), torso=None)
        through = interior_share(avatar, turned, camera, present) > share
        vertices = avatar.mesh(turned)[1] @ camera.viewmat[:3, :3].T + camera.viewmat[:3, 3]
        raster = rasterize_mesh(
            vertices.cpu().numpy(),
            head.triangles.cpu().numpy(),
            camera.K.cpu().numpy(),
            width=camera.width,
            height=camera.height,
        )
        hit = torch.from_numpy(raster.triangle).to(through.device)[through]
        showing[hit[hit >= 0].long()] = True
    return showing & ~interior


def mirror_sources(head: HeadMesh, triangle: Tensor, seen: Tensor, *, hidden: Tensor) -> Tensor:
    """(S,) long: the ``seen`` (N,) bool Gaussians (on ``triangle`` (N,)) whose mirror triangle
    (:meth:`HeadMesh.mirror`) is ``hidden`` (T,) bool (no training frame showed it), carries no
    seen Gaussian and is not the interior's: those whose mirror images cover what the clip did not
    show. A triangle without a seen Gaussian is not enough: most of the face's small triangles
    carry none, their neighbours' Gaussians paint them, and copies there showed in every frame."""
    mirror = torch.from_numpy(head.mirror().triangle).to(triangle.device)[triangle]
    shown = torch.zeros(len(head.triangles), dtype=torch.bool, device=triangle.device)
    shown[triangle[seen]] = True
    bare = hidden & ~shown & ~head.interior_triangles()
    return torch.nonzero(seen & bare[mirror])[:, 0]


class Completion:
    """The post-training hook's contract: subclasses set ``Config`` and take ``(config)``."""

    Config: ClassVar[type[CompletionConfig]] = CompletionConfig

    def __init__(self, config: CompletionConfig):
        self.config = config

    def after_training(self, ctx: HookContext) -> dict[str, int]:
        """Change the trained avatar through ``ctx.change_rows``; returns counts for the log
        (``removed``, ``added``)."""
        raise NotImplementedError


COMPLETIONS: dict[str, type[Completion]] = {}
"""Post-training completions by name (the ``completion`` slot)."""
register_completion = registering(COMPLETIONS, "completion")
"""Class decorator: ``@register_completion("name")`` makes a completion available by name."""


@register_completion("harmonic")
class HarmonicCompletion(Completion):
    """Replace the Gaussians no training frame shows by fresh opaque UV samples on the unseen
    surface, coloured from the seen surface of their region (:func:`completion_regions`: the scalp
    from the seen scalp, the neck from the seen neck, skin from the face's; skin by a harmonic
    fill, the hair by ``hair_fill``), plus fine texture borrowed from it.

    Skin the frames saw only edge-on, through which the head's interior would paint from a side
    (:func:`interior_showing`), gets a cover from inside (:meth:`cover_holes`).

    With ``mirror``, the seen Gaussians' mirror images (:func:`mirror_sources`) cover the unseen
    triangles they land on first, as known colours of the fill.

    Fresh samples are tested behind the kept Gaussians at a faint ``probe_opacity`` (so that they
    barely hide one another) and their weights scaled to the opacity they get. Every change goes
    through the run's row operation, so the optimizers and the strategy's statistics follow.
    """

    Config: ClassVar[type[CompletionConfig]] = HarmonicConfig

    def _weights(self, ctx: HookContext, frames: Sequence[int]) -> Tensor:
        """(F, N) the rendering weights of the avatar's Gaussians in ``frames``."""
        return torch.stack([ctx.avatar.rendering_weights(ctx.condition(f), ctx.camera) for f in frames])

    def cover_holes(self, probes: dict[str, Tensor], holes: Tensor) -> dict[str, Tensor]:
        """``probes`` (fresh UV samples' columns), changed in place, with those on the ``holes``
        (T,) bool triangles made a cover from inside: sunk ``hole_inset`` below the surface and flattened to
        ``hole_flatness``, so the frames that glimpse the hole edge-on barely see them."""
        c = self.config
        on_hole = holes[probes["triangle"]]
        probes["offset"][on_hole] = float(np.arctanh(-c.hole_inset))
        probes["log_scale"][on_hole, 2] = probes["log_scale"][on_hole, 0] + float(np.log(c.hole_flatness))
        return probes

    def _drop_shown_copies(
        self, ctx: HookContext, frames: Sequence[int], start: int, sources: Tensor
    ) -> Tensor:
        """Remove the mirror images (rows ``start`` onwards, one per ``sources`` row) that the
        training ``frames`` see; returns the sources of those kept. A copy lands on a triangle the
        frames' meshes hide, but its offset and scales can reach past their outline: one they see
        would change what they show. Judged together, not one by one: copies stacked along a ray
        hide one another, so each alone looks unseen while together they paint (d6 from one frame:
        dark patches on both cheeks). A copy is seen where it has weight in pixels the copies
        together paint more than ``copy_coverage`` of; dropping those uncovers the ones behind, so
        the test repeats until none is seen. Removed before the fresh samples are tested, which a
        removed copy no longer hides."""
        avatar, c = ctx.avatar, self.config
        kept = torch.ones(len(sources), dtype=torch.bool, device=sources.device)
        while kept.any():  # each round drops a copy or ends
            copy = torch.zeros(len(avatar.gaussians), dtype=torch.bool, device=avatar.device)
            copy[start : start + int(kept.sum())] = True
            shown = torch.zeros_like(copy)
            for f in frames:
                condition = ctx.condition(f)
                painted = coverage(avatar, condition, ctx.camera, copy) > c.copy_coverage
                if painted.any():
                    shown |= copy & (avatar.rendering_weights(condition, ctx.camera, painted.float()) > 0)
            if not shown.any():
                break
            ctx.change_rows(keep=~shown)
            kept[kept.clone()] = ~shown[copy]
        return sources[kept]

    def after_training(self, ctx: HookContext) -> dict[str, int]:
        """Complete the avatar; returns the counts of removed and added Gaussians (and of the
        added, those ``mirrored``)."""
        c, avatar = self.config, ctx.avatar
        frames = [int(f) for f in spread_evenly(ctx.frames, c.frames)]
        strength = self._weights(ctx, frames).amax(0)
        # The interior keeps its Gaussians, seen or not: its prior is a dark cavity, not its rim.
        interior = avatar.head.interior_triangles()
        seen = ~unseen(strength[None], c.unseen_weight)
        keep = seen | interior[avatar.gaussians.triangle]
        cosines = view_cosines(avatar, [ctx.condition(f) for f in frames], ctx.camera)
        # Skin seen only edge-on through which the interior paints from a side: its Gaussians
        # drifted transparent (the frames' outline lies inside the fitted mesh there) and the
        # unseen rule took them out.
        holes = cosines < c.grazing
        if holes.any():  # the side views cost eight renders; none when the rule is off
            holes &= interior_showing(avatar, ctx.condition(frames[0]), ctx.camera, present=keep)
        probes = self.cover_holes(
            initial_columns(avatar.head, avatar.gaussians.config, opacity=c.probe_opacity), holes
        )
        sources = torch.zeros(0, dtype=torch.long, device=keep.device)
        copies = {name: column[:0] for name, column in probes.items()}
        if c.mirror:
            sources = mirror_sources(avatar.head, avatar.gaussians.triangle, seen, hidden=cosines == 0)
            copies = mirrored_columns(avatar.head, avatar.gaussians, sources)
        n_kept = int(keep.sum()) + len(sources)  # the known rows: kept and mirrored
        n_probes = len(probes["triangle"])
        parents = torch.cat([sources, torch.full((n_probes,), -1, dtype=torch.long, device=sources.device)])
        appended = {name: torch.cat([copies[name], probes[name]]) for name in probes}
        ctx.change_rows(keep=keep, appended=appended, parents=parents)
        n_seen = n_kept - len(sources)
        if len(sources):
            sources = self._drop_shown_copies(ctx, frames, n_seen, sources)
            n_kept = n_seen + len(sources)
        known_strength = torch.cat([strength[keep], torch.zeros(len(sources), device=strength.device)])
        weights = self._weights(ctx, frames)[:, n_kept:]
        hidden = unseen(weights * (c.fresh_opacity / c.probe_opacity), c.unseen_weight)
        store, head = avatar.gaussians, avatar.head
        known = torch.arange(len(store), device=avatar.device) < n_kept
        region = completion_regions(head, c.scalp_bottom)
        colours, reached = fill_colours(
            store.rgb(),
            known,
            triangle=store.triangle,
            bary=store.bary,
            triangles=head.triangles,
            n_vertices=head.n_vertices,
            triangle_region=region,
        )
        seen = slice(0, n_kept)
        detail = surface_detail(
            store.rgb()[seen],
            triangle=store.triangle[seen],
            bary=store.bary[seen],
            triangles=head.triangles,
            n_vertices=head.n_vertices,
        )
        gaussian_region = region[store.triangle]
        if c.hair_fill == "seen_mean":
            n_regions = int(gaussian_region.max()) + 1
            means = seen_means(colours[:n_kept], known_strength, gaussian_region[:n_kept], n_regions)
            fresh_region = gaussian_region[n_kept:]
            # The skin keeps the harmonic fill; no fresh Gaussian is added to the interior.
            hair = ((fresh_region == SCALP) | (fresh_region == NECK)) & means[fresh_region].isfinite().all(-1)
            colours[n_kept:][hair] = means[fresh_region[hair]]
        colours[n_kept:] += c.detail * borrowed_detail(detail, gaussian_region, n_kept)
        with torch.no_grad():
            store.sh0[n_kept:] = rgb_to_sh0(colours[n_kept:].clamp(0, 1))
            store.opacity[n_kept:] = float(np.log(c.fresh_opacity / (1 - c.fresh_opacity)))
        mirrored = torch.zeros_like(interior)
        mirrored[store.triangle[n_seen:n_kept]] = True
        fresh = store.triangle[n_kept:]
        # A hole's cover may be glimpsed, by at most hole_weight pixels a frame.
        glimpsed = unseen(weights * (c.fresh_opacity / c.probe_opacity), c.hole_weight)
        add = (hidden | (holes[fresh] & glimpsed)) & reached[n_kept:] & ~interior[fresh] & ~mirrored[fresh]
        ctx.change_rows(keep=torch.cat([torch.ones(n_kept, dtype=torch.bool, device=add.device), add]))
        return {
            "removed": int((~keep).sum()),
            "added": int(add.sum()) + len(sources),
            "mirrored": len(sources),
        }


def make_completion(slot: dict[str, CompletionConfig]) -> Completion | None:
    """The completion a run config's ``completion`` slot chooses, or None for an empty one."""
    chosen = the_chosen(slot)
    return None if chosen is None else COMPLETIONS[chosen[0]](chosen[1])
