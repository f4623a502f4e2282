"""Numba kernels of the tile-based CPU rasterizer: binning, forward and backward passes.

Same compositing rules as :mod:`headsplat.render.reference`. Tiles run in parallel
(``prange``); the backward pass writes each (tile, Gaussian) intersection's gradient to its
own row, so threads never share an accumulator and the result is deterministic; one pass
then sums the rows per Gaussian.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from headsplat.render.projection import ALPHA_MAX, ALPHA_MIN, TRANSMITTANCE_MIN

GRAD_FIXED = 6
"""Leading columns of a gradient row: mean2d x, y, conic a, b, c, opacity; features follow."""


@nb.njit(cache=True, inline="always")
def _pixel_span(centre, radius, lowest, highest):
    """First and last pixel (inclusive) whose centre lies within ``radius`` of ``centre``,
    clipped to [lowest, highest]; empty when first > last."""
    first = max(int(np.ceil(centre - radius - 0.5)), lowest)
    last = min(int(np.floor(centre + radius - 0.5)), highest)
    return first, last


@nb.njit(cache=True, parallel=True)
def bin_to_tiles(order, means2d, radii, width, height, tile_size):
    """Counting sort of (tile, Gaussian) pairs, depth order kept within each tile.

    order: (M,) visible Gaussian ids, nearest first; means2d (N, 2); radii (N, 2).
    Returns offsets (tiles + 1,) int64 and ids (I,) int32: tile t holds
    ``ids[offsets[t]:offsets[t + 1]]``; tiles are numbered row-major. Rows of tiles are
    filled in parallel, each scanning the Gaussians in depth order.
    """
    tiles_x = (width + tile_size - 1) // tile_size
    tiles_y = (height + tile_size - 1) // tile_size
    n = order.shape[0]
    spans = np.empty((n, 4), np.int64)  # first/last tile column, first/last tile row
    for i in nb.prange(n):
        g = order[i]
        x_first, x_last = _pixel_span(means2d[g, 0], radii[g, 0], 0, width - 1)
        y_first, y_last = _pixel_span(means2d[g, 1], radii[g, 1], 0, height - 1)
        if x_first > x_last or y_first > y_last:
            spans[i, 0], spans[i, 1], spans[i, 2], spans[i, 3] = 0, -1, 0, -1
        else:
            spans[i, 0], spans[i, 1] = x_first // tile_size, x_last // tile_size
            spans[i, 2], spans[i, 3] = y_first // tile_size, y_last // tile_size
    counts = np.zeros(tiles_x * tiles_y, np.int64)
    for ty in nb.prange(tiles_y):
        for i in range(n):
            if spans[i, 2] <= ty and ty <= spans[i, 3]:
                for tx in range(spans[i, 0], spans[i, 1] + 1):
                    counts[ty * tiles_x + tx] += 1
    offsets = np.zeros(tiles_x * tiles_y + 1, np.int64)
    offsets[1:] = np.cumsum(counts)
    ids = np.empty(offsets[-1], np.int32)
    for ty in nb.prange(tiles_y):
        cursor = offsets[ty * tiles_x : (ty + 1) * tiles_x].copy()
        for i in range(n):
            if spans[i, 2] <= ty and ty <= spans[i, 3]:
                for tx in range(spans[i, 0], spans[i, 1] + 1):
                    ids[cursor[tx]] = order[i]
                    cursor[tx] += 1
    return offsets, ids


@nb.njit(cache=True, fastmath=True)
def _falloff(sigma):
    """exp(-sigma) for 0 <= sigma <= ~8 with relative error < 3e-6, without a libm call:
    a degree-6 Taylor polynomial of exp(-sigma / 16), squared four times. Forward and
    backward both use it, so the backward pass undoes exactly the alphas the forward used."""
    y = sigma * 0.0625
    p = 1.0 - y * (
        1.0 - y * (0.5 - y * (1.0 / 6.0 - y * (1.0 / 24.0 - y * (1.0 / 120.0 - y * (1.0 / 720.0)))))
    )
    p *= p
    p *= p
    p *= p
    return p * p


SPAN_MARGIN = 0.05
"""Pixels of slack on each side of an analytic ellipse span, against rounding; every pixel
in a span still passes the exact alpha test, so the slack never changes the result."""


@nb.njit(cache=True, inline="always")
def _row_span(dy, mean_x, a, b, c, inv_a, cutoff, x_first, x_last):
    """Columns of one pixel row where ``sigma <= cutoff`` can hold.

    ``dy`` is mean_y minus the row centre; ``sigma(dx) = (a dx^2 + c dy^2) / 2 + b dx dy``
    with dx = mean_x - column centre. Clipped to [x_first, x_last]; empty when first > last.
    """
    disc = (b * b - a * c) * dy * dy + 2.0 * a * cutoff
    if disc < 0.0:
        return 1, 0
    root = np.sqrt(disc)
    low = mean_x + (b * dy - root) * inv_a  # leftmost column centre inside the ellipse
    high = mean_x + (b * dy + root) * inv_a
    first = max(int(np.ceil(low - 0.5 - SPAN_MARGIN)), x_first)
    last = min(int(np.floor(high - 0.5 + SPAN_MARGIN)), x_last)
    return first, last


@nb.njit(cache=True, parallel=True)
def rasterize_forward(offsets, ids, means2d, conics, opacities, cutoffs, radii, features,
                      background, width, height, tile_size, image, final_t, n_used):  # fmt: skip
    """Composite front to back. Writes image (H, W, C), final_t (H, W) transmittance and
    n_used (H, W) int32: one past the position (in ``ids``) of the pixel's last contributor.

    Each tile walks its Gaussians nearest first and visits only the pixels inside each
    Gaussian's alpha >= 1/255 ellipse (``cutoffs`` = ln(255 o), the largest sigma that
    passes), so the work is the Gaussians' footprint area, not tiles x Gaussians.
    """
    tiles_x = (width + tile_size - 1) // tile_size
    for tile in nb.prange(offsets.shape[0] - 1):
        ty, tx = divmod(np.int64(tile), tiles_x)
        _forward_tile(offsets[tile], offsets[tile + 1], ids, means2d, conics, opacities, cutoffs,
                      radii, features, background, tx * tile_size, ty * tile_size,
                      min((tx + 1) * tile_size, width), min((ty + 1) * tile_size, height),
                      image, final_t, n_used)  # fmt: skip


@nb.njit(cache=True, fastmath=True)
def _forward_tile(start, end, ids, means2d, conics, opacities, cutoffs, radii, features,
                  background, x0, y0, x1, y1, image, final_t, n_used):  # fmt: skip
    """:func:`rasterize_forward` for the pixels [y0, y1) x [x0, x1) of one tile."""
    channels = features.shape[1]
    trans = np.ones((y1 - y0, x1 - x0), np.float64)
    color = np.zeros((y1 - y0, x1 - x0, channels), np.float64)
    last = np.full((y1 - y0, x1 - x0), start, np.int32)
    done = np.zeros((y1 - y0, x1 - x0), np.bool_)
    row_alive = np.full(y1 - y0, x1 - x0, np.int64)  # pixels of the row still compositing
    rows_alive = y1 - y0
    for k in range(start, end):
        g = ids[k]
        mean_x, mean_y = means2d[g, 0], means2d[g, 1]
        a, b, c = conics[g, 0], conics[g, 1], conics[g, 2]
        inv_a = 1.0 / a
        opacity, cutoff = opacities[g], cutoffs[g]
        row_first, row_last = _pixel_span(mean_y, radii[g, 1], y0, y1 - 1)
        for py in range(row_first, row_last + 1):
            if row_alive[py - y0] == 0:
                continue
            dy = mean_y - (py + 0.5)
            first, last_col = _row_span(dy, mean_x, a, b, c, inv_a, cutoff, x0, x1 - 1)
            for px in range(first, last_col + 1):
                i, j = py - y0, px - x0
                if done[i, j]:
                    continue
                dx = mean_x - (px + 0.5)
                sigma = 0.5 * (a * dx * dx + c * dy * dy) + b * dx * dy
                if sigma < 0.0:
                    continue
                alpha = min(ALPHA_MAX, opacity * _falloff(sigma))
                if alpha < ALPHA_MIN:
                    continue
                t = trans[i, j]
                next_t = t * (1.0 - alpha)
                if next_t <= TRANSMITTANCE_MIN:
                    done[i, j] = True
                    row_alive[i] -= 1
                    if row_alive[i] == 0:
                        rows_alive -= 1
                    continue
                weight = alpha * t
                for ch in range(channels):
                    color[i, j, ch] += features[g, ch] * weight
                trans[i, j] = next_t
                last[i, j] = np.int32(k + 1)
        if rows_alive == 0:
            break
    for i in range(y1 - y0):
        for j in range(x1 - x0):
            for ch in range(channels):
                image[y0 + i, x0 + j, ch] = color[i, j, ch] + trans[i, j] * background[ch]
            final_t[y0 + i, x0 + j] = trans[i, j]
            n_used[y0 + i, x0 + j] = last[i, j]


@nb.njit(cache=True, parallel=True, fastmath=True)
def rasterize_backward(offsets, ids, means2d, conics, opacities, cutoffs, radii, features,
                       background, width, height, tile_size, final_t, n_used, grad_image,
                       grad_alpha, grad_rows):  # fmt: skip
    """Back to front through each tile's Gaussians (3DGS backward, recomputing alpha and
    undoing the transmittance), over the same ellipse spans as the forward pass.

    grad_image (H, W, C), grad_alpha (H, W); writes grad_rows (I, 6 + C), one row per
    intersection, columns as :data:`GRAD_FIXED` says.
    """
    tiles_x = (width + tile_size - 1) // tile_size
    channels = features.shape[1]
    for tile in nb.prange(offsets.shape[0] - 1):
        ty, tx = divmod(np.int64(tile), tiles_x)
        x0, y0 = tx * tile_size, ty * tile_size
        x1, y1 = min(x0 + tile_size, width), min(y0 + tile_size, height)
        trans = final_t[y0:y1, x0:x1].copy()
        behind = np.zeros((y1 - y0, x1 - x0, channels), grad_rows.dtype)
        # d loss / d alpha_k of every contributor gets T_final / (1 - alpha_k) times this:
        alpha_grad_base = np.empty((y1 - y0, x1 - x0), grad_rows.dtype)
        for i in range(y1 - y0):
            for j in range(x1 - x0):
                background_grad = 0.0
                for ch in range(channels):
                    background_grad += background[ch] * grad_image[y0 + i, x0 + j, ch]
                alpha_grad_base[i, j] = trans[i, j] * (grad_alpha[y0 + i, x0 + j] - background_grad)
        feature_grad = np.empty(channels, grad_rows.dtype)
        # Gaussians at or past a row's largest n_used contributed to none of its pixels.
        row_used = np.empty(y1 - y0, np.int64)
        for i in range(y1 - y0):
            row_used[i] = n_used[y0 + i, x0:x1].max()
        last_used = row_used.max()
        grad_rows[last_used : offsets[tile + 1]] = 0.0  # rows below last_used are all written
        for k in range(last_used - 1, offsets[tile] - 1, -1):
            g = ids[k]
            mean_x, mean_y = means2d[g, 0], means2d[g, 1]
            a, b, c = conics[g, 0], conics[g, 1], conics[g, 2]
            inv_a = 1.0 / a
            opacity, cutoff = opacities[g], cutoffs[g]
            grad_mx = grad_my = grad_a = grad_b = grad_c = grad_opacity = 0.0
            feature_grad[:] = 0.0
            row_first, row_last = _pixel_span(mean_y, radii[g, 1], y0, y1 - 1)
            for py in range(row_first, row_last + 1):
                if k >= row_used[py - y0]:
                    continue
                dy = mean_y - (py + 0.5)
                first, last_col = _row_span(dy, mean_x, a, b, c, inv_a, cutoff, x0, x1 - 1)
                for px in range(first, last_col + 1):
                    i, j = py - y0, px - x0
                    if k >= n_used[py, px]:
                        continue
                    dx = mean_x - (px + 0.5)
                    sigma = 0.5 * (a * dx * dx + c * dy * dy) + b * dx * dy
                    if sigma < 0.0:
                        continue
                    falloff = _falloff(sigma)
                    raw_alpha = opacity * falloff
                    alpha = min(ALPHA_MAX, raw_alpha)
                    if alpha < ALPHA_MIN:
                        continue
                    inv_one_minus = 1.0 / (1.0 - alpha)
                    t = trans[i, j] * inv_one_minus
                    trans[i, j] = t
                    weight = alpha * t
                    alpha_grad = alpha_grad_base[i, j] * inv_one_minus
                    for ch in range(channels):
                        pixel_grad = grad_image[py, px, ch]
                        feature_grad[ch] += weight * pixel_grad
                        alpha_grad += (features[g, ch] * t - behind[i, j, ch] * inv_one_minus) * pixel_grad
                        behind[i, j, ch] += features[g, ch] * weight
                    if raw_alpha <= ALPHA_MAX:
                        sigma_grad = -raw_alpha * alpha_grad
                        grad_mx += sigma_grad * (a * dx + b * dy)
                        grad_my += sigma_grad * (b * dx + c * dy)
                        grad_a += 0.5 * sigma_grad * dx * dx
                        grad_b += sigma_grad * dx * dy
                        grad_c += 0.5 * sigma_grad * dy * dy
                        grad_opacity += falloff * alpha_grad
            grad_rows[k, 0], grad_rows[k, 1] = grad_mx, grad_my
            grad_rows[k, 2], grad_rows[k, 3], grad_rows[k, 4] = grad_a, grad_b, grad_c
            grad_rows[k, 5] = grad_opacity
            grad_rows[k, GRAD_FIXED:] = feature_grad


@nb.njit(cache=True)
def sum_rows_per_gaussian(ids, grad_rows, n_gaussians):
    """(I,) ids and (I, D) rows -> (N, D) per-Gaussian sums."""
    out = np.zeros((n_gaussians, grad_rows.shape[1]), grad_rows.dtype)
    for k in range(ids.shape[0]):
        out[ids[k]] += grad_rows[k]
    return out
