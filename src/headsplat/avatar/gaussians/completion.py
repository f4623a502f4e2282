"""Completing the head where the video never looks (the back of the head after a frontal clip).

Gaussians that no training frame shows get no photometric signal, yet Adam still moves them:
its normalised step turns the faint gradients that leak through nearly opaque layers into full
steps, so they drift to low opacity (holes through which the inside of the face shows in a
turntable) and odd colours. After training, :func:`unseen` finds them from each Gaussian's
rendering weight in the training frames; the avatar then drops them and covers the unseen surface
with fresh, opaque UV samples whose colours :func:`fill_colours` spreads from the seen surface
over the mesh.

This is a geometric stand-in for FATE's full-head completion (which fills the back of the head
with a pretrained generative head prior, whose weights we cannot ship): the unseen surface becomes
a smooth continuation of what was seen, e.g. a hair-coloured scalp, not a hallucinated texture.
"""

from __future__ import annotations

import torch

from headsplat.avatar.gaussians.colour_prior import vertex_sums

UNSEEN_WEIGHT = 0.2
"""A Gaussian whose total rendering weight stays below this many pixels in every frame counts as
unseen. 0.05 px keeps the metrics but leaves skin- and background-coloured Gaussians that graze
the silhouette as blotches behind the ears; 0.5 px clears them but drops faint texture (LPIPS
worsens); 0.2 px clears most at a small cost in LPIPS (measurements: docs/quality.md, section
"`avatar.gaussians.completion.UNSEEN_WEIGHT`")."""


def unseen(weights: torch.Tensor, threshold: float = UNSEEN_WEIGHT) -> torch.Tensor:
    """(N,) bool: Gaussians whose rendering weights (F, N) (each Gaussian's sum over a frame's
    pixels of alpha x transmittance) stay below ``threshold`` in all F frames."""
    return weights.amax(0) < threshold


def _vertex_neighbour_sums(values: torch.Tensor, triangles: torch.Tensor) -> torch.Tensor:
    """(V, C) for each vertex, the sum of ``values`` (V, C) over the vertices of its triangles
    (vertex -> triangle -> vertex pooling; a vertex counts once per triangle it shares)."""
    per_triangle = values[triangles].sum(1)
    out = torch.zeros_like(values)
    return out.index_add_(0, triangles.reshape(-1), per_triangle.repeat_interleave(3, dim=0))


def _at_gaussians(vertex_values: torch.Tensor, triangles, triangle, bary) -> torch.Tensor:
    """(N, C) per-vertex values (V, C) interpolated at each Gaussian's barycentric point."""
    return (vertex_values[triangles[triangle]] * bary.to(vertex_values)[..., None]).sum(1)


def fill_colours(
    colours: torch.Tensor,
    known: torch.Tensor,
    *,
    triangle: torch.Tensor,
    bary: torch.Tensor,
    triangles: torch.Tensor,
    n_vertices: int,
    relax_steps: int = 50,
    triangle_region: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Fill unknown Gaussian colours from known ones over the mesh, like harmonic inpainting.

    The known colours are averaged onto the vertices of their triangles; a front then grows over
    the mesh's edges ring by ring (each new vertex takes the mean of its reached neighbours), and
    ``relax_steps`` Jacobi steps move every filled vertex towards its neighbours' mean, the known
    vertices held fixed. Unknown Gaussians take their triangle's vertex colours at their
    barycentric point. Working on vertices keeps the fill connected however sparse the Gaussians.
    With ``triangle_region`` (T,) ints, each region is filled on its own triangles from its own
    known Gaussians (the scalp's hair does not bleed into the ears' skin, nor the skin into it).

    Args:
        colours: (N, 3). known: (N,) bool. triangle: (N,) binding triangles. bary: (N, 3).
        triangles: (T, 3) vertex indices of the mesh.

    Returns:
        (N, 3) colours (the known ones unchanged) and (N,) bool ``reached``: known, or on a mesh
        part (of its region) connected to a known Gaussian (the others keep their colours).
    """
    if triangle_region is None:
        triangle_region = torch.zeros(len(triangles), dtype=torch.long, device=triangles.device)
    filled, reached = colours.detach().clone(), known.clone()
    for region in torch.unique(triangle_region):
        mine = triangle_region[triangle] == region
        region_triangles = triangles[triangle_region == region]
        # Gaussians of this region bind to the region's triangles by their index in that subset.
        subset_index = torch.cumsum(triangle_region == region, 0) - 1
        region_fill, region_reached = _fill_region(
            colours[mine], known[mine], subset_index[triangle[mine]], bary[mine], region_triangles,
            n_vertices, relax_steps,
        )  # fmt: skip
        filled[mine], reached[mine] = region_fill, region_reached
    return filled, reached


def _fill_region(colours, known, triangle, bary, triangles, n_vertices: int, relax_steps: int):
    """:func:`fill_colours` on one region's Gaussians and triangles."""
    weighted = torch.cat([colours.detach()[known], torch.ones_like(colours[known, :1])], 1)
    sums = vertex_sums(weighted, triangle[known], triangles, n_vertices)
    fixed = sums[:, 3] > 0
    vertex_colours = sums[:, :3] / sums[:, 3:].clamp_min(1e-12)
    reached = fixed.clone()

    def neighbour_means() -> tuple[torch.Tensor, torch.Tensor]:
        weight = reached.float()[:, None]
        pooled = _vertex_neighbour_sums(torch.cat([vertex_colours * weight, weight], 1), triangles)
        return pooled[:, :3] / pooled[:, 3:].clamp_min(1e-12), pooled[:, 3] > 0

    while True:
        means, has_neighbour = neighbour_means()
        front = has_neighbour & ~reached
        if not front.any():
            break
        vertex_colours[front] = means[front]
        reached |= front
    free = reached & ~fixed
    for _ in range(relax_steps if free.any() else 0):
        means, _ = neighbour_means()
        vertex_colours[free] = means[free]
    interpolated = _at_gaussians(vertex_colours, triangles, triangle, bary)
    gaussian_reached = known | reached[triangles[triangle]].all(1)
    filled = torch.where((gaussian_reached & ~known)[:, None], interpolated, colours.detach())
    return filled, gaussian_reached


def surface_detail(colours, *, triangle, bary, triangles, n_vertices: int) -> torch.Tensor:
    """(N, 3) each Gaussian's colour (N, 3) minus the mean colour field of all of them averaged onto
    the mesh's vertices and interpolated back: the fine texture (strands, pores) a smooth fill
    lacks. triangle (N,), bary (N, 3), triangles (T, 3) as in :func:`fill_colours`."""
    weighted = torch.cat([colours.detach(), torch.ones_like(colours[:, :1])], 1)
    sums = vertex_sums(weighted, triangle, triangles, n_vertices)
    field = sums[:, :3] / sums[:, 3:].clamp_min(1e-12)
    return colours.detach() - _at_gaussians(field, triangles, triangle, bary)
