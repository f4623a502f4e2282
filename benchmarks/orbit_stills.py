"""Turntable stills of trained avatars: one row per run, views evenly around the head from the front.

    python benchmarks/orbit_stills.py RUN [RUN ...] -o docs/images/orbits.png --views 6 --size 160

Each view is the ``headsplat render --orbit`` camera (:mod:`headsplat.apps.orbit`) at the avatar's
rest expression; docs/quality.md's stills come from here. Prints the file written and the angles.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from headsplat.apps.orbit import orbit_frames
from headsplat.avatar.avatar import load_avatar
from headsplat.io.atomic import atomic_write
from headsplat.io.video import write_png


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run folders or avatar files")
    parser.add_argument("-o", "--output", type=Path, required=True, help="PNG to write")
    parser.add_argument("--views", type=int, default=6, help="views per run (default 6: every 60 degrees)")
    parser.add_argument("--size", type=int, default=160, help="side of each view in pixels")
    args = parser.parse_args()
    views = [list(orbit_frames(load_avatar(run), args.size, args.views)) for run in args.runs]
    rows = [np.concatenate(row, axis=1) for row in views]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(args.output, lambda p: write_png(p, np.concatenate(rows, axis=0), compression=9))
    angles = ", ".join(f"{360 * k / args.views:.0f}" for k in range(args.views))
    print(f"{args.output}: {len(args.runs)} runs x {args.views} views ({angles} deg), {args.size} px each")


if __name__ == "__main__":
    main()
