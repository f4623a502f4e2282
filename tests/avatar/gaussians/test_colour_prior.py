"""The colour smoothness prior: neighbourhood means, and inpainting of unsupervised Gaussians."""

import numpy as np
import torch

from headsplat.avatar.gaussians.colour_prior import colour_smoothness, neighbourhood_colours


def _strip(n_triangles: int) -> torch.Tensor:
    """(T, 3) a strip of triangles: triangle i uses vertices i, i+1, i+2."""
    return torch.tensor([[i, i + 1, i + 2] for i in range(n_triangles)])


def test_the_neighbourhood_mean_weights_triangles_by_shared_vertices():
    triangles = _strip(4)  # triangle 0 shares 2 vertices with 1, 1 with 2, none with 3
    triangle = torch.tensor([0, 1, 2, 3])
    colours = torch.tensor([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0], [1.0, 1.0, 1.0]])
    means = neighbourhood_colours(colours, triangle, triangles, n_vertices=6)
    # Triangle 0: itself x3, triangle 1 x2, triangle 2 x1.
    assert torch.allclose(means[0], torch.tensor([3.0, 2.0, 1.0]) / 6)
    # Triangle 3: itself x3, triangle 2 x2, triangle 1 x1.
    assert torch.allclose(means[3], torch.tensor([3.0 + 0, 3.0 + 1, 3.0 + 2]) / 6)


def test_several_gaussians_on_one_triangle_count_once_each():
    triangles = _strip(1)
    colours = torch.tensor([[1.0, 0, 0], [0, 0, 1.0], [0, 0, 1.0]])
    means = neighbourhood_colours(colours, torch.zeros(3, dtype=torch.long), triangles, n_vertices=3)
    assert torch.allclose(means, torch.tensor([1 / 3, 0, 2 / 3]).expand(3, 3))


def test_unsupervised_gaussians_take_the_colour_of_their_supervised_surroundings():
    """Only the first triangle's Gaussian is held at red (a photometric loss would do that);
    the prior alone spreads red down a 12-triangle strip, as harmonic inpainting does."""
    n = 12
    triangles, triangle = _strip(n), torch.arange(n)
    colours = torch.nn.Parameter(torch.full((n, 3), 0.5))
    red = torch.tensor([1.0, 0.0, 0.0])
    optimizer = torch.optim.Adam([colours], lr=0.02)
    for _ in range(800):
        with torch.no_grad():
            colours[0] = red
        optimizer.zero_grad()
        colour_smoothness(colours, triangle, triangles, n + 2).backward()
        optimizer.step()
    error = (colours.detach()[1:] - red).abs().max().item()
    assert error < 0.05, f"farthest colour is {error:.3f} from red"
    assert np.isfinite(colour_smoothness(colours, triangle, triangles, n + 2).item())
