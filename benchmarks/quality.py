"""Held-out quality of avatars trained on the shared clips, one table.

    python benchmarks/quality.py   # sampling on d3, d7, d10, WDA_AlexandriaOcasioCortez_000, d18, d5
    python benchmarks/quality.py --clips d18 --strategies sampling fixed --steps 3000 --out /tmp/quality
    python benchmarks/quality.py --clips d18 --trackings landmarks photometric --out /tmp/quality
    python benchmarks/quality.py --clips d18 --set frames.lr=5e-4 --tag fate-rates --out /tmp/quality
    python benchmarks/quality.py --table   # the recorded rows of the default clips, run nothing

Preprocesses each clip (or reuses ``OUT/subjects/CLIP``), trains every requested strategy with
``--preset`` (cpu: 256 px on this machine's cores; gpu: 512 px on CUDA), evaluates the test frames
(the last 20 %) and prints PSNR / SSIM / LPIPS after refining the test frames' tracking and from the
tracking as it is (:mod:`headsplat.training.refine`), the refined PSNR inside the mouth, eyes and
outline band (:mod:`headsplat.evaluation.regions`), the training frames' PSNR, the neutral face's
PSNR, the Gaussian count and the training minutes. Every
stage runs as the ``headsplat`` command a user would type, in a child process. Needs ../shared
(videos and the ICT model). Each finished run's row is recorded in ``--results`` with the commit
and the machine (:data:`RESULTS`, committed with the code: the machines keep no files between
sessions); the tables are printed from the records, and ``--table`` prints them alone.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    headsplat_env,
    print_table_header,
    print_table_row,
    record,
    recorded,
    run_folder,
    run_headsplat,
    subject_folder,
)
from headsplat.evaluation.error_budget import PARTS
from headsplat.track import DEFAULT_TRACKER

DEFAULT_CLIPS = ["d3", "d7", "d10", "WDA_AlexandriaOcasioCortez_000", "d18", "d5"]
RESULTS = Path(__file__).resolve().parent / "results" / "quality" / "runs"
"""Where each finished run's row is recorded, one ``CLIP-STRATEGY-PRESET[-TRACKING][-TAG].json``."""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", nargs="*", default=DEFAULT_CLIPS, help="clip names (default: %(default)s)")
    parser.add_argument(
        "--strategies", nargs="*", default=["sampling"], help="strategies for every clip (default: sampling)"
    )
    parser.add_argument(
        "--trackings", nargs="*", default=[DEFAULT_TRACKER], help="preprocess --tracking for every clip"
    )
    parser.add_argument(
        "--preset", default="cpu", choices=("cpu", "gpu"), help="training preset (default cpu)"
    )
    parser.add_argument("--steps", type=int, help="default: the preset's (cpu 2000, gpu 30000)")
    parser.add_argument("--size", type=int, help="default: the preset's (cpu 256, gpu 512)")
    parser.add_argument("--out", type=Path, default=Path("quality"), help="subjects and runs go here")
    parser.add_argument("--results", type=Path, default=RESULTS, help=f"recorded rows (default {RESULTS})")
    parser.add_argument(
        "--set", action="append", default=[], metavar="SECTION.FIELD=VALUE", help="to train (repeatable)"
    )
    parser.add_argument("--tag", help="appended to the runs' names (needed with --set: another run)")
    parser.add_argument(
        "--reuse", action="store_true", help="keep runs already in OUT (finish them if interrupted)"
    )
    parser.add_argument("--table", action="store_true", help="print the recorded rows, run nothing")
    args = parser.parse_args(argv)
    if args.set and not args.tag:
        parser.error("--set makes other avatars than the defaults: name them with --tag")
    runs = {
        (clip, tracking, strategy): tagged_run(args, clip, tracking, strategy)
        for clip in args.clips
        for tracking in args.trackings
        for strategy in args.strategies
    }
    if not args.table:
        env = headsplat_env()
        for (clip, tracking, strategy), run in runs.items():
            row = measure(args, run, clip=clip, tracking=tracking, strategy=strategy, env=env)
            record(args.results, run.name, row)
            print(f"recorded {args.results / run.name}.json: refined {row['psnr']:.2f}, tracked "
                  f"{row['tracked']['psnr']:.2f}", flush=True)  # fmt: skip
    rows = [row for run in runs.values() if (row := recorded(args.results, run.name)) is not None]
    if not rows:
        sys.exit(f"nothing recorded in {args.results} for these clips, trackings and strategies")
    print_quality_table(rows)
    print_error_budgets(rows)


def tagged_run(args: argparse.Namespace, clip: str, tracking: str, strategy: str) -> Path:
    """The run folder of ``clip`` (:func:`common.run_folder`), ``-TAG`` appended with ``--tag``."""
    run = run_folder(args.out, clip, strategy, args.preset, tracking)
    return run if args.tag is None else run.with_name(f"{run.name}-{args.tag}")


def measure(
    args: argparse.Namespace, run: Path, *, clip: str, tracking: str, strategy: str, env: dict
) -> dict:
    """Preprocess (unless ``OUT/subjects`` has the subject), train into ``run`` and evaluate it;
    its row: the eval's metrics without the per-frame lists, and which run it is."""
    subject = subject_folder(args.out, clip, env, tracking)
    overrides = [f"--{k}={v}" for k, v in (("steps", args.steps), ("size", args.size)) if v is not None]
    settings = [option for assignment in args.set for option in ("--set", assignment)]
    if args.reuse and (run / "checkpoints").is_dir():
        run_headsplat("train", str(subject), "-o", str(run), "--resume", env=env)
    else:
        run_headsplat("train", str(subject), "-o", str(run), "--strategy", strategy,
                      "--preset", args.preset, *overrides, *settings, "--overwrite", env=env)  # fmt: skip
    run_headsplat("eval", str(run), env=env)
    metrics = json.loads((run / "eval" / "metrics.json").read_text())
    which = {"clip": clip, "tracking": tracking, "strategy": strategy, "tag": args.tag, "preset": args.preset}
    return which | {k: v for k, v in metrics.items() if k != "per_frame"}


def print_quality_table(rows: list[dict]) -> None:
    """The headline table: per run, PSNR / SSIM / LPIPS refined and tracked, the regions, the
    training frames, the neutral face, the Gaussians, the minutes and the commit it ran."""
    header = "clip | tracking | strategy | PSNR | SSIM | LPIPS | tracked: PSNR | SSIM | LPIPS"
    header += " | mouth | eyes | outline | train (tracked / aligned / refined) | neutral | Gaussians"
    header += " | train min | commit"
    print_table_header(header)
    for row in rows:
        scores = [
            f"{protocol['psnr']:.2f} | {protocol['ssim']:.4f} | {protocol['lpips']:.4f}"
            for protocol in (row, row["tracked"])  # refined, then tracked
        ]
        regions = [f"{row[f'{name}_psnr']:.2f}" for name in ("mouth", "eyes", "outline")]
        train = (row["train_psnr"], row["train_psnr_aligned"], row["train_refined"]["psnr"])
        cost = [
            " / ".join(f"{psnr:.2f}" for psnr in train),
            f"{row['neutral']['psnr']:.2f}",
            f"{row['gaussians']:,}",
            f"{row['training_minutes']:.1f}",
            row.get("commit", "-"),
        ]
        print_table_row([_short(row["clip"]), row["tracking"], _label(row["strategy"], row.get("tag")),
                         *scores, *regions, *cost])  # fmt: skip
    for machine in sorted({row["machine"] for row in rows if "machine" in row}):
        print(f"\nmachine: {machine}", flush=True)


def _short(clip: str) -> str:
    return clip.split("_")[0] if clip.startswith("WDA_") else clip


def _label(strategy: str, tag: str | None) -> str:
    return strategy if tag is None else f"{strategy}, {tag}"


def print_error_budgets(rows: list[dict]) -> None:
    """Per run and protocol, each part's share of the squared error and the PSNR were it perfect
    (:mod:`headsplat.evaluation.error_budget`); the training frames refined like the test frames
    show which parts fail to generalise."""
    print("\nError budget: % of the squared error (PSNR were that part perfect)\n", flush=True)
    header = "clip | tracking | strategy | frames | PSNR | " + " | ".join(PARTS)
    print_table_header(header)
    for row in rows:
        for frames, scores in (
            ("test, refined", row),
            ("test, tracked", row["tracked"]),
            ("train, refined", row["train_refined"]),
        ):
            budget = scores["error_budget"]
            parts = [f"{budget[p]['share']:.0f} ({budget[p]['psnr_if_perfect']:.2f})" for p in PARTS]
            label = _label(row["strategy"], row.get("tag"))
            cells = [_short(row["clip"]), row["tracking"], label, frames, f"{budget['psnr']:.2f}", *parts]
            print_table_row(cells)


if __name__ == "__main__":
    main()
