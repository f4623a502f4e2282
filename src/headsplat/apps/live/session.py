"""``headsplat live RUN``: a camera, a video played as one, or an iPhone's ARKit stream drives the
avatar in the browser, in real time.

The avatar goes to the page once, as the viewer's blendshape export; after that each frame sends
only its condition (53 weights, gaze, head pose), which the page renders on the user's GPU. Per
sample: an image source's frame is tracked (:class:`~headsplat.drive.live_tracking.LiveFaceTracker`)
and mapped onto the avatar as ``reenact`` maps a driver (:class:`~headsplat.drive.live_transfer.
LiveRetarget`); an ARKit source's values are mapped as ``reenact --arkit`` maps a capture (the
weights added to the avatar's rest). Samples that arrive while one is being processed are dropped.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

import cv2
import numpy as np
import torch

from headsplat.apps.export.web import rounded_list, write_web
from headsplat.apps.live.server import SOCKET_PATH, LiveServer
from headsplat.apps.live.sources import (
    ArkitCsvSource,
    ArkitUdpSource,
    CameraSource,
    Sample,
    Source,
    VideoSource,
)
from headsplat.avatar.avatar import Avatar
from headsplat.avatar.condition import Condition
from headsplat.avatar.linear import linearise
from headsplat.drive.arkit import arkit_motion
from headsplat.drive.live_tracking import LiveFaceTracker
from headsplat.drive.live_transfer import LiveRetarget
from headsplat.drive.smoothing import OneEuro
from headsplat.drive.transfer import transfer_expression
from headsplat.io.errors import InputError
from headsplat.track.realtime import RealtimeConfig

LIVE_CONFIG = "live.json"
"""The file that tells the viewer page to connect to its server's socket (absent: a static page)."""
PREVIEW_WIDTH = 160
PREVIEW_PERIOD = 0.1
"""Seconds between the source previews sent to the page."""


@dataclass(frozen=True)
class LiveOptions:
    """How the live drive maps: ``pose`` False holds the head at rest; ``smoothing`` (min cutoff
    Hz, beta) of the One Euro filter on the driving signal, None (the default): off, as the
    tracker's own smoothness keeps the signal as steady as the offline tracker's and every filter
    measured lagged (docs/live.md, "Measured"); ``calibration_frames`` the frames with a face an
    image source calibrates on."""

    pose: bool = True
    smoothing: tuple[float, float] | None = None
    calibration_frames: int = 30


def open_source(
    *,
    camera: int | None = None,
    video: str | Path | None = None,
    arkit_udp: int | None = None,
    arkit_csv: str | Path | None = None,
    loop: bool = False,
) -> Source:
    """Exactly one source, opened (not started).

    Raises:
        InputError: none or several given, or the one given cannot be opened.
    """
    given = [name for name, value in (("--camera", camera), ("--video", video), ("--arkit-udp", arkit_udp),
                                       ("--arkit-csv", arkit_csv)) if value is not None]  # fmt: skip
    if len(given) != 1:
        raise InputError(
            "headsplat live: give exactly one source: --camera N, --video FILE, --arkit-udp PORT or "
            f"--arkit-csv FILE (given: {', '.join(given) or 'none'})."
        )
    if camera is not None:
        return CameraSource(camera)
    if video is not None:
        return VideoSource(video, loop=loop)
    if arkit_udp is not None:
        return ArkitUdpSource(arkit_udp)
    return ArkitCsvSource(arkit_csv, loop=loop)


def condition_message(condition: Condition) -> dict:
    """A condition as the page applies it: ``expression`` (E,) in the avatar's order, ``gaze``
    (2, 2), ``rotation`` (9,) row-major and ``translation`` (3,)."""
    return {
        "expression": rounded_list(condition.expression, 4),
        "gaze": rounded_list(condition.gaze, 4),
        "rotation": rounded_list(condition.rotation.reshape(9), 6),
        "translation": rounded_list(condition.translation, 4),
    }


class ArkitDriver:
    """ARKit values (61,) -> the avatar's condition: the weights added to the avatar's rest (ARKit's
    rest is all zeros), the head turned about the rest pose by the capture's angles."""

    def __init__(self, avatar: Avatar, options: LiveOptions):
        self.avatar, self.options = avatar, options
        smoothing = options.smoothing
        self.filter = OneEuro(min_cutoff=smoothing[0], beta=smoothing[1]) if smoothing else None

    def __call__(self, values: np.ndarray, captured: float) -> tuple[Condition, str]:
        signal = torch.from_numpy(values).float()
        if self.filter is not None:
            signal = self.filter(signal, captured)
        rest_rotation, rest_translation = self.avatar.rest_pose()
        motion = arkit_motion(
            signal.double().numpy()[None],
            self.avatar.expression_names,
            rest_rotation=rest_rotation,
            rest_translation=rest_translation,
            fps=1.0,
        )
        zero = torch.zeros_like(self.avatar.neutral_expression)
        expression = transfer_expression(motion.expression[0], zero, self.avatar.neutral_expression)
        rotation = motion.rotation[0] if self.options.pose else rest_rotation
        return Condition(expression, motion.gaze[0], rotation, rest_translation), "ARKit"


class FaceDriver:
    """Camera frames -> the avatar's condition (None while calibrating), and the page's status."""

    def __init__(self, avatar: Avatar, options: LiveOptions, model_path: str | Path | None = None):
        from headsplat.head import load_head_model
        from headsplat.preprocess.landmarks import detect_single_image

        self.avatar, self.options = avatar, options
        model = load_head_model(model_path, detect_single_image)
        self.driver_names = model.expression_names
        self.tracker = LiveFaceTracker(
            model, config=RealtimeConfig(calibration_frames=options.calibration_frames)
        )
        self.retarget: LiveRetarget | None = None
        self.generation = 0

    def __call__(self, image: np.ndarray, captured: float) -> tuple[Condition | None, str]:
        tracked = self.tracker(image)
        if tracked.head is None:
            if tracked.calibrated == tracked.needed:
                return None, "calibrating: fitting the head model to your face"
            face = "" if tracked.face else " (no face in view)"
            return None, f"hold still: calibrating {tracked.calibrated}/{tracked.needed}{face}"
        if self.retarget is None or self.generation != self.tracker.generation:
            # A new identity reads the calibration's frames anew: their rest and mean pose too.
            self.generation = self.tracker.generation
            self.retarget = LiveRetarget(
                self.tracker.calibration_heads,
                self.driver_names,
                self.avatar.expression_names,
                target_rest=self.avatar.neutral_expression,
                rest_pose=self.avatar.rest_pose(),
                pose=self.options.pose,
                smoothing=self.options.smoothing,
            )
        if not tracked.head.found:
            return None, "no face in view"
        return self.retarget(tracked.head, captured), "tracking"

    def close(self) -> None:
        self.tracker.close()


@dataclass
class LiveStats:
    """What the session counts: the samples processed, and when the last few were."""

    processed: int = 0
    recent: deque = field(default_factory=lambda: deque(maxlen=240))

    def fps(self) -> float:
        """Samples processed in the last second."""
        return float(sum(t > time.monotonic() - 1.0 for t in self.recent))


class LiveSession:
    """The avatar's page served with its source driving it (:meth:`run` until ``stop`` is set or
    the source ends).

    Raises:
        InputError: a bad source or port (the message names it).
    """

    def __init__(
        self,
        avatar: Avatar,
        source: Source,
        folder: Path,
        *,
        port: int = 0,
        options: LiveOptions | None = None,
        model_path: str | Path | None = None,
    ):
        self.avatar, self.source, self.options = avatar, source, options or LiveOptions()
        write_web(linearise(avatar), folder)
        (folder / LIVE_CONFIG).write_text(json.dumps({"socket": SOCKET_PATH, "source": source.description}))
        self.driver: Callable = (
            ArkitDriver(avatar, self.options)
            if source.kind == "arkit"
            else FaceDriver(avatar, self.options, model_path)
        )
        greeting = {"expression_names": list(avatar.expression_names), "source": source.description}
        self.server = LiveServer(folder, port, greeting=greeting)
        self.stats = LiveStats()
        self._last_preview = 0.0

    def run(self, stop: threading.Event | None = None) -> None:
        """Drive the page until ``stop`` is set or the source ends; the server keeps serving."""
        stop = stop or threading.Event()
        self.source.start()
        try:
            while not stop.is_set():
                sample = self.source.samples.get(timeout=0.5)
                if sample is None:
                    if self.source.samples.closed:
                        return
                    continue
                condition, status = self.driver(sample.data, sample.time)
                self.stats.processed += 1
                self.stats.recent.append(time.monotonic())
                self.server.publish(self._message(sample, condition, status), sample.time)
        finally:
            self.source.stop()

    def _message(self, sample: Sample, condition: Condition | None, status: str) -> dict:
        """The page's message for ``sample``: its condition (None: nothing to show), the status and
        the counts the page shows, and now and then a preview of an image source's frame."""
        latencies = list(islice(reversed(self.server.latencies), 60))
        message = {
            "frame": sample.index,
            "status": status,
            "fps": round(self.stats.fps(), 1),
            "latency_ms": round(1000 * float(np.median(latencies)), 1) if latencies else None,
            "dropped": self.source.samples.dropped,
            "condition": None if condition is None else condition_message(condition),
        }
        if self.source.kind == "image" and sample.time - self._last_preview >= PREVIEW_PERIOD:
            self._last_preview = sample.time
            image = sample.data
            height = round(image.shape[0] * PREVIEW_WIDTH / image.shape[1])
            small = cv2.resize(image, (PREVIEW_WIDTH, height), interpolation=cv2.INTER_AREA)
            ok, jpeg = cv2.imencode(
                ".jpg", cv2.cvtColor(small, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 70]
            )
            if ok:
                message["preview"] = base64.b64encode(jpeg.tobytes()).decode("ascii")
        return message

    def close(self) -> None:
        self.server.close()
        if isinstance(self.driver, FaceDriver):
            self.driver.close()


def live_run(
    run_folder: str | Path,
    *,
    camera: int | None = None,
    video: str | Path | None = None,
    arkit_udp: int | None = None,
    arkit_csv: str | Path | None = None,
    loop: bool = False,
    port: int = 8765,
    options: LiveOptions | None = None,
    model_path: str | Path | None = None,
) -> None:
    """``headsplat live``: serve the avatar of ``run_folder`` driven by one source
    (:func:`open_source`) until Ctrl-C; the page stays served after the source ends.

    Raises:
        InputError: a bad source or port.
    """
    import tempfile

    from headsplat.avatar.avatar import load_avatar

    avatar = load_avatar(run_folder)
    source = open_source(camera=camera, video=video, arkit_udp=arkit_udp, arkit_csv=arkit_csv, loop=loop)
    with tempfile.TemporaryDirectory(prefix="headsplat-live-") as folder:
        session = LiveSession(
            avatar, source, Path(folder) / "page", port=port, options=options, model_path=model_path
        )
        print(f"headsplat live at {session.server.url} ({source.description}; Ctrl-C stops it)", flush=True)
        try:
            session.run()
            print(f"{source.description} ended; the page stays served (Ctrl-C stops it)", flush=True)
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
        finally:
            session.close()
