"""What covers the background of trained runs' test frames: the background's error from the tracking
and after refinement, how much of it the Gaussians cover, and (with soft binding) how far the
Gaussians that cover it most are offset from their mesh binding against all of them.

    python benchmarks/silhouette.py /tmp/ablation/runs/d18-base-s0 /tmp/ablation/runs/d18-both-s0

It is how docs/quality.md's ablation section tells where "both" (soft binding with temporal density
control) loses its PSNR: the background is the matte's outside (mask < 0.1); error sums are the
per-pixel mean squared colour error (colours in [0, 1]) summed over it, per frame; coverage is
the rendering weight the Gaussians put there (:meth:`Avatar.rendering_weights`) over its pixels.
Expressions outside the training frames' range are summed per frame over the blendshapes (how
far refinement drives the avatar where training never saw it).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import print_table_header, print_table_row


def background_report(run: Path, frames: int, top: int) -> dict[str, float]:
    """The numbers of one run over ``frames`` evenly spaced test frames (see the module)."""
    from headsplat.avatar.avatar import load_avatar
    from headsplat.avatar.deformers.base import DeformContext
    from headsplat.evaluation.evaluate import evenly_spaced, subject_of
    from headsplat.io.run import RunFolder
    from headsplat.training.data import load_frame_data
    from headsplat.training.refine import DEFAULT_REFINE, fit_corrections

    folder = RunFolder(run)
    avatar = load_avatar(folder.path)
    subject = subject_of(folder, avatar, None)
    data = load_frame_data(subject, avatar.size).with_torso(avatar.rest_pose())
    train, test = subject.split()
    chosen = [int(f) for f in evenly_spaced(test, frames)]
    camera, level = data.camera(), avatar.info["background"]
    tracked = [data.condition(f) for f in chosen]
    targets = [data.target(f, level) for f in chosen]
    refined = fit_corrections(
        avatar, tracked, camera, targets, background=level, config=DEFAULT_REFINE
    ).apply(tracked)
    seen = torch.stack([data.condition(int(f)).expression for f in train])
    low, high = seen.min(0).values, seen.max(0).values

    def outside(expression: torch.Tensor) -> float:
        return float((expression - high).clamp_min(0).sum() + (low - expression).clamp_min(0).sum())

    sums = {"tracked": [], "refined": []}
    beyond = {"tracked": [], "refined": []}
    cover = torch.zeros(len(avatar.gaussians))
    pixels = 0.0
    for f, target, before, after in zip(chosen, targets, tracked, refined, strict=True):
        background = (data.alpha(f)[..., 0] < 0.1).float()
        for name, condition in (("tracked", before), ("refined", after)):
            with torch.no_grad():
                image = avatar.render(condition).image
            sums[name].append(float(((image - target).pow(2).mean(-1) * background).sum()))
            beyond[name].append(outside(condition.expression))
        cover += avatar.rendering_weights(before, camera, background)
        pixels += float(background.sum())
    report = {
        "gaussians": len(avatar.gaussians),
        **{f"background_error_{name}": float(np.mean(values)) for name, values in sums.items()},
        "coverage_percent": 100 * float(cover.sum()) / max(pixels, 1.0),
        **{f"expression_outside_{name}": float(np.mean(values)) for name, values in beyond.items()},
    }
    if "soft_binding" in avatar.gaussian_deformers:
        soft = avatar.gaussian_deformers["soft_binding"]
        canonical, posed = avatar.mesh(tracked[0])
        with torch.no_grad():
            offsets = soft.offsets(DeformContext(tracked[0], avatar.head, avatar.gaussians, canonical, posed))
        # In mean edge lengths of each Gaussian's triangle (the offsets are tanh-bounded).
        shift = soft.config.max_position * offsets[:, 0:3].norm(dim=1)
        covering = torch.argsort(cover, descending=True)[:top]
        report |= {"offset_all": float(shift.mean()), "offset_covering": float(shift[covering].mean())}
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="trained run folders")
    parser.add_argument("--frames", type=int, default=6, help="test frames, evenly spaced (default 6)")
    parser.add_argument("--top", type=int, default=200, help="the Gaussians covering it most (default 200)")
    args = parser.parse_args()
    torch.manual_seed(0)
    header = "run | Gaussians | background error tracked / refined | coverage % | expression outside"
    header += " tracked / refined | offset, all / covering (edges)"
    print_table_header(header)
    for run in args.runs:
        r = background_report(run, args.frames, args.top)
        offsets = f"{r['offset_all']:.2f} / {r['offset_covering']:.2f}" if "offset_all" in r else "-"
        cells = [
            run.name,
            str(r["gaussians"]),
            f"{r['background_error_tracked']:.2f} / {r['background_error_refined']:.2f}",
            f"{r['coverage_percent']:.3f}",
            f"{r['expression_outside_tracked']:.3f} / {r['expression_outside_refined']:.3f}",
            offsets,
        ]
        print_table_row(cells)


if __name__ == "__main__":
    main()
