"""The rest face: which expression looks like the person at rest, scored on held-out frames.

    python benchmarks/rest_face.py RUN [RUN ...] [--image docs/images/rest_face.png]

For each trained run, renders candidate rest expressions at the poses of the
8 test frames whose tracked expressions are smallest and prints their mean
PSNR against those frames (eval's ``rest_psnr`` protocol): zero, each weight's median over the
training frames (the rest before), their mean, the medoid of the training expressions (L1), and
the most neutral training frame's (the rest now, :func:`most_neutral_expression`). Records
``benchmarks/results/rest_face/RUN.json`` and, with ``--image``, a still per run: the most neutral
test frame | the median rest | the most neutral frame's rest, at that frame's pose.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from common import print_table_header, print_table_row, record
from headsplat.avatar.avatar import load_avatar, most_neutral_expression
from headsplat.evaluation.evaluate import most_neutral_frames, rest_psnrs, subject_of
from headsplat.io.atomic import atomic_write
from headsplat.io.run import RunFolder
from headsplat.io.video import to_uint8, write_png
from headsplat.training.data import load_frame_data

RESULTS = Path(__file__).resolve().parent / "results" / "rest_face"


def candidates(train_expression: Tensor) -> dict[str, Tensor]:
    """Candidate rest expressions (E,) of training expressions (F, E), by name."""
    medoid = train_expression[int(torch.cdist(train_expression, train_expression, p=1).sum(1).argmin())]
    return {
        "zero": torch.zeros_like(train_expression[0]),
        "median": train_expression.median(0).values,
        "mean": train_expression.mean(0),
        "medoid": medoid,
        "most_neutral": most_neutral_expression(train_expression),
    }


@torch.no_grad()
def score_run(run: Path) -> tuple[dict, np.ndarray]:
    """The candidates' mean PSNR on the run's most neutral test frames, and the still (uint8)."""
    folder = RunFolder(run)
    avatar = load_avatar(folder.path)
    subject = subject_of(folder, avatar, None)
    background = avatar.info["background"]
    data = load_frame_data(subject, avatar.size).with_torso(avatar.rest_pose())
    train, test = subject.split()
    expression = data.expression.float()
    rests = candidates(expression[torch.as_tensor(train)])
    frames = most_neutral_frames(data, test)

    def render(frame: int, rest: Tensor) -> Tensor:
        condition = replace(data.condition(frame), expression=rest)
        return avatar.render(condition, background=background).image

    scores = {
        name: float(np.mean(rest_psnrs(avatar, data, frames, expression=rest, background=background)))
        for name, rest in rests.items()
    }
    still = np.concatenate(
        [to_uint8(data.target(frames[0], background))]
        + [to_uint8(render(frames[0], rests[name])) for name in ("median", "most_neutral")],
        axis=1,
    )
    return {"frames": frames, "psnr": scores}, still


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="trained run folders")
    parser.add_argument("--image", type=Path, help="PNG to write the stills to, one row per run")
    args = parser.parse_args()
    names = list(candidates(torch.zeros(1, 1)))
    print_table_header("run | " + " | ".join(names) + " | frames")
    stills = []
    for run in args.runs:
        result, still = score_run(run)
        record(RESULTS, run.name, result)
        stills.append(still)
        print_table_row(
            [run.name, *(f"{result['psnr'][name]:.2f}" for name in names), str(len(result["frames"]))]
        )
    if args.image is not None:
        side = min(still.shape[0] for still in stills)
        rows = [still if still.shape[0] == side else still[::2, ::2] for still in stills]
        atomic_write(args.image, lambda p: write_png(p, np.concatenate(rows, axis=0), compression=9))
        print(f"{args.image}: per run, the most neutral test frame | median rest | most neutral frame's rest")


if __name__ == "__main__":
    main()
