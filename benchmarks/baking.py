"""FATE's neural baking, measured: held-out quality of the trained avatar against its bakes, and
the 8-bit PNG round trip.

    python benchmarks/baking.py --out /tmp/baking                        # d18 and d5 (hours on 2 cores)
    python benchmarks/baking.py --out /tmp/baking --clips d18 --trained d18=runs/d18
    python benchmarks/baking.py --table                                  # the recorded rows only

Per clip: the trained run (``headsplat train --preset cpu``, or ``--trained CLIP=RUN``), then
``headsplat bake`` in each variant (``all``: every attribute from the maps; ``appearance``: colour
and opacity only; ``regularised``: all, with the attribute regularisation at ``--regularisation``,
default 0.1: the fit loss runs at 0.4-0.7 spreads during refinement and the image loss at a few
hundredths, so that weighs the two alike),
each scored by ``headsplat eval --eval-frames N`` (refined and from the tracking). The round trip:
``export --maps`` of the ``all`` bake, its float copy deleted, ``edit --maps`` back from the 8-bit
PNGs alone, scored again (issue 16's bar: within 0.3 dB of the bake). Each finished row is
recorded in ``--results`` (default ``benchmarks/results/baking``, committed: the machines keep no
files between sessions), and a recorded row is not run again unless ``--rerun``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    headsplat_env,
    print_table_header,
    print_table_row,
    record,
    recorded,
    run_headsplat,
    subject_folder,
)

RESULTS = Path(__file__).resolve().parent / "results" / "baking"
VARIANTS = ("trained", "all", "appearance", "regularised", "png_round_trip")
"""Rows per clip, in order (each after the one it derives from)."""


def bake_options(variant: str, regularisation: float) -> list[str]:
    """``headsplat bake``'s options of a bake ``variant``."""
    mode = "appearance" if variant == "appearance" else "all"
    strength = regularisation if variant == "regularised" else 0.0
    return ["--mode", mode, "--regularisation", str(strength)]


def run_variant(
    out: Path, clip: str, variant: str, trained: Path, args: argparse.Namespace, env: dict
) -> dict:
    """Make and score one row; its eval metrics (plus ``bake_minutes`` for the bakes)."""
    runs = out / "runs"
    run = trained if variant == "trained" else runs / f"{clip}-{variant}"
    if variant == "trained" and not (trained / "avatar.safetensors").is_file():
        subject = subject_folder(out, clip, env, "landmarks")  # as the recorded rows were
        run_headsplat("train", str(subject), "-o", str(trained), "--preset", "cpu", "--overwrite", env=env)
    elif variant == "png_round_trip":
        maps = runs / f"{clip}-maps"
        shutil.rmtree(maps, ignore_errors=True)  # an earlier round trip's, its float copy deleted
        baked = str(runs / f"{clip}-all")
        run_headsplat("export", baked, "--maps", str(maps), env=env)
        (maps / "attributes.npz").unlink()
        run_headsplat("edit", baked, "--maps", str(maps), "-o", str(run), "--overwrite", env=env)
    elif variant != "trained":
        options = bake_options(variant, args.regularisation)
        run_headsplat("bake", str(trained), "-o", str(run), *options, "--overwrite", env=env)
    run_headsplat("eval", str(run), "--eval-frames", str(args.eval_frames), "--no-video", env=env)
    metrics = json.loads((run / "eval" / "metrics.json").read_text())
    bake_info = run / "bake.json"
    if bake_info.is_file():
        metrics["bake_minutes"] = json.loads(bake_info.read_text()).get("minutes")
    return metrics


def print_table(rows: list[tuple[str, str, dict]]) -> None:
    header = "clip | variant | PSNR | SSIM | LPIPS | tracked PSNR | SSIM | LPIPS | bake min"
    print_table_header(header)
    for clip, variant, m in rows:
        t = m["tracked"]
        minutes = m.get("bake_minutes")
        cells = [clip, variant, f"{m['psnr']:.2f}", f"{m['ssim']:.4f}", f"{m['lpips']:.4f}"]
        cells += [f"{t['psnr']:.2f}", f"{t['ssim']:.4f}", f"{t['lpips']:.4f}"]
        cells += ["-" if minutes is None else f"{minutes:.1f}"]
        print_table_row(cells)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("baking"), help="subjects and runs go here")
    parser.add_argument("--clips", nargs="*", default=["d18", "d5"])
    parser.add_argument("--variants", nargs="*", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument(
        "--trained", nargs="*", default=[], metavar="CLIP=RUN", help="use these trained runs (default: train)"
    )
    parser.add_argument(
        "--regularisation", type=float, default=0.1, help="the regularised row's (default 0.1)"
    )
    parser.add_argument("--eval-frames", type=int, default=60, help="test frames scored per row (default 60)")
    parser.add_argument("--results", type=Path, default=RESULTS, help=f"recorded rows (default {RESULTS})")
    parser.add_argument("--rerun", action="store_true", help="run recorded rows again")
    parser.add_argument("--table", action="store_true", help="only print the recorded rows")
    args = parser.parse_args()
    trained_runs = dict(item.split("=", 1) for item in args.trained)
    env = headsplat_env()
    rows = []
    for clip in args.clips:
        trained = Path(trained_runs.get(clip, args.out / "runs" / clip))
        for variant in args.variants:
            name = f"{clip}-{variant}"
            metrics = None if args.rerun else recorded(args.results, name)
            if metrics is None and not args.table:
                metrics = run_variant(args.out, clip, variant, trained, args, env)
                record(args.results, name, metrics)
                print(f"done {name}: {metrics['psnr']:.2f} / {metrics['tracked']['psnr']:.2f} dB", flush=True)
            if metrics is not None:
                rows.append((clip, variant, metrics))
    print()
    print_table(rows)


if __name__ == "__main__":
    main()
