"""The blendshape export and the browser viewer, measured.

    python benchmarks/blendshapes.py --out quality            # d18, d3 and d10 of quality.py's OUT
    python benchmarks/blendshapes.py --out quality --images docs/images
    python benchmarks/blendshapes.py --table   # the recorded linearisation rows, run nothing
    python benchmarks/blendshapes.py --out ablation --clips d12 --tracking photometric \
        --avatars 'ablation/runs/eavatar/{clip}-sparse-s0'   # another run's avatar (ablation.py's)

1. Linearisation: for each clip, the avatar's Gaussian blendshapes (written and read back) posed
   by the reference player against the exact avatar, on every test frame at its tracked condition:
   PSNR between the two renders (mean, min), the export's size and deltas per Gaussian.
2. Browser: the first clip's viewer folder with the driver clip's sequence (``--driver``, retargeted
   as ``reenact`` does), in headless Chromium (SwiftShader: WebGL2 on the CPU): the canvas at the
   training camera against headsplat's render of the same view, the mouth's change when the
   jawOpen slider moves, and the page's frame rate while it plays the sequence.

Needs quality.py's subjects and runs of ``--tracking`` (``OUT/subjects/CLIP[-TRACKING]``,
``OUT/runs/CLIP-sampling-cpu[-TRACKING]``) and Debian's chromium + chromium-driver for part 2. Part
1's rows are recorded in ``--results`` (:data:`RESULTS`, committed) with the commit and the
machine, and printed from the records.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import cv2
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
    subject_folder,
)
from headsplat.apps.export import browser
from headsplat.apps.export.blendshapes import read_blendshapes, write_blendshapes
from headsplat.apps.export.web import write_web
from headsplat.apps.reenact import played_motion
from headsplat.avatar.avatar import load_avatar
from headsplat.avatar.linear import linearise, pose_linear
from headsplat.io.files import folder_megabytes
from headsplat.io.subject import load_subject
from headsplat.metrics import psnr
from headsplat.track import DEFAULT_TRACKER, TRACKERS
from headsplat.training.data import load_frame_data

RESULTS = Path(__file__).resolve().parent / "results" / "blendshapes"
"""Where each clip's linearisation row is recorded, ``CLIP-TRACKING.json``."""

PASS_TIMES = """
const gl = document.getElementById("canvas").getContext("webgl2");
const pixel = () => gl.readPixels(0, 0, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, new Uint8Array(4));
pixel();  // what was queued is done
const weights = {};
for (const name of window.headsplat.names) weights[name] = 0.3;
window.headsplat.setState({weights});  // poses (reading the means back) and queues the splatting
const start = performance.now();
pixel();
return [window.headsplat.stats.poseMs, performance.now() - start];
"""
"""Milliseconds of one frame's posing (its read-back waits for the passes) and splatting (WebGL
queues draws: reading a pixel back waits for them)."""


@torch.no_grad()
def linearisation_row(out: Path, clip: str, tracking: str, run: Path) -> dict:
    """The export of ``clip``'s avatar (trained in ``run``) against the avatar on its test frames."""
    avatar = load_avatar(run)
    start = time.perf_counter()
    linear = linearise(avatar)
    seconds = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as folder:
        linear = read_blendshapes(write_blendshapes(linear, folder))
        size = folder_megabytes(Path(folder))
    subject = load_subject(subject_folder(out, clip, headsplat_env(), tracking))
    data = load_frame_data(subject, avatar.size).with_torso(avatar.rest_pose())
    camera = data.camera()
    scores = []
    for f in subject.split()[1]:
        condition = data.condition(int(f))
        exact = avatar.render(condition, camera).image
        linear_image = avatar.rasterize(pose_linear(linear, condition), camera).image
        scores.append(float(psnr(linear_image, exact)))
    scores = np.array(scores)
    worst = int(subject.split()[1][scores.argmin()])
    return {
        "clip": clip,
        "tracking": tracking,
        "gaussians": len(linear),
        "vertices": len(linear.vertices),
        "megabytes": size,
        "seconds": seconds,
        "psnr_mean": float(scores.mean()),
        "psnr_min": float(scores.min()),
        "worst_frame": worst,
        "test_frames": len(scores),
    }


def print_linearisation_table(rows: list[dict]) -> None:
    print_table_header(
        "avatar | Gaussians | vertices | export MB | export s | PSNR mean | PSNR min | test frames"
    )
    for row in rows:
        counts = [f"{row['gaussians']:,}", f"{row['vertices']:,}", f"{row['megabytes']:.1f}"]
        scores = [f"{row['seconds']:.1f}", f"{row['psnr_mean']:.2f}", f"{row['psnr_min']:.2f}"]
        print_table_row([row.get("avatar", row["clip"]), *counts, *scores, str(row["test_frames"])])
    for machine in sorted({f"{row['machine']}; commit {row['commit']}" for row in rows}):
        print(f"\nmachine: {machine}", flush=True)


def mouth_box(avatar, size: int) -> tuple[slice, slice]:
    """Rows and columns around the mouth at the rest pose: the lips' Gaussians' projected box."""
    condition = avatar.condition(avatar.neutral_expression)
    means = avatar.posed_gaussians(condition).means
    names = avatar.head.info["material_names"]
    lips = avatar.head.triangle_material[avatar.gaussians.triangle] == names.index("M_Teeth")
    K = avatar.camera(size).K
    pixels = (means[lips] @ K.T)[:, :2] / (means[lips] @ K.T)[:, 2:]
    low, high = pixels.min(0).values.int(), pixels.max(0).values.int()
    margin = size // 32
    rows = slice(int(low[1]) - margin, int(high[1]) + 3 * margin)
    return rows, slice(int(low[0]) - margin, int(high[0]) + margin)


@torch.no_grad()
def browser_rows(
    out: Path, run: Path, driver: str, *, label: str, seconds: float, images: Path | None, tracking: str
) -> list[str]:
    """The page playing ``run``'s avatar; its pictures are named after ``label``."""
    avatar = load_avatar(run)
    linear = linearise(avatar)
    motion = played_motion(avatar, subject_folder(out, driver, headsplat_env(), tracking))
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        write_web(linear, Path(folder) / "page", motion)
        size = avatar.size
        with browser.open_viewer(Path(folder) / "page", size) as page:
            page.set_camera(avatar.K.numpy(), np.eye(4))
            shown = page.canvas()
            condition = avatar.condition(avatar.neutral_expression)
            python_linear = avatar.rasterize(pose_linear(linear, condition), avatar.camera()).image.numpy()
            exact = avatar.render(condition).image.numpy()
            score = lambda a, b: float(psnr(torch.from_numpy(a), torch.from_numpy(b)))  # noqa: E731
            rows.append(
                f"browser at the training camera, rest face: {score(shown, python_linear):.2f} dB against "
                f"the Python render of the export, {score(shown, exact):.2f} dB against the exact avatar"
            )
            jaw = avatar.expression_names.index("jawOpen")
            changed, expected = [], []
            for value in (0.0, 1.0):
                page.set_slider("w-jawOpen", value)
                changed.append(page.canvas())
                weights = avatar.neutral_expression.clone()
                weights[jaw] = value
                expected.append(avatar.render(avatar.condition(weights)).image.numpy())
            opened = changed[1]
            moved = np.abs(changed[1] - changed[0]).max(-1) > 0.1
            should = np.abs(expected[1] - expected[0]).max(-1) > 0.1
            rows_, columns = mouth_box(avatar, size)
            inside = moved[rows_, columns].sum()
            iou = (moved & should).sum() / (moved | should).sum()
            rows.append(
                f"jawOpen 0 -> 1: {moved.sum()} pixels change by > 0.1 ({inside} around the teeth), "
                f"IoU {iou:.2f} with those headsplat's renders change"
            )
            if images is not None:
                panel = np.concatenate([shown, exact, np.clip(np.abs(shown - exact) * 4, 0, 1), opened], 1)
                image = (panel[..., ::-1] * 255).round().astype(np.uint8)
                cv2.imwrite(str(images / f"viewer_vs_python_{label}.png"), image)
            page.call("window.headsplat.stop(); window.headsplat.play()")
            time.sleep(seconds)
            fps = page.call("return window.headsplat.stats.fps")
            rows.append(f"playing {driver}'s sequence ({len(motion)} frames), {size} px: {fps:.1f} frames/s")
        with browser.open_viewer(Path(folder) / "page", 512, "&play=1") as page:
            time.sleep(seconds)
            fps = page.call("return window.headsplat.stats.fps")
            rows.append(f"playing it at 512 px: {fps:.1f} frames/s")
            page.call("window.headsplat.stop()")
            if images is not None:  # the page as the sequence left it
                page.driver.save_screenshot(str(images / f"viewer_page_{label}.png"))
            pose_ms, draw_ms = page.call(PASS_TIMES)
            rows.append(f"512 px, a frame: mesh + bind + read-back {pose_ms:.0f} ms, splats {draw_ms:.0f} ms")
    return rows


def avatar_run(args: argparse.Namespace, clip: str) -> Path:
    """The run folder of ``clip``'s avatar: ``--avatars`` with the clip in it, else quality.py's."""
    if args.avatars is None:
        return run_folder(args.out, clip, "sampling", "cpu", args.tracking)
    return Path(args.avatars.replace("{clip}", clip))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("quality"), help="quality.py's OUT folder")
    parser.add_argument("--clips", nargs="*", default=["d18", "d3", "d10"], help="avatars to linearise")
    parser.add_argument("--driver", default="d12", help="the clip whose sequence the first avatar plays")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long to play for the frame rate")
    parser.add_argument("--images", type=Path, help="write docs/export.md's viewer images here")
    parser.add_argument("--no-browser", action="store_true", help="the linearisation only")
    parser.add_argument(
        "--tracking", default=DEFAULT_TRACKER, choices=TRACKERS, help="quality.py's runs of this tracker"
    )
    parser.add_argument(
        "--avatars",
        help="each clip's run folder, '{clip}' standing for the clip (default: quality.py's runs); "
        "its rows are recorded under the run folder's name",
    )
    parser.add_argument("--results", type=Path, default=RESULTS, help=f"recorded rows (default {RESULTS})")
    parser.add_argument("--table", action="store_true", help="print the recorded linearisation rows only")
    args = parser.parse_args()
    torch.set_num_threads(2)
    runs = {clip: avatar_run(args, clip) for clip in args.clips}
    names = {clip: run.name if args.avatars else f"{clip}-{args.tracking}" for clip, run in runs.items()}
    if not args.table:
        for clip, run in runs.items():
            row = linearisation_row(args.out, clip, args.tracking, run)
            record(args.results, names[clip], row if args.avatars is None else {**row, "avatar": run.name})
    rows = [row for clip in args.clips if (row := recorded(args.results, names[clip]))]
    print_linearisation_table(rows)
    if args.no_browser or args.table:
        return
    why = browser.missing()
    if why:
        sys.exit(f"no browser: {why}")
    first = args.clips[0]
    label = first if args.avatars is None else runs[first].name
    options = {"label": label, "seconds": args.seconds, "images": args.images, "tracking": args.tracking}
    for row in browser_rows(args.out, runs[first], args.driver, **options):
        print(row, flush=True)


if __name__ == "__main__":
    main()
