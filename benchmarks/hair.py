"""Hair and mattes: each mechanism alone and all of them together against the defaults, every
avatar scored against both kinds of person mask.

    python benchmarks/hair.py --out /tmp/hair                        # the whole table (a day)
    python benchmarks/hair.py --out /tmp/hair --clips d3 d10 --seeds 0 --rows base motion
    python benchmarks/hair.py --table                                # print what is recorded

Rows (on top of ``--preset cpu``, photometric tracking): ``base`` the defaults (the segmenter's
masks), ``matte`` trained on soft mattes (``preprocess --matte soft``), ``skinning`` (``--deformer
hair_skinning``), ``skinning_mesh`` (the same, started with every hair Gaussian on the head:
:data:`AT_MESH_BLEND`), ``motion`` (``--deformer hair_motion``), ``code`` (``--deformer
frame_code``), and ``all``: the soft mattes and the three deformers. The plan is the issue's: d3, d10, d7,
WDA_AlexandriaOcasioCortez_000 (WDA) and d12, two seeds, every row. Each run trains on its row's
subject (``OUT/subjects/CLIP-photometric``, or ``CLIP-photometric-soft``: the same tracking, other
masks), then ``headsplat eval --subject`` scores it on both subjects, because the masks are also
the ground truth: a gain that shows only against the masks it trained on may come from the metric
alone. Printed per clip, row and masks (the seeds' mean): full-frame PSNR (with half the seeds'
range) / SSIM / LPIPS refined and tracked, the outline region's PSNR refined / tracked, the hair and
body part's PSNR (refined; :mod:`headsplat.evaluation.error_budget`), the training frames'
PSNR at their tracked conditions; then each row against its clip's base on each masks.

Each finished run is recorded as ``--results/CLIP-ROW-sSEED.json`` (default
``benchmarks/results/hair``): both evaluations and the provenance; a recorded run is not run
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
    clips,
    headsplat_env,
    print_table_header,
    print_table_row,
    recorded_or_run,
    refined_and_tracked,
    run_headsplat,
)

DEFORMERS = ("hair_skinning", "hair_motion", "frame_code")
AT_MESH_BLEND = (
    "avatar.gaussian_deformers.hair_skinning.ears=-100",
    "avatar.gaussian_deformers.hair_skinning.shoulders=-101",
)
"""Hair skinning started with every weight at 1: the hair follows the posed mesh (and its own neck
blend) as in base, and only the learned weights move it towards the torso."""
ROWS = {
    "base": ("segmenter", (), ()),
    "matte": ("soft", (), ()),
    "skinning": ("segmenter", ("hair_skinning",), ()),
    "skinning_mesh": ("segmenter", ("hair_skinning",), AT_MESH_BLEND),
    "motion": ("segmenter", ("hair_motion",), ()),
    "code": ("segmenter", ("frame_code",), ()),
    "all": ("soft", DEFORMERS, ()),
}
"""Each row's masks (the subject it trains on), Gaussian deformers and ``--set`` settings."""
MASKS = ("segmenter", "soft")
CLIPS = {"d3": "d3", "d10": "d10", "d7": "d7", "WDA": "WDA_AlexandriaOcasioCortez_000", "d12": "d12"}
"""The plan's clips: short name -> shared clip."""
RESULTS = Path(__file__).resolve().parent / "results" / "hair"


def subject(out: Path, clip: str, masks: str, env: dict) -> Path:
    """``OUT/subjects/CLIP-photometric[-soft]``, preprocessed from the shared clip when missing."""
    folder = out / "subjects" / (f"{clip}-photometric" + ("-soft" if masks == "soft" else ""))
    if not (folder / "meta.json").is_file():
        options = ["--tracking", "photometric", "--matte", masks, "--no-overlay", "--overwrite"]
        run_headsplat("preprocess", str(clips()[CLIPS[clip]]), "-o", str(folder), *options, env=env)
    return folder


def run_name(clip: str, row: str, seed: int) -> str:
    return f"{clip}-{row}-s{seed}"


def run_one(out: Path, clip: str, row: str, seed: int, args: argparse.Namespace, env: dict) -> dict:
    """Train (unless ``--reuse`` finds the avatar) and score one run on both masks:
    ``{masks: eval metrics}``."""
    run = out / "runs" / run_name(clip, row, seed)
    masks, deformers, settings = ROWS[row]
    if not (args.reuse and (run / "avatar.safetensors").is_file()):
        options = ["--preset", "cpu", "--seed", str(seed), "--overwrite"]
        options += [option for name in deformers for option in ("--deformer", name)]
        options += [option for setting in settings for option in ("--set", setting)]
        run_headsplat("train", str(subject(out, clip, masks, env)), "-o", str(run), *options, env=env)
    scores = {}
    for truth in MASKS:
        truth_subject = str(subject(out, clip, truth, env))
        frames = str(args.eval_frames)
        run_headsplat(
            "eval", str(run), "--subject", truth_subject, "--no-video", "--eval-frames", frames, env=env
        )
        metrics = json.loads((run / "eval" / "metrics.json").read_text())
        metrics.pop("per_frame", None)
        scores[truth] = metrics
    print(
        f"done {run.name}: {scores['segmenter']['psnr']:.2f} / {scores['soft']['psnr']:.2f} dB "
        "(refined on the segmenter's masks / on the soft mattes)",
        flush=True,
    )
    return scores


def _mean(runs: list[dict], key: str, protocol: str = "refined") -> float:
    values = [(m if protocol == "refined" else m["tracked"])[key] for m in runs]
    return float(np.mean(values))


def print_tables(results: dict[tuple[str, str], list[dict]]) -> None:
    """The scores per clip, row and masks, then each row against its clip's base."""
    header = "clip | row | seeds | scored on | PSNR refined / tracked | SSIM | LPIPS | outline PSNR"
    print_table_header(header + " | hair/body PSNR | train PSNR | commit")
    for (clip, row), runs in results.items():
        for truth in MASKS:
            scores = [run[truth] for run in runs]
            cells = [clip, row, str(len(runs)), truth]
            cells += [
                refined_and_tracked(scores, key, digits)
                for key, digits in (("psnr", 2), ("ssim", 4), ("lpips", 4))
            ]
            cells += [refined_and_tracked(scores, "outline_psnr", 2)]
            cells += [f"{np.mean([m['error_budget']['hair_body']['psnr'] for m in scores]):.2f}"]
            cells += [f"{_mean(scores, 'train_psnr'):.2f}", runs[0]["commit"]]
            print_table_row(cells)
    machines = sorted({run["machine"] for runs in results.values() for run in runs})
    print(f"\nmachine: {'; '.join(machines)}")
    print("\nAgainst base (dB), refined / tracked\n")
    print_table_header("clip | row | scored on | PSNR | outline PSNR | train PSNR")
    for (clip, row), runs in results.items():
        base = results.get((clip, "base"))
        if row == "base" or base is None:
            continue
        for truth in MASKS:
            scores, reference = [run[truth] for run in runs], [run[truth] for run in base]
            cells = [clip, row, truth]
            for key in ("psnr", "outline_psnr"):
                gains = [_mean(scores, key, p) - _mean(reference, key, p) for p in ("refined", "tracked")]
                cells.append(" / ".join(f"{gain:+.2f}" for gain in gains))
            cells.append(f"{_mean(scores, 'train_psnr') - _mean(reference, 'train_psnr'):+.2f}")
            print_table_row(cells)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("hair"), help="subjects and runs go here")
    parser.add_argument("--clips", nargs="*", choices=sorted(CLIPS), default=list(CLIPS))
    parser.add_argument("--rows", nargs="*", choices=list(ROWS), default=list(ROWS))
    parser.add_argument("--seeds", nargs="*", type=int, default=[0, 1])
    parser.add_argument(
        "--eval-frames", type=int, default=200, help="test frames scored per run (default 200)"
    )
    parser.add_argument("--reuse", action="store_true", help="keep trained avatars found in OUT/runs")
    add_record_options(parser, RESULTS)
    args = parser.parse_args()
    env = headsplat_env()
    results: dict[tuple[str, str], list[dict]] = {}
    for clip in args.clips:
        for row in args.rows:
            for seed in args.seeds:
                name = run_name(clip, row, seed)
                scores = recorded_or_run(args, name, partial(run_one, args.out, clip, row, seed, args, env))
                if scores is not None:
                    results.setdefault((clip, row), []).append(scores)
    print()
    print_tables(results)


if __name__ == "__main__":
    main()
