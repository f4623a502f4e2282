"""Avatars side by side on a subject's held-out frames: the frame, then each run's render from the
tracking as it is (every condition with its motion over the frames before), one video.

    python benchmarks/held_out_video.py SUBJECT RUN [RUN ...] -o d3.mp4 [--stills d3.png] [--mouth]

What the issue on hair asks to look at: the hair at the shoulders and while the head turns, base
beside a mechanism. ``--stills`` also writes a PNG of four frames evenly spaced over the held-out
part, one row each; ``--mouth`` shows a square around the mouth only (eval's mouth region,
one side for every frame, enlarged), what the issue on EAvatar asks to look at. Prints the files
written and each run's mean PSNR over the (whole) frames.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
import torch

from headsplat.avatar.avatar import load_avatar
from headsplat.evaluation.evaluate import evenly_spaced
from headsplat.evaluation.regions import region_masks, square_crop
from headsplat.io.atomic import atomic_write
from headsplat.io.subject import load_subject
from headsplat.io.video import to_uint8, write_mp4, write_png
from headsplat.metrics import psnr
from headsplat.training.data import FrameData, load_frame_data

MOUTH_PIXELS = 256
"""The side the mouth's square is enlarged to."""


def mouth_squares(data: FrameData, landmarks: np.ndarray, frames: list[int]) -> list[tuple[slice, slice]]:
    """Each of ``frames``' square around its mouth region (eval's, from its ``landmarks``
    (F, 478, 2)), all of one side: the largest mouth's."""
    masks = [region_masks(landmarks[f], data.alpha(f)[..., 0].cpu().numpy())["mouth"] for f in frames]
    found = [mask for mask in masks if mask.any()]
    if not found:
        raise SystemExit("no held-out frame has its mouth's landmarks: leave --mouth out")
    side = max(rows.stop - rows.start for rows, _ in (square_crop(mask, min_side=1) for mask in found))
    # A frame without landmarks shows where the first frame with them has its mouth.
    return [square_crop(mask if mask.any() else found[0], min_side=side) for mask in masks]


@torch.no_grad()
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("subject", type=Path)
    parser.add_argument("runs", nargs="+", type=Path, help="run folders or avatar files")
    parser.add_argument("-o", "--output", type=Path, required=True, help="mp4 to write")
    parser.add_argument("--stills", type=Path, help="also a PNG of four of the frames")
    parser.add_argument("--mouth", action="store_true", help="show the mouth only, enlarged")
    args = parser.parse_args()
    subject = load_subject(args.subject)
    avatars = [load_avatar(run) for run in args.runs]
    data = load_frame_data(subject, avatars[0].size)
    _, test_frames = subject.split()
    background = avatars[0].info["background"]
    posed = [data.with_torso(avatar.rest_pose()) for avatar in avatars]
    scores = [[] for _ in avatars]
    frames_shown = [int(f) for f in test_frames]
    squares = mouth_squares(data, subject.landmarks(data.size), frames_shown) if args.mouth else None

    def shown(image: torch.Tensor, i: int) -> np.ndarray:
        if squares is None:
            return to_uint8(image)
        crop = to_uint8(image[squares[i]])
        return cv2.resize(crop, (MOUTH_PIXELS, MOUTH_PIXELS), interpolation=cv2.INTER_NEAREST)

    def frames():
        for i, f in enumerate(frames_shown):
            target = data.target(f, background)
            row = [shown(target, i)]
            for avatar, own_data, own in zip(avatars, posed, scores, strict=True):
                image = avatar.render(own_data.condition(f), background=background).image
                own.append(float(psnr(image, target)))
                row.append(shown(image, i))
            yield np.concatenate(row, axis=1)

    video = list(frames())
    atomic_write(args.output, lambda p: write_mp4(p, video, float(subject.meta["fps"])))
    if args.stills:
        picked = evenly_spaced(np.arange(len(video)), 4)
        atomic_write(args.stills, lambda p: write_png(p, np.concatenate([video[i] for i in picked], axis=0)))
    print(f"{args.output}: frame | {' | '.join(map(str, args.runs))}, {len(video)} held-out frames")
    for run, own in zip(args.runs, scores, strict=True):
        print(f"{run}: {np.mean(own):.2f} dB mean PSNR from the tracking")


if __name__ == "__main__":
    main()
