"""An avatar from a few frames against one from the whole video: FlexAvatar's three tasks (one
image, a few, a monocular video; Kirschstein et al., arXiv 2512.15599) on our clips, with the
head model as the only prior.

    python benchmarks/fewshot.py --out /tmp/fewshot                   # the whole table (hours)
    python benchmarks/fewshot.py --out /tmp/fewshot --clips d18 --rows n1 n3 base --seeds 0
    python benchmarks/fewshot.py --table                              # from the records alone
    python benchmarks/fewshot.py --table --curve docs/images/fewshot_curve.png

Rows: ``n1``, ``n3`` and ``n10`` train on that many of the clip's training frames (``headsplat
split --train-frames N``: the most face-on and neutral first, then those that differ most), with
the preset ``train`` chooses for so few (``fewshot``); ``n3_cpu`` on the same three with the
video's defaults (``--preset cpu``: what the few-shot priors are worth); ``base`` on all of them
(today's avatar: the ceiling). One photometrically tracked subject per clip, so every row has the
same tracking (identity and focal length fitted on the whole clip) and is scored on the same test
frames, the clip's last fifth, which no row trains on. Runs are made and recorded as
``benchmarks/ablation.py`` makes its studies' (``OUT/runs/fewshot/CLIP-ROW-sSEED``, records in
``--results``, default :data:`RESULTS`).

``n1_steps500`` ... ``n3_steps1000`` try fewer steps than the preset's on d6 (:data:`BUDGET`):
the budget, set on one clip; ``n1_no_uv_prior`` ... ``n3_no_symmetric`` turn one of the
preset's priors off and ``n10_cpu`` all of them (:data:`PRIORS`); both are printed against the
row of the same N as well.

Printed: ablation.py's tables (against base: the gap to the video), then per clip the test
frames' PSNR against N (the curve), the training frames' PSNR and its gap to the test frames'
(overfitting), the minutes of training, and the test frames' PSNR (refined) by the angle between
their head pose and the nearest training frame's and by the distance of their expression weights
to the nearest training frame's (view and expression extrapolation).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from headsplat.io.atomic import atomic_write

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ablation import (
    CLAIM_CLIPS,
    OTHER_CLIPS,
    RowSubjects,
    Study,
    add_plan_options,
    every_run,
    mean_cell,
    print_differences,
    print_study,
    row_subject,
    run_plan,
)
from common import print_table_header, print_table_row, run_headsplat

RESULTS = Path(__file__).resolve().parent / "results" / "fewshot"
FRAMES = {"n1": 1, "n3": 3, "n10": 10}
CURVE = ["n1", "n3", "n10", "n3_cpu", "base"]
"""The rows of the curve: N = 1, 3, 10, 3 with the video's defaults, and the whole video."""
BUDGET_CLIP = "d6"
BUDGET = {f"n{n}_steps{steps}": (n, steps) for n in (1, 3) for steps in (500, 1000)}
"""The budget's sweep on :data:`BUDGET_CLIP`: fewer steps than the preset's 2000 (rows ``n1``,
``n3``) at N = 1 and 3, where every step revisits the same few frames; ``n1_steps1000`` on d18 as
well, where it lost what it gained on d6."""
UNAIDED_CLIP = "d18"
PRIOR_CLIP = "d6"
PRIOR_SETTINGS = {
    "no_uv_prior": ("--set", "uv_colour_prior.weight=0"),
    "no_mirrored": ("--set", "mirrored.share=0"),
    "no_symmetric": ("--set", "completion.harmonic.mirror=false"),
    "expressions": ("--set", "avatar.mesh_deformers.personal_blendshapes.learn_expressions=true"),
}
"""The few-shot preset's priors, each turned off alone: the UV colour prior, mirrored frames,
symmetric completion, the head model's expressions kept as they are (``expressions``: learned)."""
PRIORS = {f"n{n}_{name}": (n, options) for n in (1, 3) for name, options in PRIOR_SETTINGS.items()} | {
    "n10_cpu": (10, ("--preset", "cpu"))
}
"""Rows ``n1`` and ``n3`` on :data:`PRIOR_CLIP` with one prior off: what each is worth at that N;
and ``n10`` with the video's defaults: whether the preset should still take over at 10 frames."""


def unaided_subjects(n: int) -> RowSubjects:
    """The subjects of the check without the clip's help, as a user makes them: the source video's
    frames that row ``nN`` trains on, saved as photos (``OUT/photos/CLIP-nN``) and preprocessed
    alone (``OUT/subjects/CLIP-photos-nN``: identity and focal length from them), and the clip
    tracked as their person (``OUT/subjects/CLIP-as-photos-nN``, ``--identity-from``), whose last
    fifth, the test frames of every row, scores the avatar."""

    def make(out: Path, clip: str, env: dict) -> tuple[Path, Path]:
        from headsplat.io.subject import load_subject
        from headsplat.io.video import ClipReader, write_png

        photos = out / "subjects" / f"{clip}-photos-n{n}"
        video = out / "subjects" / f"{clip}-as-photos-n{n}"
        clip_subject = load_subject(row_subject(out, FEWSHOT, clip, "base", env))
        if not (photos / "meta.json").is_file():
            chosen = load_subject(row_subject(out, FEWSHOT, clip, f"n{n}", env))
            wanted = {int(clip_subject.tracking["source_frame"][f]) for f in chosen.split()[0]}
            album = out / "photos" / f"{clip}-n{n}"
            album.mkdir(parents=True, exist_ok=True)
            for index, image in ClipReader(clip_subject.meta["source"]):
                if index in wanted:
                    write_png(album / f"frame{index:05d}.png", image)
            run_headsplat("preprocess", str(album), "-o", str(photos), "--overwrite", env=env)
        if not (video / "meta.json").is_file():
            options = ["-o", str(video), "--identity-from", str(photos), "--overwrite"]
            run_headsplat("preprocess", clip_subject.meta["source"], *options, env=env)
        return photos, video

    return make


UNAIDED = {f"n{n}_unaided": unaided_subjects(n) for n in (1, 3)}
"""The check without the clip's help on :data:`UNAIDED_CLIP`: N photos preprocessed alone."""
FEWSHOT = Study(
    rows={"n1": (), "n3": (), "n10": (), "n3_cpu": ("--preset", "cpu"), "base": ()}
    | {row: ("--steps", str(steps)) for row, (_, steps) in BUDGET.items()}
    | dict.fromkeys(UNAIDED, ())
    | {row: options for row, (_, options) in PRIORS.items()},
    plan=every_run(CLAIM_CLIPS, CURVE, (0, 1))
    + every_run(OTHER_CLIPS, ["n3", "base"], (0,))
    + every_run([BUDGET_CLIP], list(BUDGET), (0,))
    + every_run(["d18"], ["n1_steps1000"], (0,))
    + every_run([PRIOR_CLIP], list(PRIORS), (0,))
    + every_run([UNAIDED_CLIP], list(UNAIDED), (0,)),
    results=RESULTS,
    tracking="photometric",
    train_frames={**FRAMES, "n3_cpu": 3}
    | {row: n for row, (n, _) in BUDGET.items()}
    | {row: n for row, (n, _) in PRIORS.items()},
    preset=None,
    own_subjects=UNAIDED,
)
ANGLE_BINS = (0.0, 10.0, 20.0)
"""Degrees between a test frame's head rotation and the nearest training frame's: 0-10, 10-20, 20+."""
EXPRESSION_BINS = (0.0, 1.0, 1.5, 2.0)
"""Euclidean distance between a test frame's expression weights (53) and the nearest training
frame's; edges where both the whole video's test frames and one frame's fall (their ranges:
docs/quality.md, the few-shot section)."""


def nearest_training(subject: Path, frames: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """For each of ``frames`` (F,): the angle in degrees between its tracked head rotation and the
    nearest training frame's, and the distance from its expression weights to the nearest
    training frame's (each nearest on its own)."""
    import torch

    from headsplat.geometry import rotation_angle_deg
    from headsplat.io.subject import load_subject

    found = load_subject(subject)
    train = found.split()[0]
    rotation = torch.as_tensor(found.tracking["rotation"]).double()
    expression = np.asarray(found.tracking["expression"], np.float64)
    angles = rotation_angle_deg(rotation[frames][:, None], rotation[train][None]).min(dim=1).values
    distances = np.linalg.norm(expression[frames][:, None] - expression[train][None], axis=-1).min(axis=1)
    return angles.numpy(), distances


def binned(values: np.ndarray, scores: np.ndarray, edges: tuple[float, ...]) -> list[dict]:
    """``scores`` (F,) grouped by ``values`` (F,) into [edges[i], edges[i + 1]) and the last edge
    up: each group's label, frame count and mean score (NaN where empty)."""
    groups = []
    for i, low in enumerate(edges):
        high = edges[i + 1] if i + 1 < len(edges) else np.inf
        inside = (values >= low) & (values < high)
        label = f"{low:g}-{high:g}" if np.isfinite(high) else f"{low:g}+"
        mean = float(scores[inside].mean()) if inside.any() else float("nan")
        groups.append({"bin": label, "frames": int(inside.sum()), "psnr": mean})
    return groups


def extrapolation(metrics: dict, subject: Path) -> dict:
    """What the few-shot study records beside a run's metrics: its scored test frames' PSNR
    (refined) by :data:`ANGLE_BINS` and :data:`EXPRESSION_BINS` of :func:`nearest_training`;
    nothing for an avatar of photos (:data:`UNAIDED`), whose test frames lie in another subject."""
    from headsplat.io.subject import load_subject

    if "photos" in load_subject(subject).meta:
        return {}
    frames = [int(f) for f in metrics["per_frame"]["frame"]]
    scores = np.asarray(metrics["per_frame"]["psnr"], np.float64)
    angles, distances = nearest_training(subject, frames)
    return {
        "extrapolation": {
            "angle": binned(angles, scores, ANGLE_BINS),
            "expression": binned(distances, scores, EXPRESSION_BINS),
        }
    }


def print_fewshot_tables(results: dict[tuple[str, str], list[dict]]) -> None:
    """The budget's, the priors' and the unaided check's rows against the preset's at the same N,
    the curve, the overfitting gap and minutes, and the extrapolation bins (seeds averaged)."""
    print("\nAgainst the same N with the preset's steps and priors and the clip's tracking ", end="")
    print("(dB; LPIPS in per cent), refined / tracked\n")
    references = {row: f"n{n}" for row, (n, _) in (BUDGET | PRIORS).items()}
    print_differences(results, references | {row: row.removesuffix("_unaided") for row in UNAIDED})
    clips = list(dict.fromkeys(clip for clip, _ in results))
    rows = [row for row in CURVE if any((clip, row) in results for clip in clips)]
    print("\nTest-frame PSNR against the training frames, refined / tracked (seeds averaged)\n")
    print_table_header(" | ".join(["clip", *rows]))
    for clip in clips:
        cells = [clip]
        for row in rows:
            runs = results.get((clip, row), [])
            refined = mean_cell([run["psnr"] for run in runs], 2)
            tracked = mean_cell([run["tracked"]["psnr"] for run in runs], 2)
            cells.append(f"{refined} / {tracked}" if runs else "-")
        print_table_row(cells)
    print("\nTraining frames against test frames (refined PSNR), and minutes of training\n")
    print_table_header("clip | row | training frames | test frames | gap | train min")
    for (clip, row), runs in results.items():
        train = [run["train_refined"]["psnr"] for run in runs]
        test = [run["psnr"] for run in runs]
        gap = [a - b for a, b in zip(train, test, strict=True)]
        minutes = [run["training_minutes"] for run in runs]
        scores = [mean_cell(values, 2) for values in (train, test, gap)]
        print_table_row([clip, row, *scores, mean_cell(minutes, 1)])
    for kind, what in (
        ("angle", "degrees from the nearest training head pose"),
        ("expression", "expression distance to the nearest training frame"),
    ):
        print(f"\nTest-frame PSNR (refined) by {what}: dB (frames)\n")
        labels = None
        for (clip, row), runs in results.items():
            found = [run["extrapolation"][kind] for run in runs if "extrapolation" in run]
            if not found:
                continue
            if labels is None:
                labels = [group["bin"] for group in found[0]]
                print_table_header(" | ".join(["clip", "row", *labels]))
            cells = [clip, row]
            for i in range(len(labels)):
                psnr = mean_cell([groups[i]["psnr"] for groups in found], 2)
                cells.append(f"{psnr} ({found[0][i]['frames']})")
            print_table_row(cells)


CURVE_POINTS = {"n1": "1", "n3": "3", "n10": "10", "base": "all"}
"""The curve's rows and their labels on its axis of training frames."""


def write_curve(results: dict[tuple[str, str], list[dict]], path: Path) -> None:
    """A PNG of the test frames' PSNR against the training frames per clip (seeds averaged):
    refined solid, tracked dashed, and the whole video's avatar (the ceiling) dotted across."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6.4, 4.0), dpi=100)
    clips = list(dict.fromkeys(clip for clip, _ in results))
    for i, clip in enumerate(clips):
        colour = f"C{i}"
        for protocol, style in (("refined", "-"), ("tracked", "--")):
            points = []
            for x, row in enumerate(CURVE_POINTS):
                runs = results.get((clip, row), [])
                values = [run["psnr"] if protocol == "refined" else run["tracked"]["psnr"] for run in runs]
                if values:
                    points.append((x, float(np.mean(values))))
            if points:
                label = f"{clip} {protocol}"
                axes.plot(*zip(*points, strict=True), style, color=colour, marker="o", label=label)
                if points[-1][0] == len(CURVE_POINTS) - 1:
                    axes.axhline(points[-1][1], color=colour, linestyle=":", linewidth=0.8)
    axes.set_xticks(range(len(CURVE_POINTS)), list(CURVE_POINTS.values()))
    axes.set_xlabel("training frames")
    axes.set_ylabel("test-frame PSNR (dB)")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7, ncol=2)
    figure.tight_layout()
    atomic_write(path, lambda temporary: figure.savefig(temporary, format="png"))
    plt.close(figure)
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_plan_options(parser, list(FEWSHOT.rows))
    parser.add_argument("--curve", type=Path, help="also draw the curve as a PNG here")
    args = parser.parse_args()
    results = run_plan(args, "fewshot", FEWSHOT, annotate=extrapolation)
    print_study(results, args)
    print_fewshot_tables(results)
    if args.curve:
        write_curve(results, args.curve)


if __name__ == "__main__":
    main()
