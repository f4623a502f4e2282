"""Live driving on this machine: the real-time tracker's speed, the latency from a frame's capture to
its condition leaving the socket, the frames dropped, and how the live tracker's expressions agree
with the offline trackers' on the same clip.

    python benchmarks/live.py --run RUN --out /tmp/ablation   # OUT/subjects/CLIP-photometric
    python benchmarks/live.py --table                         # the recorded rows, run nothing
    python benchmarks/live.py --run RUN --still docs/images/live_page.jpg   # the page, driven by d12

Sources, each a ``--video`` as ``headsplat live`` plays it: d12 and d6 (square crops, 512 and
480 px), and each in a 640 x 480 frame (``d12_640x480``, ``d6_640x480``: scaled to 480 px high,
the sides padded: a webcam's frame, the head not stretched). Per source:

- tracker: the clip played in real time (twice in a row: a calibration takes seconds of d12's
  7) into the live tracker, as ``headsplat live`` tracks it
  (frames that arrive while one is tracked are dropped; the identity fitted in the background,
  at the calibration and after 90 and 300 tracked frames): milliseconds per tracked frame in
  MediaPipe's face mesh (tracking mode) and in the real-time fit (with, on the frames that take
  a new identity, its refit of the calibration's frames), their sum (median and p95) and the
  frames per second that sum allows (1 / its mean), and the same over the frames tracked while
  no identity fit ran beside them (steady: the share of frames in brackets); the seconds from
  the calibration's last frame to the first head (its fit);
- live: the clip played again (twice) through :class:`LiveSession` to a WebSocket client: milliseconds
  from a frame's capture to its message leaving the socket (median and p95), the frames
  dropped (of the clip's, and of those after the calibration);
- agreement: every frame of the clip through the live tracker in turn, each identity fit waited
  for (a session's steady state: a clip of seconds would otherwise be mostly calibration), its
  weights (as tracked, before transfer; the calibration's frames as the last identity reads
  them) against each offline tracker of the clip's subject folder (``photometric``, the
  default, and its first stage ``landmarks``) on the frames both tracked:
  mean absolute error of the 53 weights, Pearson r of jawOpen and of eyeBlink (both eyes);
- the One Euro filter at several settings (:data:`FILTERS`) on the same weights: their error
  against the photometric tracker and their jitter (mean frame-to-frame change of the weights),
  beside the offline tracker's jitter: what ``headsplat live``'s default was chosen on.

``RUN`` is any avatar (the page's; its size only changes the message, not the tracking).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import clips, headsplat_env, print_table_header, print_table_row, record, recorded, subject_folder
from headsplat.apps.live.session import LiveOptions, LiveSession
from headsplat.apps.live.sources import VideoSource
from headsplat.avatar.avatar import load_avatar
from headsplat.drive.live_tracking import LiveFaceTracker
from headsplat.drive.smoothing import OneEuro
from headsplat.head import load_head_model
from headsplat.io.subject import load_subject
from headsplat.io.video import ClipReader, write_mp4
from headsplat.preprocess.landmarks import detect_single_image

RESULTS = Path(__file__).resolve().parent / "results" / "live"
"""One ``SOURCE.json`` per source (its numbers, the commit, the machine)."""
SOURCES = {"d12": "d12", "d6": "d6", "d12_640x480": "d12", "d6_640x480": "d6"}
"""Each source and the shared clip it plays."""
PASSES = 2
"""How many times the real-time passes play each clip: the calibration takes seconds of a short one."""
FILTERS = (None, (1.0, 0.5), (2.0, 0.5), (4.0, 0.5), (1.0, 3.0), (2.0, 3.0))
"""The One Euro filters measured, (min cutoff Hz, beta); None: no filter."""


def webcam_frame(image: np.ndarray, width: int = 640, height: int = 480) -> np.ndarray:
    """``image`` scaled to ``height`` and padded at the sides (edge pixels) to ``width``."""
    scaled = cv2.resize(
        image, (round(image.shape[1] * height / image.shape[0]), height), interpolation=cv2.INTER_AREA
    )
    pad = width - scaled.shape[1]
    return cv2.copyMakeBorder(scaled, 0, 0, pad // 2, pad - pad // 2, cv2.BORDER_REPLICATE)


def source_video(name: str, scratch: Path) -> Path:
    """The video file the source ``name`` plays."""
    clip = clips()[SOURCES[name]]
    if not name.endswith("_640x480"):
        return clip
    reader = ClipReader(clip, max_fps=float("inf"))
    path = scratch / f"{name}.mp4"
    write_mp4(path, (webcam_frame(image) for _, image in reader), reader.source_fps)
    return path


def track_paced(video: Path, model, seconds_per_pass: float) -> dict:
    """The clip played in real time into the live tracker, as ``headsplat live`` tracks it (frames
    that arrive during one are dropped; the identity fitted in the background): the seconds of
    each tracked frame, and of the calibration's fit."""
    source = VideoSource(video, loop=True).start()
    end = time.monotonic() + PASSES * seconds_per_pass
    seconds, fitting = [], []
    collected, collected_at, calibration = 0, 0.0, None
    with LiveFaceTracker(model) as tracker:
        while time.monotonic() < end and (sample := source.samples.get(timeout=5)) is not None:
            tracked = tracker(sample.data)
            if tracked.head is None:
                if tracked.calibrated > collected:  # this frame's landmarks went to the calibration
                    collected, collected_at = tracked.calibrated, time.monotonic()
                continue
            if calibration is None:  # the first head: the calibration's fit is in
                calibration = time.monotonic() - collected_at
            seconds.append(tracker.seconds)
            fitting.append(tracker.landmark_tracker.fitting)
    source.stop()
    return {
        "seconds": np.array(seconds),
        "fitting": np.array(fitting),
        "calibration_seconds": calibration or 0.0,
        "fps": source.fps,
    }


def track_every_frame(video: Path, model) -> dict[int, np.ndarray]:
    """Every frame of the clip through the live tracker in turn, each identity fit waited for (as
    if it took no time): the weights of each frame, the calibration's as the last identity reads
    them."""
    faces: list[int] = []
    weights: dict[int, np.ndarray] = {}
    with LiveFaceTracker(model) as tracker:
        for k, image in ClipReader(video, max_fps=float("inf")):
            tracked = tracker(image)
            tracker.landmark_tracker.wait()
            if tracked.head is None:
                faces += [k] if tracked.calibrated > len(faces) else []
            elif tracked.head.found:
                weights[k] = tracked.head.expression
        heads = tracker.calibration_heads
        return weights | {f: h.expression for f, h in zip(faces, heads, strict=True)}


def live_pass(video: Path, run: Path, seconds_per_pass: float) -> dict:
    """The clip played in real time, :data:`PASSES` times, through a live session to a WebSocket
    client."""
    from websockets.sync.client import connect

    avatar = load_avatar(run)
    source = VideoSource(video, loop=True)
    received = []
    with tempfile.TemporaryDirectory() as folder:
        session = LiveSession(avatar, source, Path(folder) / "page", options=LiveOptions())
        stop = threading.Event()

        def client() -> None:
            with connect(f"ws://127.0.0.1:{session.server.port}/live", max_size=None) as socket:
                while not stop.is_set():
                    try:
                        received.append(json.loads(socket.recv(timeout=0.5)))
                    except TimeoutError:
                        continue

        reader = threading.Thread(target=client)
        reader.start()
        time.sleep(0.5)  # connected before the first frame
        start = time.monotonic()
        played = threading.Timer(PASSES * seconds_per_pass, stop.set)
        played.start()
        session.run(stop)
        elapsed = time.monotonic() - start
        time.sleep(0.3)
        reader.join()
        session.close()
    latencies = 1000 * np.array(session.server.latencies)
    first = next(m for m in received if m.get("condition") is not None)  # calibrated from here
    return {
        "latency_ms": [float(np.median(latencies)), float(np.percentile(latencies, 95))],
        "dropped": source.samples.dropped,
        "delivered": source.samples.received,
        "tracking_delivered": source.samples.received - first["frame"],
        "tracking_dropped": source.samples.dropped - first["dropped"],
        "processed_per_second": session.stats.processed / elapsed,
    }


def playing_seconds(video: Path) -> float:
    """How long ``video`` plays at its frame rate."""
    reader = ClipReader(video, max_fps=float("inf"))
    return sum(1 for _ in reader) / reader.source_fps


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a, b)[0, 1])


def agreement(live: np.ndarray, offline: np.ndarray, names: list[str]) -> dict:
    """(F, E) live and offline weights of the same frames: MAE and the jawOpen / eyeBlink r."""
    blink = [names.index("eyeBlink_L"), names.index("eyeBlink_R")]
    jaw = names.index("jawOpen")
    return {
        "mae": float(np.abs(live - offline).mean()),
        "jaw_r": _pearson(live[:, jaw], offline[:, jaw]),
        "blink_r": _pearson(live[:, blink].ravel(), offline[:, blink].ravel()),
    }


def jitter(weights: np.ndarray) -> float:
    """The mean frame-to-frame change of (F, E) weights."""
    return float(np.abs(np.diff(weights, axis=0)).mean())


def filtered(expression: np.ndarray, fps: float, smoothing: tuple[float, float] | None) -> np.ndarray:
    if smoothing is None:
        return expression
    stream = OneEuro(min_cutoff=smoothing[0], beta=smoothing[1])
    return np.stack([stream(torch.from_numpy(e), k / fps).numpy() for k, e in enumerate(expression)])


def measure(name: str, run: Path, out: Path, model, scratch: Path) -> dict:
    video = source_video(name, scratch)
    seconds_per_pass = playing_seconds(video)
    tracked = track_paced(video, model, seconds_per_pass)
    tracked["weights"] = track_every_frame(video, model)
    subject = load_subject(subject_folder(out, SOURCES[name], headsplat_env(), "photometric"))
    names = [str(n) for n in subject.tracking["expression_names"]]
    order = [list(model.expression_names).index(n) for n in names]
    both = np.array([int(f) in tracked["weights"] for f in subject.tracking["source_frame"]])
    live = np.stack([tracked["weights"][int(f)] for f in subject.tracking["source_frame"][both]])[:, order]
    offline = {
        "photometric": subject.tracking["expression"][both],
        "landmarks": subject.tracking["landmark_fit_expression"][both],
    }
    total = 1000 * tracked["seconds"].sum(1)
    smoothing = []
    for settings in FILTERS:
        weights = filtered(live, tracked["fps"], settings)
        smoothing.append(
            {
                "filter": settings,
                "mae": float(np.abs(weights - offline["photometric"]).mean()),
                "jitter": jitter(weights),
            }
        )
    return {
        "source": name,
        "frame_size": list(next(iter(ClipReader(video)))[1].shape[1::-1]),
        "fps": tracked["fps"],
        "landmarks_ms": [
            float(np.median(1000 * tracked["seconds"][:, 0])),
            float(np.percentile(1000 * tracked["seconds"][:, 0], 95)),
        ],
        "fit_ms": [
            float(np.median(1000 * tracked["seconds"][:, 1])),
            float(np.percentile(1000 * tracked["seconds"][:, 1], 95)),
        ],
        "tracker_ms": [float(np.median(total)), float(np.percentile(total, 95))],
        "tracker_fps": float(1000 / total.mean()),
        # Frames tracked while no identity fit ran beside them (the session's steady state).
        "steady_ms": float(np.median(total[~tracked["fitting"]])),
        "steady_fps": float(1000 / total[~tracked["fitting"]].mean()),
        "steady_share": float((~tracked["fitting"]).mean()),
        "calibration_seconds": tracked["calibration_seconds"],
        "compared_frames": int(both.sum()),
        "offline_jitter": jitter(offline["photometric"]),
        "agreement": {tracker: agreement(live, weights, names) for tracker, weights in offline.items()},
        "smoothing": smoothing,
        "live": live_pass(video, run, seconds_per_pass),
    }


def write_still(run: Path, clip: str, path: Path) -> None:
    """A screenshot of the page (headless Chromium) while ``clip`` drives ``run``'s avatar live."""
    from headsplat.apps.export import browser

    source = VideoSource(clips()[clip], loop=True)
    with tempfile.TemporaryDirectory() as folder:
        session = LiveSession(load_avatar(run), source, Path(folder) / "page", options=LiveOptions())
        stop = threading.Event()
        driving = threading.Thread(target=session.run, args=(stop,))
        driving.start()
        try:
            with browser.open_page(f"{session.server.url}?size=512") as page:
                deadline = time.monotonic() + 300
                while (
                    page.call("return window.headsplat.live.conditions") < 30 and time.monotonic() < deadline
                ):
                    time.sleep(0.2)
                screenshot = np.frombuffer(page.driver.get_screenshot_as_png(), np.uint8)
                cv2.imwrite(
                    str(path), cv2.imdecode(screenshot, cv2.IMREAD_COLOR), [cv2.IMWRITE_JPEG_QUALITY, 85]
                )
        finally:
            stop.set()
            driving.join()
            session.close()
    print(f"wrote {path}")


def print_tables(rows: list[dict]) -> None:
    print_table_header(
        "source | frame | tracker ms (median / p95) | MediaPipe ms | fit ms | tracker fps | "
        "steady fps (share) | calibration s | latency ms (median / p95) | dropped | dropped while tracking"
    )
    for row in rows:
        live = row["live"]
        print_table_row(
            [
                row["source"],
                "x".join(str(v) for v in row["frame_size"]),
                f"{row['tracker_ms'][0]:.1f} / {row['tracker_ms'][1]:.1f}",
                f"{row['landmarks_ms'][0]:.1f}",
                f"{row['fit_ms'][0]:.1f}",
                f"{row['tracker_fps']:.0f}",
                f"{row['steady_fps']:.0f} ({100 * row['steady_share']:.0f} %)",
                f"{row['calibration_seconds']:.1f}",
                f"{live['latency_ms'][0]:.1f} / {live['latency_ms'][1]:.1f}",
                f"{live['dropped']} of {live['delivered']}",
                f"{live['tracking_dropped']} of {live['tracking_delivered']}",
            ]
        )
    print()
    print_table_header(
        "source | frames | against photometric: MAE / jawOpen r / eyeBlink r | against landmarks: "
        "MAE / jawOpen r / eyeBlink r"
    )
    for row in rows:
        cells = [row["source"], str(row["compared_frames"])]
        for tracker in ("photometric", "landmarks"):
            a = row["agreement"][tracker]
            cells.append(f"{a['mae']:.3f} / {a['jaw_r']:.2f} / {a['blink_r']:.2f}")
        print_table_row(cells)
    print()
    names = ["off" if f is None else f"{f[0]:g} Hz, beta {f[1]:g}" for f in FILTERS]
    print_table_header("source | offline jitter | " + " | ".join(names))
    for row in rows:
        cells = [f"{s['mae']:.3f} / {s['jitter']:.4f}" for s in row["smoothing"]]
        print_table_row([row["source"], f"{row['offline_jitter']:.4f}", *cells])
    print("(each filter: MAE against the photometric tracker / jitter, the mean frame-to-frame change)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, help="the avatar the page shows (a run folder)")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("ablation"),
        help="where OUT/subjects/CLIP-photometric are (made if missing)",
    )
    parser.add_argument("--sources", nargs="+", default=list(SOURCES), choices=list(SOURCES))
    parser.add_argument("--results", type=Path, default=RESULTS, help=f"the record (default {RESULTS})")
    parser.add_argument("--table", action="store_true", help="print the recorded rows, run nothing")
    parser.add_argument("--still", type=Path, help="only write a screenshot of the page driven by d12 here")
    args = parser.parse_args()
    if args.still:
        if args.run is None:
            parser.error("--still needs --run RUN")
        write_still(args.run, "d12", args.still)
        return
    if not args.table:
        if args.run is None:
            parser.error("--run RUN is needed to measure (or --table)")
        model = load_head_model(None, detect_single_image)
        with tempfile.TemporaryDirectory() as scratch:
            for name in args.sources:
                record(args.results, name, measure(name, args.run, args.out, model, Path(scratch)))
                print(f"measured {name}", flush=True)
    rows = [row for name in SOURCES if (row := recorded(args.results, name)) is not None]
    if not rows:
        sys.exit(f"nothing recorded in {args.results}")
    print_tables(rows)


if __name__ == "__main__":
    main()
