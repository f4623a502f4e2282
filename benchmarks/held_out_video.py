"""Avatars side by side on a subject's held-out frames: the frame, then each run's render from the
tracking as it is (every condition with its motion over the frames before), one video.

    python benchmarks/held_out_video.py SUBJECT RUN [RUN ...] -o d3.mp4 [--stills d3.png]

What the issue on hair asks to look at: the hair at the shoulders and while the head turns, base
beside a mechanism. ``--stills`` also writes a PNG of four frames evenly spaced over the held-out
part, one row each. Prints the files written and each run's mean PSNR over the frames.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from headsplat.avatar.avatar import load_avatar
from headsplat.evaluation.evaluate import evenly_spaced
from headsplat.io.atomic import atomic_write
from headsplat.io.subject import load_subject
from headsplat.io.video import to_uint8, write_mp4, write_png
from headsplat.metrics import psnr
from headsplat.training.data import load_frame_data


@torch.no_grad()
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("subject", type=Path)
    parser.add_argument("runs", nargs="+", type=Path, help="run folders or avatar files")
    parser.add_argument("-o", "--output", type=Path, required=True, help="mp4 to write")
    parser.add_argument("--stills", type=Path, help="also a PNG of four of the frames")
    args = parser.parse_args()
    subject = load_subject(args.subject)
    avatars = [load_avatar(run) for run in args.runs]
    data = load_frame_data(subject, avatars[0].size)
    _, test_frames = subject.split()
    background = avatars[0].info["background"]
    posed = [data.with_torso(avatar.rest_pose()) for avatar in avatars]
    scores = [[] for _ in avatars]

    def frames():
        for f in map(int, test_frames):
            target = data.target(f, background)
            row = [to_uint8(target)]
            for avatar, own_data, own in zip(avatars, posed, scores, strict=True):
                image = avatar.render(own_data.condition(f), background=background).image
                own.append(float(psnr(image, target)))
                row.append(to_uint8(image))
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
