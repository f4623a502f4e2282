"""Where EAvatar's deformation-aware splitting put its Gaussians: a run with ``--strategy
deformation`` against the base run of the same clip and seed, as ``benchmarks/ablation.py --study
eavatar`` trained them.

    python benchmarks/ablation.py --study eavatar --out /tmp/ablation --clips d12 --rows base split --seeds 0
    python benchmarks/deformation_children.py --clip d12 --out /tmp/ablation --image children.jpg

It prints how many Gaussians each run keeps on the skin the clip's expressions move (a vertex
moved at least ``tau`` 0.3 of the most, as sparse control picks its candidates) and elsewhere,
and the displacement percentiles the strategy logged at its last densification; the picture is
the neutral head coloured by how many more Gaussians per cm² the split run keeps than the base
(black none more, yellow the most), front and turned.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ablation import run_name
from common import headsplat_env, print_table_header, print_table_row, subject_folder
from sparse_controls import write_head_picture

MOVING = 0.3
"""A vertex is on the moving skin when the clip's expressions move it this share of the most."""
SMOOTHING = 8
"""Rounds of averaging each vertex's density with its neighbours' (a triangle holds about one
Gaussian, so raw counts per triangle are mostly noise)."""


def gaussians_per_triangle(avatar) -> np.ndarray:
    """(T,) how many of ``avatar``'s Gaussians sit on each triangle of its head."""
    counts = torch.bincount(avatar.gaussians.triangle.cpu(), minlength=len(avatar.head.triangles))
    return counts.numpy().astype(np.float64)


def vertex_density(counts: np.ndarray, positions: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """(V,) Gaussians per cm² around each vertex: ``counts`` (T,) over the area of the
    ``triangles`` (T, 3) it is a corner of, at ``positions`` (V, 3) cm, then smoothed over the
    mesh's edges ``SMOOTHING`` times."""
    from scipy.sparse import coo_matrix

    from headsplat.geometry import mesh_edges

    a, b, c = positions[triangles].transpose(1, 0, 2)
    area = 0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1)
    n = len(positions)
    gaussians = np.bincount(triangles.ravel(), weights=np.repeat(counts, 3), minlength=n)
    surface = np.bincount(triangles.ravel(), weights=np.repeat(area, 3), minlength=n)
    density = gaussians / np.maximum(surface, 1e-9)
    edges = mesh_edges(torch.from_numpy(triangles)).numpy()
    rows, cols = (
        np.concatenate([edges[:, 0], edges[:, 1], np.arange(n)]),
        np.concatenate([edges[:, 1], edges[:, 0], np.arange(n)]),
    )
    adjacency = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n)).tocsr()
    degree = np.asarray(adjacency.sum(axis=1)).ravel()
    for _ in range(SMOOTHING):
        density = adjacency @ density / degree
    return density


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", default="d6")
    parser.add_argument("--out", type=Path, default=Path("ablation"), help="the ablation's --out")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--row", default="split", help="the row that splits (default split; or both)")
    parser.add_argument("--image", type=Path, help="write the picture here (JPEG)")
    parser.add_argument("--size", type=int, default=384, help="side of each panel (px)")
    args = parser.parse_args()

    from headsplat.avatar.avatar import load_avatar
    from headsplat.avatar.deformers.controls import expression_reach
    from headsplat.io.subject import load_subject

    runs = args.out / "runs" / "eavatar"
    names = {row: run_name(args.clip, row, args.seed) for row in ("base", args.row)}
    avatars = {row: load_avatar(runs / name) for row, name in names.items()}
    subject = load_subject(subject_folder(args.out, args.clip, headsplat_env(), "photometric"))
    train, _ = subject.split()
    expressions = torch.as_tensor(subject.tracking["expression"][train]).float()
    head = avatars["base"].head
    triangles = head.triangles.cpu().numpy()
    reach = expression_reach(head.expression_basis.detach().cpu().float(), expressions).numpy()
    moving = (reach[triangles] >= MOVING * reach.max()).all(axis=1)
    counts = {row: gaussians_per_triangle(avatar) for row, avatar in avatars.items()}

    print(f"{args.clip}, seed {args.seed}: {int(moving.sum())} of {len(triangles)} triangles move\n")
    print_table_header("run | Gaussians | on the moving skin | elsewhere")
    for row, count in counts.items():
        print_table_row([names[row], *(f"{int(count[part].sum()):,}" for part in (..., moving, ~moving))])
    log = avatars[args.row].info.get("training", {}).get("deformation", [])
    if log:
        last = log[-1]
        total = sum(entry["duplicates"] for entry in log)
        print(
            f"\n{args.row}: {total:,} duplicates over {len(log)} densifications; the mean displacement "
            f"at step {last['step']} (triangle edge lengths): p50 {last['p50']}, p90 {last['p90']}, "
            f"p99 {last['p99']}"
        )
    if args.image is not None:
        positions = head.neutral.detach().cpu().double().numpy()
        more = vertex_density(counts[args.row], positions, triangles) - vertex_density(
            counts["base"], positions, triangles
        )
        more = np.clip(more / max(float(np.percentile(more, 99.5)), 1e-9), 0, 1)
        write_head_picture(args.image, head, more[triangles].mean(axis=1), np.zeros(0, np.int64), args.size)


if __name__ == "__main__":
    main()
