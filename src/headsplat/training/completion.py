"""Completion of the unseen head as a post-training hook (:mod:`headsplat.avatar.gaussians.completion`
has the why and the maths). Registered by name; ``none`` switches it off."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from headsplat.avatar.avatar import Avatar
from headsplat.avatar.condition import Camera, Condition
from headsplat.avatar.gaussians.completion import UNSEEN_WEIGHT, fill_colours, surface_detail, unseen
from headsplat.avatar.gaussians.rows import RowChange
from headsplat.avatar.gaussians.store import initial_columns, rgb_to_sh0
from headsplat.avatar.head_mesh import HeadMesh


@dataclass
class CompletionConfig:
    name: str = "harmonic"
    """A registered completion (:data:`COMPLETIONS`), or ``none`` to keep the unseen Gaussians as
    trained."""
    frames: int = 40
    """Training frames, spread over the clip, that decide which Gaussians are seen (one render and
    backward pass each)."""
    unseen_weight: float = UNSEEN_WEIGHT
    """A Gaussian with less rendering weight (pixels) than this in every one of them is unseen."""
    fresh_opacity: float = 0.95
    """Opacity of the Gaussians completion adds."""
    detail: float = 1.0
    """How much of the seen surface's fine texture the filled colours get (0: the smooth fill)."""
    scalp_bottom: float = -4.0
    """Model height (cm; between the ear lobes and the jaw's corner) dividing the hair materials
    into the scalp above, filled from the seen hair, and the neck below, filled from what the
    clip shows there (skin, collars, hoods): one region, filled as one, spread a hoodie's grey up
    the back of d18's head."""
    probe_opacity: float = 0.05
    """The faint opacity fresh samples are tested at behind the kept ones (rasterizers skip alphas
    under 1/255, so the probe cannot be infinitesimal)."""


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
    """(T,) long: each triangle's fill region: 0 skin (face, ears, mouth, eyes), 1 the scalp (the
    hair materials at or above model height ``scalp_bottom`` cm, by the template's triangle
    centres), 2 the neck (the hair materials below it)."""
    hair = head.hair_triangles()
    height = head.template[head.triangles].mean(dim=1)[:, 1]
    return torch.where(hair, torch.where(height >= scalp_bottom, 1, 2), 0)


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


class HarmonicCompletion:
    """Replace the Gaussians no training frame shows by fresh opaque UV samples on the unseen
    surface, coloured by a harmonic fill from the seen one of their region
    (:func:`completion_regions`: the scalp from the seen scalp, the neck from the seen neck, skin
    from the face's), plus fine texture borrowed from it.

    Fresh samples are tested behind the kept Gaussians at a faint ``probe_opacity`` (so that they
    barely hide one another) and their weights scaled to the opacity they get. Every change goes
    through the run's row operation, so the optimizers and the strategy's statistics follow.
    """

    def __init__(self, config: CompletionConfig):
        self.config = config

    def _weights(self, ctx: HookContext, frames: Sequence[int]) -> Tensor:
        """(F, N) the rendering weights of the avatar's Gaussians in ``frames``."""
        return torch.stack([ctx.avatar.rendering_weights(ctx.condition(f), ctx.camera) for f in frames])

    def after_training(self, ctx: HookContext) -> dict[str, int]:
        """Complete the avatar; returns the counts of removed and added Gaussians."""
        c, avatar = self.config, ctx.avatar
        spread = np.linspace(0, len(ctx.frames) - 1, min(c.frames, len(ctx.frames))).round().astype(int)
        frames = [int(f) for f in ctx.frames[spread]]
        keep = ~unseen(self._weights(ctx, frames), c.unseen_weight)
        n_kept = int(keep.sum())
        ctx.change_rows(
            keep=keep, appended=initial_columns(avatar.head, avatar.gaussians.config, c.probe_opacity)
        )
        weights = self._weights(ctx, frames)[:, n_kept:]
        hidden = unseen(weights * (c.fresh_opacity / c.probe_opacity), c.unseen_weight)
        store, head = avatar.gaussians, avatar.head
        known = torch.arange(len(store), device=avatar.device) < n_kept
        region = completion_regions(head, c.scalp_bottom)
        colours, reached = fill_colours(
            store.rgb(), known, store.triangle, store.bary, head.triangles, head.n_vertices,
            triangle_region=region,
        )  # fmt: skip
        seen = slice(0, n_kept)
        detail = surface_detail(
            store.rgb()[seen], store.triangle[seen], store.bary[seen], head.triangles, head.n_vertices
        )
        colours[n_kept:] += c.detail * borrowed_detail(detail, region[store.triangle], n_kept)
        with torch.no_grad():
            store.sh0[n_kept:] = rgb_to_sh0(colours[n_kept:].clamp(0, 1))
            store.opacity[n_kept:] = float(np.log(c.fresh_opacity / (1 - c.fresh_opacity)))
        add = hidden & reached[n_kept:]
        ctx.change_rows(keep=torch.cat([torch.ones(n_kept, dtype=torch.bool, device=add.device), add]))
        return {"removed": int((~keep).sum()), "added": int(add.sum())}


COMPLETIONS: dict[str, type[HarmonicCompletion]] = {"harmonic": HarmonicCompletion}
"""Post-training completions by name (``completion.name``)."""


def make_completion(config: CompletionConfig) -> HarmonicCompletion | None:
    """The registered completion ``config.name``, or None for ``none``."""
    return None if config.name == "none" else COMPLETIONS[config.name](config)
