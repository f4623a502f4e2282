"""How much of the tracked-to-refined gap a tracker could close, by what it looks at.

    python benchmarks/tracking_headroom.py RUN [RUN ...] [--every 4]

An upper bound for a tracker: each test frame's pose (and expression and gaze, unless rigid) is
fitted as eval's refined protocol fits it, against the trained avatar frozen (a better appearance
model than any tracker's own), but with the image loss restricted to what the tracker may see,
then the whole frame is scored. The looks:

- ``full``: every pixel (L1; eval's refined protocol adds SSIM);
- ``face``: inside the face (the landmarks' hull, eroded: the photometric tracker's mask);
- ``face+crown`` / ``face+head``: the face, plus the silhouette (the render's coverage against the
  person mask) beyond the brows' / the chin's line (:func:`silhouette_masks`);
- ``rigid full`` / ``rigid face``: pose alone, expression and gaze as tracked.

Records ``benchmarks/results/tracking_headroom/RUN.json`` and prints mean PSNR per look.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from common import print_table_header, print_table_row, record
from headsplat.avatar.avatar import Avatar, load_avatar
from headsplat.avatar.condition import Camera, Condition
from headsplat.evaluation.evaluate import subject_of
from headsplat.io.run import RunFolder
from headsplat.metrics import psnr
from headsplat.track.fit import one_torch_thread
from headsplat.track.photometric import face_masks, silhouette_masks
from headsplat.training.data import load_frame_data
from headsplat.training.frames import project_expression
from headsplat.training.refine import DEFAULT_REFINE, project_gaze

RESULTS = Path(__file__).resolve().parent / "results" / "tracking_headroom"
LOOKS = ("tracked", "full", "face", "face+crown", "face+head", "rigid full", "rigid face")


def fit_looking_at(
    avatar: Avatar,
    condition: Condition,
    camera: Camera,
    target: Tensor,
    colour_weight: Tensor,
    person: Tensor,
    silhouette_weight: Tensor | None,
    rigid: bool,
) -> Condition:
    """``condition`` corrected as eval's refinement does (its rates and steps), minimising the mean
    L1 over ``colour_weight`` (S, S) plus, with ``silhouette_weight`` (S, S), the mean absolute
    difference of the render's coverage and ``person`` (S, S) over it."""
    c = DEFAULT_REFINE
    rotation, translation = torch.zeros(3, requires_grad=True), torch.zeros(3, requires_grad=True)
    expression = torch.zeros_like(condition.expression, requires_grad=True)
    gaze = torch.zeros(2, requires_grad=True)
    free = 0.0 if rigid else 1.0
    optimizer = torch.optim.Adam(
        [
            {"params": [rotation], "lr": c.lr_rotation},
            {"params": [translation], "lr": c.lr_translation},
            {"params": [expression], "lr": free * c.lr_expression},
            {"params": [gaze], "lr": free * c.lr_gaze},
        ]
    )
    for _ in range(c.steps):
        rendering = avatar.render(condition.corrected(rotation, translation, expression, gaze), camera)
        error = (rendering.image - target).abs().mean(-1)
        loss = (error * colour_weight).sum() / colour_weight.sum()
        if silhouette_weight is not None:
            outline = (rendering.alpha[..., 0] - person).abs()
            loss = loss + (outline * silhouette_weight).sum() / silhouette_weight.sum().clamp_min(1)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            expression.copy_(project_expression(expression, condition.expression))
            gaze.copy_(project_gaze(gaze, condition.gaze, c.max_gaze))
    return condition.corrected(*(t.detach() for t in (rotation, translation, expression, gaze)))


def headroom(run: Path, every: int) -> dict:
    """Mean PSNR per look over every ``every``-th test frame of ``run``."""
    folder = RunFolder(run)
    avatar = load_avatar(folder.path)
    avatar.requires_grad_(False)
    subject = subject_of(folder, avatar, None)
    background = avatar.info["background"]
    size = avatar.size
    data = load_frame_data(subject, size).with_torso(avatar.rest_pose())
    frames = subject.split()[1][::every]
    landmarks = subject.landmarks(size)[frames]
    face = torch.from_numpy(face_masks(landmarks, size, 1.0, 0.05)).float()
    regions = {
        r: torch.from_numpy(silhouette_masks(landmarks, size, 1.0, r)).float() for r in ("crown", "head")
    }
    camera = data.camera()
    scores: dict[str, list[float]] = {look: [] for look in LOOKS}
    start = time.perf_counter()
    for i, f in enumerate(int(f) for f in frames):
        target, condition = data.target(f, background), data.condition(f)
        person = data.alpha(f)[..., 0]
        everywhere = torch.ones_like(person)
        looks = {
            "full": (everywhere, None, False),
            "face": (face[i], None, False),
            "face+crown": (face[i], regions["crown"][i], False),
            "face+head": (face[i], regions["head"][i], False),
            "rigid full": (everywhere, None, True),
            "rigid face": (face[i], None, True),
        }
        fitted = {"tracked": condition} | {
            look: fit_looking_at(avatar, condition, camera, target, weight, person, silhouette, rigid)
            for look, (weight, silhouette, rigid) in looks.items()
        }
        with torch.no_grad():
            for look, fit in fitted.items():
                scores[look].append(float(psnr(avatar.render(fit, camera).image, target)))
    return {
        "frames": [int(f) for f in frames],
        "psnr": {look: float(np.mean(values)) for look, values in scores.items()},
        "minutes": (time.perf_counter() - start) / 60,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="trained run folders")
    parser.add_argument("--every", type=int, default=4, help="score every N-th test frame (default 4)")
    args = parser.parse_args()
    print_table_header("run | frames | " + " | ".join(LOOKS))
    for run in args.runs:
        with one_torch_thread():
            result = headroom(run, args.every)
        record(RESULTS, run.name, result)
        cells = [f"{result['psnr'][look]:.2f}" for look in LOOKS]
        print_table_row([run.name, str(len(result["frames"])), *cells])


if __name__ == "__main__":
    main()
