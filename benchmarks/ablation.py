"""Mechanisms against the defaults, one table per study, the same steps for every row:
STAvatar's (``--study stavatar``, the default: base, + soft binding, + temporal density control,
+ both) and EAvatar's (``--study eavatar``: base, + sparse expression control, + deformation-aware
splitting, + both, and sparse control's threshold swept on d6).

    python benchmarks/ablation.py --out /tmp/ablation                  # the whole table (hours)
    python benchmarks/ablation.py --out /tmp/ablation --clips d18 --rows base both --seeds 0
    python benchmarks/ablation.py --study eavatar --out /tmp/ablation --clips d6 --rows base sparse
    python benchmarks/ablation.py --study eavatar --cost d6     # what each mechanism costs per step
    python benchmarks/ablation.py --out /tmp/ablation --reuse --keep-eval   # print what is there

Each study's plan (:data:`STUDIES`) is its claim's clips, d6, d12 and d18 (frequently occluded
mouths and eyes, fast expressions), with every row and two seeds (reruns differ by about 0.1 dB),
and what else it asks. Each run is ``headsplat train SUBJECT --preset cpu --seed S`` plus the
row's options, then ``headsplat eval --eval-frames N`` (an evenly spaced N of the test frames:
refinement costs seconds a frame on 2 cores, and d6 has 168). Printed per clip and row, the
seeds' mean (and half their range): full-frame PSNR / SSIM / LPIPS after refining the test
frames' tracking and from the tracking as it is, the Gaussians, the training minutes and
milliseconds per step (all of training, the geometry stage and completion included, over the
steps), then the mouth, the mouth's inside and the eyes (:mod:`headsplat.evaluation.regions`),
and last each row against its clip's base (the seeds' means subtracted).
Subjects are ``OUT/subjects/CLIP`` (``CLIP-photometric`` for a study on photometrically tracked
subjects; preprocessed when missing), runs ``OUT/runs/STUDY/CLIP-ROW-sSEED``.

The tables take hours of 2 cores and the machines do not keep files between sessions, so each
finished run's metrics are also recorded in ``--results`` (default: the study's,
``benchmarks/results/ablation`` and ``.../ablation/eavatar``, committed with the code): a recorded
run is not run again unless ``--rerun``, and ``--table`` prints the table from the records alone,
with any further seeds recorded for the plan's rows.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

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

RowSubjects = Callable[[Path, str, dict], tuple[Path, Path]]
"""A row's own subjects, made when missing: (OUT, clip, environment) -> (the subject it trains on,
the subject it is evaluated on)."""


@dataclass(frozen=True)
class Study:
    """One table of mechanisms against the defaults."""

    rows: dict[str, tuple[str, ...]]
    """Each row's options to ``headsplat train`` on top of ``--preset PRESET`` (base: none)."""
    plan: tuple[tuple[str, str, int], ...]
    """(clip, row, seed) of the full table."""
    results: Path
    """Where the finished runs' metrics are recorded, one ``CLIP-ROW-sSEED.json`` each."""
    tracking: str
    """The tracker of the subjects the runs train on."""
    train_frames: dict[str, int] = field(default_factory=dict)
    """Rows trained on N of the clip's training frames (a ``headsplat split --train-frames N``
    subject: the same tracking and test frames); the others train on all of them."""
    preset: str | None = "cpu"
    """Every run's ``--preset`` (None: the one ``train`` chooses for the subject)."""
    own_subjects: dict[str, RowSubjects] = field(default_factory=dict)
    """Rows that train and are evaluated on subjects of their own (not the clip's tracking)."""


def every_run(clips: list[str], rows: list[str], seeds: tuple[int, ...]) -> tuple[tuple[str, str, int], ...]:
    return tuple((clip, row, seed) for clip in clips for row in rows for seed in seeds)


RESULTS = Path(__file__).resolve().parent / "results" / "ablation"
CLAIM_CLIPS = ["d6", "d12", "d18"]
OTHER_CLIPS = ["d3", "d5", "d10"]
REGION_NAMES = {"mouth": "mouth", "mouth_inside": "mouth inside", "eyes": "eyes"}
SOFT, TEMPORAL = ("--deformer", "soft_binding"), ("--strategy", "temporal")
SPARSE, SPLIT = ("--deformer", "sparse_control"), ("--strategy", "deformation")
CONTROLS = "avatar.mesh_deformers.sparse_control"
TAU = f"{CONTROLS}.tau"
STUDIES = {
    # STAvatar's claim: frequently occluded mouths and eyes (d6, d12, d18) with every row and two
    # seeds, then base against both on d3, d5 and d10 with one; recorded on landmark-tracked subjects.
    "stavatar": Study(
        rows={"base": (), "soft": SOFT, "temporal": TEMPORAL, "both": SOFT + TEMPORAL},
        plan=every_run(CLAIM_CLIPS, ["base", "soft", "temporal", "both"], (0, 1))
        + every_run(OTHER_CLIPS, ["base", "both"], (0,)),
        results=RESULTS,
        tracking="landmarks",
    ),
    # EAvatar's highly deformable regions: the same clips, two seeds, and sparse control's
    # threshold swept on d6 (tau 0.3 is the sparse row).
    "eavatar": Study(
        rows={
            "base": (),
            "sparse": SPARSE,
            "split": SPLIT,
            "both": SPARSE + SPLIT,
            "sparse_tau0.15": (*SPARSE, "--set", f"{TAU}=0.15"),
            "sparse_tau0.4": (*SPARSE, "--set", f"{TAU}=0.4"),
            # Off the plan: controls where the skin stretches (the largest strain is an outlier at
            # the mouth's corners, so its tau is lower to find as many controls).
            "sparse_strain": (*SPARSE, "--set", f"{CONTROLS}.criterion=strain", "--set", f"{TAU}=0.15"),
        },
        plan=every_run(CLAIM_CLIPS, ["base", "sparse", "split", "both"], (0, 1))
        + every_run(["d6"], ["sparse_tau0.15", "sparse_tau0.4"], (0,)),
        results=RESULTS / "eavatar",
        tracking="photometric",
    ),
}


def run_name(clip: str, row: str, seed: int) -> str:
    return f"{clip}-{row}-s{seed}"


def with_recorded_seeds(plan: list[tuple[str, str, int]], results: Path) -> list[tuple[str, str, int]]:
    """``plan`` with every other seed recorded in ``results`` for one of its clips and rows (a
    second seed run on a one-seed clip, say), each after its clip and row's planned seeds."""
    seeds: dict[tuple[str, str], set[int]] = {}
    for clip, row, seed in plan:
        seeds.setdefault((clip, row), set()).add(seed)
    for path in results.glob("*.json"):
        name = re.fullmatch(r"(.+)-(.+)-s(\d+)", path.stem)
        if name and (name[1], name[2]) in seeds:
            seeds[(name[1], name[2])].add(int(name[3]))
    return [(clip, row, seed) for (clip, row), found in seeds.items() for seed in sorted(found)]


def row_subject(out: Path, study: Study, clip: str, row: str, env: dict) -> Path:
    """The subject folder ``row`` of ``study`` trains on: the clip's (preprocessed when missing),
    or its split to the row's ``train_frames`` (``OUT/subjects/SUBJECT-nN``, made when missing)."""
    subject = subject_folder(out, clip, env, study.tracking)
    frames = study.train_frames.get(row)
    if frames is None:
        return subject
    fewer = subject.with_name(f"{subject.name}-n{frames}")
    if not (fewer / "meta.json").is_file():
        run_headsplat(
            "split", str(subject), "-o", str(fewer), "--train-frames", str(frames), "--overwrite", env=env
        )
    return fewer


Annotate = Callable[[dict, Path], dict]
"""What a study adds to a run's eval metrics (with per-frame lists), given the run's subject."""


def run_one(
    out: Path,
    name: str,
    study: Study,
    run: tuple[str, str, int],
    args: argparse.Namespace,
    env: dict,
    annotate: Annotate | None = None,
) -> dict:
    """Train (or, with ``--reuse``, finish) and evaluate one ``run`` (clip, row, seed) of the study
    called ``name``; its eval metrics, with what ``annotate`` adds."""
    clip, row, seed = run
    folder = out / "runs" / name / run_name(clip, row, seed)
    metrics_file = folder / "eval" / "metrics.json"
    kept = args.reuse and args.keep_eval and metrics_file.is_file()
    # Kept metrics need no subject (its preprocessing takes minutes) unless the study annotates them.
    subject, scored = None, None
    if row in study.own_subjects:
        subject, scored = study.own_subjects[row](out, clip, env)
    elif not kept or annotate is not None:
        subject = row_subject(out, study, clip, row, env)
    if not kept:
        if args.reuse and (folder / "checkpoints").is_dir():
            run_headsplat("train", str(subject), "-o", str(folder), "--resume", env=env)
        else:
            preset = [] if study.preset is None else ["--preset", study.preset]
            options = [*preset, "--seed", str(seed), *study.rows[row]]
            options += [] if args.steps is None else ["--steps", str(args.steps)]
            run_headsplat("train", str(subject), "-o", str(folder), *options, "--overwrite", env=env)
        against = [] if scored is None else ["--subject", str(scored)]
        run_headsplat("eval", str(folder), "--eval-frames", str(args.eval_frames), *against, env=env)
    metrics = json.loads(metrics_file.read_text())
    return metrics if annotate is None else {**metrics, **annotate(metrics, subject)}


def step_costs(
    subject: Path, rows: dict[str, tuple[str, ...]], steps: int = 300, skip: int = 20
) -> dict[str, dict]:
    """Per row (its ``headsplat train`` options), milliseconds per training step (mean over steps
    ``skip``..``steps``, so that densifications at 200 and 300 and the temporal strategy's
    footprint passes before them are in) and the Gaussians at the end, trained in this process on
    the same frames from the same start: the mechanisms' cost without the rest of a run."""
    import time

    from headsplat.apps.options import add_run_options, run_config_from_args
    from headsplat.head import load_head_model
    from headsplat.io.subject import load_subject
    from headsplat.training.data import load_frame_data
    from headsplat.training.run import new_avatar
    from headsplat.training.trainer import Trainer

    found = load_subject(subject)
    model = load_head_model()
    parser = argparse.ArgumentParser()
    add_run_options(parser)  # the rows' options read as `headsplat train` reads them
    data = None
    costs = {}
    for row, options in rows.items():
        config, _ = run_config_from_args(parser.parse_args(["--preset", "cpu", *options]))
        data = data or load_frame_data(found, config.size)
        trainer = Trainer(data, new_avatar(model, found, config), config)
        times = []
        for _ in range(steps):
            start = time.perf_counter()
            trainer.train_step()
            times.append(time.perf_counter() - start)
        milliseconds = 1000 * float(np.mean(times[skip:]))
        cost = {"ms_per_step": milliseconds, "gaussians": len(trainer.avatar.gaussians)}
        print(f"{row}: {cost['ms_per_step']:.0f} ms/step, {cost['gaussians']} Gaussians", flush=True)
        costs[row] = cost
    return costs


def _defined(values: list[float]) -> list[float]:
    """``values`` without the NaN ones (a region missing from a clip)."""
    return [v for v in values if v == v]


def mean_cell(values: list[float], digits: int, spread: bool = False) -> str:
    """The mean of ``values`` (NaN ones left out), with half their range when asked and there are
    several."""
    defined = _defined(values)
    if not defined:
        return "-"
    text = f"{np.mean(defined):.{digits}f}"
    if spread and len(defined) > 1:
        text += f" ±{np.ptp(defined) / 2:.{digits}f}"
    return text


def print_tables(results: dict[tuple[str, str], list[dict]]) -> None:
    """The full-frame table, then the regions' (refined / tracked in each cell)."""
    header = "clip | row | seeds | test frames | PSNR | SSIM | LPIPS | tracked PSNR | SSIM | LPIPS"
    header += " | Gaussians | train min | ms/step"
    print_table_header(header)
    for (clip, row), runs in results.items():
        cells = [clip, row, str(len(runs)), str(runs[0]["test_frames"])]
        for scores in ([m for m in runs], [m["tracked"] for m in runs]):
            cells += [mean_cell([s["psnr"] for s in scores], 2, spread=True)]
            cells += [mean_cell([s["ssim"] for s in scores], 4), mean_cell([s["lpips"] for s in scores], 4)]
        cells += [mean_cell([m["gaussians"] for m in runs], 0)]
        cells += [mean_cell([m["training_minutes"] for m in runs], 1)]
        cells += [mean_cell([m["training_minutes"] * 60_000 / m["steps"] for m in runs], 0)]
        print_table_row(cells)
    print("\nRegions, refined / tracked (PSNR with half the seeds' range)\n")
    names = [f"{label} {metric}" for label in REGION_NAMES.values() for metric in ("PSNR", "SSIM", "LPIPS")]
    header = " | ".join(["clip", "row", *names])
    print_table_header(header)
    for (clip, row), runs in results.items():
        cells = [clip, row]
        for region in REGION_NAMES:
            for metric, digits in (("psnr", 2), ("ssim", 4), ("lpips", 4)):
                key = f"{region}_{metric}"
                spread = metric == "psnr"
                refined = mean_cell([m.get(key, float("nan")) for m in runs], digits, spread)
                tracked = mean_cell([m["tracked"].get(key, float("nan")) for m in runs], digits, spread)
                cells.append(f"{refined} / {tracked}")
        print_table_row(cells)


def _mean(runs: list[dict], key: str, protocol: str) -> float:
    """The mean of ``key`` over ``runs`` under ``protocol`` (refined or tracked), NaN where no run
    defines it (a region missing from a clip)."""
    defined = _defined([(m if protocol == "refined" else m["tracked"]).get(key, float("nan")) for m in runs])
    return float(np.mean(defined)) if defined else float("nan")


def print_differences(
    results: dict[tuple[str, str], list[dict]], references: dict[str, str] | None = None
) -> None:
    """Each row against its clip's base, seeds averaged, refined / tracked: PSNR differences in dB
    (full frame, then the regions) and the LPIPS's relative change. With ``references``, only the
    rows it names, each against the row it maps to."""
    names = ["PSNR", *(f"{label} PSNR" for label in REGION_NAMES.values()), "LPIPS"]
    against = ["seeds / base's"] if references is None else ["against", "seeds / its"]
    print_table_header(" | ".join(["clip", "row", *against, *names]))
    protocols = ("refined", "tracked")
    for (clip, row), runs in results.items():
        reference = "base" if references is None else references.get(row)
        base = results.get((clip, reference)) if reference else None
        if row == reference or base is None:
            continue
        cells = [clip, row, f"{len(runs)} / {len(base)}"]
        cells[2:2] = [] if references is None else [reference]
        for key in ("psnr", *(f"{region}_psnr" for region in REGION_NAMES)):
            gains = [_mean(runs, key, p) - _mean(base, key, p) for p in protocols]
            cells.append(" / ".join("-" if v != v else f"{v:+.2f}" for v in gains))
        changes = [100 * (_mean(runs, "lpips", p) / _mean(base, "lpips", p) - 1) for p in protocols]
        cells.append(" / ".join(f"{v:+.0f} %" for v in changes))
        print_table_row(cells)


def add_plan_options(parser: argparse.ArgumentParser, rows: list[str]) -> None:
    """The options that choose and run a study's plan (``rows``: the row names it may name)."""
    parser.add_argument("--out", type=Path, default=Path("ablation"), help="subjects and runs go here")
    parser.add_argument("--clips", nargs="*", help="clip names (default: the full table's plan)")
    parser.add_argument("--rows", nargs="*", choices=rows, help="with --clips (default: the study's)")
    parser.add_argument("--seeds", nargs="*", type=int, default=[0, 1], help="with --clips (default 0 1)")
    parser.add_argument("--steps", type=int, help="default: the preset's")
    parser.add_argument("--eval-frames", type=int, default=60, help="test frames scored per run (default 60)")
    parser.add_argument("--reuse", action="store_true", help="keep trained runs (finish interrupted ones)")
    parser.add_argument("--keep-eval", action="store_true", help="with --reuse: keep their metrics too")
    parser.add_argument("--results", type=Path, help="recorded runs (default: the study's)")
    parser.add_argument("--rerun", action="store_true", help="run recorded runs again")
    parser.add_argument("--table", action="store_true", help="only print the recorded runs' table")
    parser.add_argument("--json", type=Path, help="also write every run's metrics as JSON")


def run_plan(
    args: argparse.Namespace, name: str, study: Study, annotate: Annotate | None = None
) -> dict[tuple[str, str], list[dict]]:
    """Each (clip, row)'s recorded metrics, one per seed, running (and recording) the runs the plan
    (``--clips``, ``--rows``, ``--seeds``, else the study's) lacks unless ``--table``.

    Raises:
        SystemExit: ``--rows`` names a row the study does not have.
    """
    rows = args.rows or list(study.rows)
    unknown = sorted(set(rows) - set(study.rows))
    if unknown:
        sys.exit(f"the {name} study has no row {', '.join(unknown)}; its rows: {', '.join(study.rows)}")
    results_folder = args.results or study.results
    if args.clips:
        plan = [(clip, row, seed) for clip in args.clips for row in rows for seed in args.seeds]
    else:
        plan = with_recorded_seeds(list(study.plan), results_folder)
    env = headsplat_env()
    results: dict[tuple[str, str], list[dict]] = {}
    for clip, row, seed in plan:
        metrics = None if args.rerun else recorded(results_folder, run_name(clip, row, seed))
        if metrics is None and not args.table:
            metrics = run_one(args.out, name, study, (clip, row, seed), args, env, annotate)
            record(results_folder, run_name(clip, row, seed), metrics)
            scores = f"{metrics['psnr']:.2f} / {metrics['tracked']['psnr']:.2f} dB"
            print(f"done {run_name(clip, row, seed)}: {scores} (refined / tracked)", flush=True)
        if metrics is not None:
            metrics.pop("per_frame", None)
            results.setdefault((clip, row), []).append(metrics)
    return results


def print_study(results: dict[tuple[str, str], list[dict]], args: argparse.Namespace) -> None:
    """The tables of :func:`print_tables` and :func:`print_differences`; ``--json`` writes the runs."""
    print()
    print_tables(results)
    print("\nAgainst base (dB; LPIPS in per cent), refined / tracked\n")
    print_differences(results)
    if args.json:
        rows = [{"clip": c, "row": r, "runs": runs} for (c, r), runs in results.items()]
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--study", choices=list(STUDIES), default="stavatar", help="which table (default stavatar)"
    )
    add_plan_options(parser, sorted({row for study in STUDIES.values() for row in study.rows}))
    parser.add_argument(
        "--cost", metavar="CLIP", help="only time each row's first 300 steps on CLIP, in this process"
    )
    args = parser.parse_args()
    study = STUDIES[args.study]
    if args.cost:
        subject = subject_folder(args.out, args.cost, headsplat_env(), study.tracking)
        step_costs(subject, {row: study.rows[row] for row in args.rows or list(study.rows)})
        return
    print_study(run_plan(args, args.study, study), args)


if __name__ == "__main__":
    main()
