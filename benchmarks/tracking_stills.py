"""Stills of the same test frames from two runs' ``eval/side_by_side.mp4`` (the tracked protocol):
ground truth | run A's render | its error x4 | run B's render | its error x4, one row a frame.

    python benchmarks/tracking_stills.py LANDMARK_RUN PHOTOMETRIC_RUN --frames 5 20 35 50 \\
        --labels landmark-tracked photo-tracked --out docs/images/tracking_d3.jpg

Both runs must be of the same clip and split (the same test frames, in the same order), as
``benchmarks/quality.py --trackings landmarks photometric`` trains them. ``--frames`` counts the
videos' frames (eval's test frames, evenly spaced).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

from headsplat.io.video import iter_mp4, write_png


def labelled(panel: np.ndarray, label: str) -> np.ndarray:
    """``panel`` (H, W, 3) uint8 RGB with ``label`` written in its top-left corner."""
    panel = panel.copy()
    for colour, thickness in (((0, 0, 0), 3), ((255, 255, 255), 1)):
        cv2.putText(panel, label, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, colour, thickness, cv2.LINE_AA)
    return panel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs=2, type=Path, help="two run folders evaluated with a video")
    parser.add_argument("--frames", nargs="+", type=int, required=True, help="frames of the videos")
    parser.add_argument("--labels", nargs=2, default=["A", "B"], help="the runs' names on the still")
    parser.add_argument("--out", type=Path, required=True, help="the image to write (.png or .jpg)")
    args = parser.parse_args()
    videos = [run / "eval" / "side_by_side.mp4" for run in args.runs]
    for video in videos:
        if not video.is_file():
            sys.exit(f"{video}: missing; run `headsplat eval {video.parent.parent}` without --no-video")
    wanted = set(args.frames)
    clips = [{i: f for i, f in enumerate(iter_mp4(video)) if i in wanted} for video in videos]
    rows = []
    for index in args.frames:
        if any(index not in frames for frames in clips):
            sys.exit(f"frame {index}: not in both videos ({', '.join(str(v) for v in videos)})")
        a, b = clips[0][index], clips[1][index]
        side = a.shape[0]
        # Each video is encoded on its own: the same ground truth differs by compression alone.
        if np.abs(a[:, :side].astype(int) - b[:, :side]).mean() > 3:
            sys.exit(f"frame {index}: the two runs' ground truths differ; are they of the same clip?")
        truth, render_a, error_a = (a[:, i * side : (i + 1) * side] for i in range(3))
        render_b, error_b = (b[:, i * side : (i + 1) * side] for i in (1, 2))
        rows.append([truth, render_a, error_a, render_b, error_b])
    names = ["ground truth", args.labels[0], "error x4", args.labels[1], "error x4"]
    rows[0] = [labelled(panel, name) for panel, name in zip(rows[0], names, strict=True)]
    still = np.concatenate([np.concatenate(row, axis=1) for row in rows], axis=0)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    partial = args.out.with_name(f"{args.out.stem}.part{args.out.suffix}")
    if args.out.suffix.lower() in (".jpg", ".jpeg"):  # a quarter of the PNG's size for the docs
        cv2.imwrite(str(partial), cv2.cvtColor(still, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
    else:
        write_png(partial, still, compression=9)
    partial.replace(args.out)
    print(f"wrote {args.out} ({len(rows)} frames)")


if __name__ == "__main__":
    main()
