"""How well reenactment transfers a driver's motion, measured by tracking the reenacted video.

    python benchmarks/reenact.py --out /tmp/quality   # the runs of benchmarks/quality.py, same OUT
    python benchmarks/reenact.py --table              # the recorded rows, run nothing

For each pair (avatar run, driver clip): the driver's tracked motion is mapped onto the avatar
(``headsplat reenact``'s relative mode, :mod:`headsplat.drive.transfer`), the avatar alone is
rendered at its training camera, and the video goes through ``headsplat preprocess`` like any clip.
Then, against what the avatar was given:
- expression MAE: mean absolute error of the 53 weights the tracker fits to the render against the
  weights rendered (after transfer: the driver's delta plus the avatar's rest, clamped);
- jawOpen / blink r: Pearson correlation of the fitted and the given jawOpen and eyeBlink (both
  eyes) curves over the video;
- identity: cosine of the identity coefficients fitted to the render with those fitted to the
  avatar's own training clip, and (the leak) with those fitted to the driver;
- jitter: mean frame-to-frame change of the fitted expression (weights) and head rotation
  (degrees) of the render, beside the same for the driver's tracking;
- fps: reenactment frames per second on this machine (rendering alone).
Our tracker grades our own renders: a render the tracker reads back well moves the face the way
the weights say, in a way MediaPipe's landmarks can see; it cannot show what landmarks miss (the
mouth's inside, the gaze beyond the iris points, skin detail) and it shares the tracker's biases
on both sides. No face-recognition weights are available offline, so identity is the head
model's own identity space.

``--tracking photometric`` takes the avatars trained on photometrically tracked subjects
(``benchmarks/quality.py --trackings photometric``) and tracks the drivers the same way
(``reenact --tracking photometric``); the renders are read back by the landmark tracker whatever
the drivers' tracker, so both tables are graded by one ruler.

The self-reenactment row drives d18 with its own test frames, ``--absolute``, and scores the
render against the real frames as ``headsplat eval`` does from the tracking ("tracked"); the two
numbers are computed by different code paths and should agree.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

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
from headsplat.apps.reenact import reenact_frames
from headsplat.avatar.avatar import load_avatar
from headsplat.drive.driver import tracked_motion
from headsplat.drive.transfer import retarget
from headsplat.geometry import rotation_angle_deg
from headsplat.io.subject import load_subject
from headsplat.io.video import write_mp4
from headsplat.metrics import LPIPS, psnr, ssim
from headsplat.track import DEFAULT_TRACKER, TRACKERS
from headsplat.training.data import load_frame_data

PAIRS = [("d18", "d6"), ("d18", "d12"), ("d5", "d10")]


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def _jitter(expression: np.ndarray, rotation: np.ndarray) -> tuple[float, float]:
    """Mean frame-to-frame change: (weights, averaged over the 53; head rotation, degrees)."""
    weights = float(np.abs(np.diff(expression, axis=0)).mean())
    turn = rotation_angle_deg(torch.from_numpy(rotation[1:]), torch.from_numpy(rotation[:-1]))
    return weights, float(turn.mean())


def measure_pair(run: Path, avatar_subject: Path, driver_subject: Path, work: Path, env: dict) -> dict:
    avatar = load_avatar(run)
    driver = load_subject(driver_subject)
    motion = tracked_motion(driver).with_expression_order(avatar.expression_names)
    rest_rotation, rest_translation = avatar.rest_pose()
    given = retarget(
        motion,
        avatar.neutral_expression,
        rest_rotation=rest_rotation,
        rest_translation=rest_translation,
        mode="relative",
    )
    video = work / f"{run.name}-{driver_subject.name}.mp4"
    start = time.perf_counter()
    frames = list(reenact_frames(avatar, given, avatar.size))
    fps = len(frames) / (time.perf_counter() - start)
    write_mp4(video, frames, given.fps)
    tracked_back = work / f"{video.stem}-subject"
    run_headsplat("preprocess", str(video), "-o", str(tracked_back), "--overwrite", "--no-overlay",
                  "--tracking", "landmarks", env=env)  # fmt: skip
    back = load_subject(tracked_back)
    kept = back.tracking["source_frame"]  # frames where the tracker found the face
    fitted = back.tracking["expression"]
    names = [str(n) for n in back.tracking["expression_names"]]
    order = [names.index(n) for n in avatar.expression_names]
    fitted = fitted[:, order]
    weights = given.expression.numpy()[kept]
    index = {n: i for i, n in enumerate(avatar.expression_names)}
    blink = [index["eyeBlink_L"], index["eyeBlink_R"]]
    own = load_subject(avatar_subject).tracking["identity"]
    return {
        "frames": len(frames),
        "tracked_frames": len(kept),
        "expression_mae": float(np.abs(fitted - weights).mean()),
        "jaw_r": float(np.corrcoef(fitted[:, index["jawOpen"]], weights[:, index["jawOpen"]])[0, 1]),
        "blink_r": float(np.corrcoef(fitted[:, blink].ravel(), weights[:, blink].ravel())[0, 1]),
        "identity_own": _cosine(back.tracking["identity"], own),
        "identity_driver": _cosine(back.tracking["identity"], driver.tracking["identity"]),
        "jitter_render": _jitter(fitted, back.tracking["rotation"]),
        "jitter_driver": _jitter(driver.tracking["expression"], driver.tracking["rotation"]),
        "fps": fps,
    }


def self_reenactment(run: Path, subject_folder: Path) -> dict:
    """An avatar driven by its own clip's test frames, ``--absolute``: PSNR / SSIM / LPIPS of the
    reenacted frames against the real ones, beside eval's tracked scores of the same run."""
    avatar = load_avatar(run)
    subject = load_subject(subject_folder)
    _, test = subject.split()
    motion = tracked_motion(subject).with_expression_order(avatar.expression_names)
    rest_rotation, rest_translation = avatar.rest_pose()
    given = retarget(
        motion.select(test),
        avatar.neutral_expression,
        rest_rotation=rest_rotation,
        rest_translation=rest_translation,
        mode="absolute",
    )
    data = load_frame_data(subject, avatar.size)
    background = avatar.info["background"]
    lpips = LPIPS()
    scores = {"psnr": [], "ssim": [], "lpips": []}
    with torch.no_grad():
        for f, image in zip(test, reenact_frames(avatar, given, avatar.size), strict=True):
            render, target = torch.from_numpy(image).float() / 255, data.target(int(f), background)
            scores["psnr"].append(float(psnr(render, target)))
            scores["ssim"].append(float(ssim(render, target)))
            scores["lpips"].append(float(lpips(render, target)))
    metrics_file = run / "eval" / "metrics.json"
    tracked = json.loads(metrics_file.read_text())["tracked"] if metrics_file.is_file() else {}
    return {
        **{name: float(np.mean(values)) for name, values in scores.items()},
        "eval_tracked": {name: tracked.get(name) for name in scores},
    }


RESULTS = Path(__file__).resolve().parent / "results" / "reenact"
"""Where the rows are recorded, one ``TRACKING.json`` per tracker (its rows, the commit, the machine)."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("quality"), help="benchmarks/quality.py's OUT")
    parser.add_argument(
        "--tracking", default=DEFAULT_TRACKER, choices=TRACKERS, help="the avatars' and the drivers' tracker"
    )
    parser.add_argument("--results", type=Path, default=RESULTS, help=f"the record (default {RESULTS})")
    parser.add_argument("--table", action="store_true", help="print the recorded rows, run nothing")
    args = parser.parse_args()
    if not args.table:
        record(args.results, args.tracking, {"rows": measure_all(args.out, args.tracking)})
    measured = recorded(args.results, args.tracking)
    if measured is None:
        sys.exit(f"nothing recorded in {args.results} for --tracking {args.tracking}")
    print_tables(measured)


def measure_all(out: Path, tracking: str) -> list[dict]:
    """A row per pair of :data:`PAIRS`, then d18's self-reenactment."""
    env = headsplat_env()
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for avatar_clip, driver_clip in PAIRS:
            run = run_folder(out, avatar_clip, "sampling", "cpu", tracking)
            if not (run / "avatar.safetensors").is_file():
                sys.exit(
                    f"{run}: no avatar; first: benchmarks/quality.py --clips {avatar_clip} "
                    f"--trackings {tracking} --out {out}"
                )
            avatar_subject = subject_folder(out, avatar_clip, env, tracking)
            driver_subject = subject_folder(out, driver_clip, env, tracking)
            row = measure_pair(run, avatar_subject, driver_subject, Path(scratch), env)
            rows.append({"avatar": avatar_clip, "driver": driver_clip, **row})
            print(f"measured {avatar_clip} driven by {driver_clip}", flush=True)
    own_run = run_folder(out, "d18", "sampling", "cpu", tracking)
    own = self_reenactment(own_run, subject_folder(out, "d18", env, tracking))
    return [*rows, {"avatar": "d18", "driver": SELF, **own}]


SELF = "d18 test frames (--absolute)"


def print_tables(measured: dict) -> None:
    """The pairs' table, the self-reenactment's line and where they were measured."""
    header = (
        "avatar | driver | frames (tracked) | expression MAE | jawOpen r | blink r | identity own / driver"
    )
    print_table_header(header + " | jitter render (weights, deg) | jitter driver | fps")
    for row in measured["rows"]:
        if row["driver"] == SELF:
            continue
        cells = [row["avatar"], row["driver"], f"{row['frames']} ({row['tracked_frames']})"]
        cells += [f"{row['expression_mae']:.3f}", f"{row['jaw_r']:.2f}", f"{row['blink_r']:.2f}"]
        cells += [f"{row['identity_own']:.2f} / {row['identity_driver']:.2f}"]
        cells += [f"{row[name][0]:.4f}, {row[name][1]:.2f}" for name in ("jitter_render", "jitter_driver")]
        print_table_row([*cells, f"{row['fps']:.1f}"])
    for own in (row for row in measured["rows"] if row["driver"] == SELF):
        names = ("psnr", "ssim", "lpips")
        scores = " / ".join(f"{own[name]:.4g}" for name in names)
        tracked = " / ".join(
            f"{own['eval_tracked'][name]:.4g}" for name in names if own["eval_tracked"].get(name)
        )
        print(f"\nd18 driven by its own test frames (--absolute), PSNR / SSIM / LPIPS: {scores}; "
              f"headsplat eval, tracked: {tracked or 'not run'}")  # fmt: skip
    print(f"\nmachine: {measured['machine']}; commit {measured['commit']}", flush=True)


if __name__ == "__main__":
    main()
