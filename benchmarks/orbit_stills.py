"""Turntable stills of trained avatars: one row per run, views evenly around the head from the front.

    python benchmarks/orbit_stills.py RUN [RUN ...] -o docs/images/orbits.png --views 6 --size 160

Each view is the ``headsplat render --orbit`` camera (:mod:`headsplat.apps.orbit`) at the avatar's
rest expression; docs/quality.md's stills come from here. Prints the file written and the angles,
and per run and view the pixels where the head's interior (mouth, teeth, eyeballs) paints more
than 30 % of the pixel: the eyes and the mouth's opening from the front and the sides, and from
behind or through a cheek nothing.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from headsplat.apps.orbit import orbit_camera, orbit_frames
from headsplat.avatar.avatar import Avatar, load_avatar
from headsplat.io.atomic import atomic_write
from headsplat.io.video import write_png
from headsplat.training.completion import interior_share

INTERIOR_SHARE = 0.3
"""A pixel counts as the interior's when it paints more than this share of it."""


def interior_pixels(avatar: Avatar, size: int, n_views: int) -> list[int]:
    """Per view of :func:`~headsplat.apps.orbit.orbit_frames`, the pixels where the Gaussians on
    the head's interior triangles paint more than :data:`INTERIOR_SHARE` of the pixel."""
    condition = avatar.condition(expression=avatar.neutral_expression, torso=None)
    angles = np.linspace(0, 2 * np.pi, n_views, endpoint=False)
    shares = [interior_share(avatar, condition, orbit_camera(avatar, angle, size)) for angle in angles]
    return [int((share > INTERIOR_SHARE).sum()) for share in shares]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run folders or avatar files")
    parser.add_argument("-o", "--output", type=Path, required=True, help="PNG to write")
    parser.add_argument("--views", type=int, default=6, help="views per run (default 6: every 60 degrees)")
    parser.add_argument("--size", type=int, default=160, help="side of each view in pixels")
    args = parser.parse_args()
    avatars = [load_avatar(run) for run in args.runs]
    views = [list(orbit_frames(avatar, args.size, args.views)) for avatar in avatars]
    rows = [np.concatenate(row, axis=1) for row in views]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(args.output, lambda p: write_png(p, np.concatenate(rows, axis=0), compression=9))
    angles = ", ".join(f"{360 * k / args.views:.0f}" for k in range(args.views))
    print(f"{args.output}: {len(args.runs)} runs x {args.views} views ({angles} deg), {args.size} px each")
    print(f"pixels the interior paints (> {INTERIOR_SHARE:.0%}), per view:")
    for run, avatar in zip(args.runs, avatars, strict=True):
        print(f"  {run}: {' '.join(str(n) for n in interior_pixels(avatar, args.size, args.views))}")


if __name__ == "__main__":
    main()
