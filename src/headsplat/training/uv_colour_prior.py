"""The UV colour prior for avatars trained on a few frames: a Gaussian that the training frames saw
only through a small footprint (edge-on, or not at all) is pulled towards the colour of its mirror
image's neighbourhood where that was seen better, else towards its region's colour, with a weight
that falls as its footprint grows.

One frame shows the far cheek and the sides of the head edge-on: their Gaussians fit a few
stretched pixels of the frame's outline (background, shadow, hair) and nothing holds them where
the pixels stop. Their mirror images were often seen face-on, and a face is nearly symmetric
(:mod:`headsplat.head.mirror`). FlexAvatar (Kirschstein et al., arXiv 2512.15599) fills what a
few images leave open from a prior learned on many heads; with no such prior to ship, the
template's symmetry and the seen regions' colours are what this can draw on. The colour
smoothness prior (:mod:`headsplat.avatar.gaussians.colour_prior`) stays: it spreads colours over
the mesh, this one across it.

A triangle's footprint is the largest cosine between its normal and the direction to the camera
over the training frames in which it is visible (0: never), measured once on the avatar as it is
made, at the tracked conditions (:func:`~headsplat.training.completion.view_cosines`), and kept
with the trainer's state so that a resumed run pulls as the first did.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from headsplat.avatar.avatar import Avatar
from headsplat.avatar.condition import Camera, Condition
from headsplat.avatar.gaussians.colour_prior import mirrored_neighbourhood_colours
from headsplat.avatar.gaussians.store import SH_C0, GaussianStore
from headsplat.avatar.head_mesh import HeadMesh
from headsplat.io.errors import InputError
from headsplat.training.completion import INTERIOR, SCALP_BOTTOM, completion_regions, seen_means, view_cosines


@dataclass
class UVColourPriorConfig:
    weight: float = 0.0
    """The prior's weight against the image loss (0: off; the ``fewshot`` preset turns it on)."""
    full_footprint: float = 0.5
    """The footprint (cosine to the camera, see the module) from which a Gaussian is left to its
    frames: the pull falls linearly from 1 on a triangle no frame saw to 0 here (0.5: seen 60
    degrees from face-on)."""
    frames: int = 40
    """Training frames, spread over the clip, that measure the footprints."""

    def validate(self) -> None:
        if not 0 < self.full_footprint <= 1:
            raise InputError(f"uv_colour_prior.full_footprint must be in (0, 1], not {self.full_footprint}")


def footprint_pull(footprint: Tensor, full_footprint: float) -> Tensor:
    """(T,) each triangle's pull from its ``footprint`` (T,) in [0, 1]: 1 - footprint /
    ``full_footprint``, clamped to [0, 1]."""
    return (1 - footprint / full_footprint).clamp(0, 1)


class UVColourPrior:
    """The prior over one avatar's head (see the module).

    Args:
        footprint: (T,) each triangle's footprint in the training frames.
    """

    def __init__(self, config: UVColourPriorConfig, head: HeadMesh, footprint: Tensor):
        self.config = config
        self.head = head
        self.footprint = footprint
        self.mirror_triangle = torch.from_numpy(head.mirror().triangle).to(footprint.device)
        self.region = completion_regions(head, SCALP_BOTTOM).to(footprint.device)
        self.triangles = head.interior_split_triangles()  # the mouth's colours stay out of the skin's
        # The interior keeps its dark prior: neither pulled nor pulling.
        self.pull = footprint_pull(footprint, config.full_footprint) * (self.region != INTERIOR)

    @classmethod
    def measure(
        cls, config: UVColourPriorConfig, avatar: Avatar, conditions: Sequence[Condition], camera: Camera
    ) -> UVColourPrior:
        """The prior with the footprints of ``avatar``'s triangles at the training frames'
        ``conditions`` seen by ``camera``."""
        return cls(config, avatar.head, view_cosines(avatar, conditions, camera))

    def targets(self, colours: Tensor, triangle: Tensor) -> Tensor:
        """(N, 3) each Gaussian's target (no gradient): the mean colour around its mirror triangle
        where that triangle's footprint is larger than its own and Gaussians are bound there, else
        its region's mean colour weighted by footprint (its own colour in a region no frame saw).

        Args:
            colours: (N, 3). triangle: (N,) binding triangles.
        """
        mirrored, found = mirrored_neighbourhood_colours(
            colours, triangle, self.triangles, 2 * self.head.n_vertices, mirror_triangle=self.mirror_triangle
        )
        better_seen = self.footprint[self.mirror_triangle[triangle]] > self.footprint[triangle]
        region = self.region[triangle]
        means = seen_means(colours.detach(), self.footprint[triangle], region, int(self.region.max()) + 1)
        region_colours = means[region]
        region_colours = torch.where(region_colours.isfinite(), region_colours, colours.detach())
        return torch.where((better_seen & found)[:, None], mirrored, region_colours)

    def loss(self, store: GaussianStore) -> Tensor:
        """Mean over the Gaussians of pull x the squared distance of the colour to its target."""
        colours = SH_C0 * store.sh0
        distance = (colours - self.targets(colours, store.triangle)).pow(2).sum(-1)
        return (self.pull[store.triangle] * distance).mean()
