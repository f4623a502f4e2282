"""The head from other sides: avatars trained on the near-frontal frames of clips that turn the
head, scored on the turned frames and on the frontal test frames.

    python benchmarks/novel_view.py --out /tmp/nv                          # the plan (hours)
    python benchmarks/novel_view.py --out /tmp/nv --clips d3 --seeds 0 --rows base
    python benchmarks/novel_view.py --table                                # print what is recorded

Each clip is preprocessed with photometric tracking (``OUT/subjects/CLIP-photometric``, shared
with the other benchmarks) and split by ``headsplat split --novel-view`` (the automatic limit:
the widest frontal band that leaves a fifth of the frames turned; a gap of 10 degrees) into
``OUT/subjects/CLIP-novel-view``; each run trains there with ``--preset cpu`` and the row's
options, then ``headsplat eval`` scores all its test frames, refined and tracked
(:mod:`headsplat.evaluation.novel_view`). Rows: ``base``, the defaults; ``mirror``, symmetric
completion (``completion.harmonic.mirror``); ``mirrored_frames``, a quarter of the steps on
mirrored training frames (``mirrored.share``); ``geometry``, the scalp, back and neck grown to the
training frames' silhouettes first (the geometry stage, ``geometry.steps``: the hair's volume as
far as frontal frames show it). The plan is the
issue's: d3 and d12 with seeds 0 and 1, d9 and d20 with seed 0 (:data:`PLAN`).

Each finished run is recorded as ``--results/CLIP-ROW-sSEED.json`` (default
``benchmarks/results/novel_view``): eval's metrics and the provenance; a recorded run is not run
again unless ``--rerun``, and ``--table`` prints from the records alone.
"""

from __future__ import annotations

import argparse
import json
import sys
from functools import partial
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    add_record_options,
    headsplat_env,
    print_table_header,
    print_table_row,
    recorded_or_run,
    refined_and_tracked,
    run_headsplat,
    subject_folder,
)

ROWS: dict[str, tuple[str, ...]] = {
    "base": (),
    "mirror": ("--set", "completion.harmonic.mirror=true"),
    "mirrored_frames": ("--set", "mirrored.share=0.25"),
    "geometry": ("--set", "geometry.steps=150"),
}
"""Each row's options to ``headsplat train`` on top of ``--preset cpu``."""
PLAN = {"d3": (0, 1), "d12": (0, 1), "d9": (0,), "d20": (0,)}
"""Clip -> the seeds the table needs."""
RESULTS = Path(__file__).resolve().parent / "results" / "novel_view"


def split_subject(out: Path, clip: str, env: dict) -> Path:
    """``OUT/subjects/CLIP-novel-view``, split from the photometrically tracked subject when missing."""
    folder = out / "subjects" / f"{clip}-novel-view"
    if not (folder / "meta.json").is_file():
        source = subject_folder(out, clip, env, "photometric")
        run_headsplat("split", str(source), "-o", str(folder), "--novel-view", "--overwrite", env=env)
    return folder


def run_one(out: Path, clip: str, row: str, seed: int, args: argparse.Namespace, env: dict) -> dict:
    """Train (unless ``--reuse`` finds the avatar) and evaluate one run; eval's metrics."""
    run = out / "runs" / f"{clip}-novel-view-{row}-s{seed}"
    subject = split_subject(out, clip, env)
    if not (args.reuse and (run / "avatar.safetensors").is_file()):
        options = ["--preset", "cpu", "--seed", str(seed), "--overwrite", *ROWS[row]]
        run_headsplat("train", str(subject), "-o", str(run), *options, env=env)
    run_headsplat("eval", str(run), "--no-video", "--eval-frames", "0", env=env)
    metrics = json.loads((run / "eval" / "metrics.json").read_text())
    print(
        f"done {run.name}: turned frames {metrics['novel_view']['turned']['psnr']:.2f} dB refined", flush=True
    )
    return metrics


def _scores(run: dict, group: str, *, tracked: bool) -> dict:
    """A run's scores on a group of test frames (``turned``, ``frontal``), refined or tracked."""
    scores = run["novel_view"][group]
    return scores["tracked"] if tracked else scores


def _mean_psnr(runs: list[dict], group: str, *, tracked: bool) -> float:
    """The runs' mean PSNR on a group of test frames, refined or tracked."""
    return float(np.mean([_scores(run, group, tracked=tracked)["psnr"] for run in runs]))


def print_tables(results: dict[tuple[str, str], list[dict]]) -> None:
    """Per clip and row: the split, the turned and the frontal frames' scores; then the turned
    frames per bin of yaw; then each row against its clip's base."""
    header = "clip | row | seeds | frontal band | turned frames | turned PSNR refined / tracked | SSIM"
    header += " | LPIPS | outline PSNR | frontal frames | frontal PSNR refined / tracked | commit"
    print_table_header(header)
    for (clip, row), runs in results.items():
        turned = [run["novel_view"]["turned"] for run in runs]
        frontal = [run["novel_view"]["frontal"] for run in runs]
        cells = [clip, row, str(len(runs)), f"±{runs[0]['novel_view']['limit']:.1f}°"]
        cells += [
            str(turned[0]["frames"]),
            refined_and_tracked(turned, "psnr", 2),
            refined_and_tracked(turned, "ssim", 4),
        ]
        cells += [
            refined_and_tracked(turned, "lpips", 4),
            refined_and_tracked(turned, "outline_psnr", 2),
            str(frontal[0]["frames"]),
            refined_and_tracked(frontal, "psnr", 2),
        ]
        print_table_row([*cells, runs[0]["commit"]])
    machines = sorted({run["machine"] for runs in results.values() for run in runs})
    print(f"\nmachine: {'; '.join(machines)}")
    print("\nTurned frames by yaw (degrees from the median view; > 0: the subject's left cheek shown)\n")
    print_table_header("clip | row | yaw | frames | PSNR refined / tracked")
    for (clip, row), runs in results.items():
        for label in [b["yaw"] for b in runs[0]["novel_view"]["bins"]]:
            bins = [b for run in runs for b in run["novel_view"]["bins"] if b["yaw"] == label]
            print_table_row([clip, row, label, str(bins[0]["frames"]), refined_and_tracked(bins, "psnr", 2)])
    print_budgets(results)
    print("\nAgainst base (dB), refined / tracked\n")
    print_table_header("clip | row | turned PSNR | frontal PSNR")
    for (clip, row), runs in results.items():
        base = results.get((clip, "base"))
        if row == "base" or base is None:
            continue
        cells = [clip, row]
        for group in ("turned", "frontal"):
            gains = [
                _mean_psnr(runs, group, tracked=tracked) - _mean_psnr(base, group, tracked=tracked)
                for tracked in (False, True)
            ]
            cells.append(" / ".join(f"{gain:+.2f}" for gain in gains))
        print_table_row(cells)


BUDGET_GROUPS = {
    "outline": ("outline",),
    "hair and body": ("hair_body",),
    "face, eyes, mouth": ("face", "eyes", "mouth"),
    "background": ("background",),
}
"""The columns of the budget table: the completion mechanisms act on the face's skin (symmetric
completion, mirrored frames), the hair's volume on the outline and the hair."""


def _budget_cell(runs: list[dict], parts: tuple[str, ...], *, tracked: bool) -> str:
    """The turned frames' share of the error in ``parts`` (%, mean over runs) and the dB their
    pooled PSNR would gain were those parts perfect."""
    budgets = [_scores(run, "turned", tracked=tracked)["error_budget"] for run in runs]
    shares = [sum(budget[part]["share"] for part in parts) for budget in budgets]
    gains = [-10 * np.log10(1 - share / 100) if share < 100 else np.inf for share in shares]
    return f"{np.mean(shares):.0f} % (+{np.mean(gains):.2f})"


def print_budgets(results: dict[tuple[str, str], list[dict]]) -> None:
    """Where the turned frames' error lies, per clip and row (runs recorded before the budget was
    grouped are left out)."""
    print("\nWhere the turned frames' error lies: share of the squared error (dB gained were it perfect)\n")
    columns = " | ".join(f"{name}, refined / tracked" for name in BUDGET_GROUPS)
    print_table_header(f"clip | row | pooled PSNR refined / tracked | {columns}")
    for (clip, row), runs in results.items():
        if any("error_budget" not in run["novel_view"]["turned"] for run in runs):
            continue
        pooled = [
            np.mean([_scores(run, "turned", tracked=tracked)["error_budget"]["psnr"] for run in runs])
            for tracked in (False, True)
        ]
        cells = [clip, row, f"{pooled[0]:.2f} / {pooled[1]:.2f}"]
        for parts in BUDGET_GROUPS.values():
            cells.append(" / ".join(_budget_cell(runs, parts, tracked=tracked) for tracked in (False, True)))
        print_table_row(cells)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("novel_view"), help="subjects and runs go here")
    parser.add_argument("--clips", nargs="*", choices=sorted(PLAN), default=list(PLAN))
    parser.add_argument("--rows", nargs="*", choices=list(ROWS), default=list(ROWS))
    parser.add_argument("--seeds", nargs="*", type=int, help="seeds for every clip (default: the plan's)")
    parser.add_argument("--reuse", action="store_true", help="keep trained avatars found in OUT/runs")
    add_record_options(parser, RESULTS)
    args = parser.parse_args()
    env = headsplat_env()
    results: dict[tuple[str, str], list[dict]] = {}
    for clip in args.clips:
        for row in args.rows:
            for seed in args.seeds if args.seeds is not None else PLAN[clip]:
                name = f"{clip}-{row}-s{seed}"
                metrics = recorded_or_run(args, name, partial(run_one, args.out, clip, row, seed, args, env))
                if metrics is not None:
                    results.setdefault((clip, row), []).append(metrics)
    print()
    print_tables(results)


if __name__ == "__main__":
    main()
