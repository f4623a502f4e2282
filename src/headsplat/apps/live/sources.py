"""Live sources: what drives ``headsplat live``, one sample at a time, as it arrives.

A source runs in its own thread and leaves each sample in a one-slot mailbox (:class:`Latest`): a
sample that arrives while the one before is still unread replaces it and counts as dropped, never
queued, so the consumer always works on the newest (latency beats completeness). Image sources
(a camera, a video played at its own frame rate as a camera would deliver it) give RGB frames; ARKit
sources (Live Link Face's UDP stream, a Live Link Face CSV replayed in real time) give the 61 values
of a Live Link Face row (:data:`headsplat.drive.arkit.LIVE_LINK_FACE_COLUMNS`' order).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

import cv2
import numpy as np

from headsplat.drive.arkit import live_link_face_table
from headsplat.drive.live_link import decode_live_link_packet
from headsplat.io.errors import InputError
from headsplat.io.video import ClipReader

T = TypeVar("T")


@dataclass(frozen=True)
class Sample:
    """One sample: ``time`` (``time.monotonic()`` seconds) when it was captured or received,
    ``index`` its number in the source, ``data`` an (H, W, 3) uint8 RGB frame or (61,) ARKit values."""

    time: float
    index: int
    data: np.ndarray


class Latest(Generic[T]):
    """A one-slot mailbox: :meth:`put` replaces an unread item (counted in :attr:`dropped`)."""

    def __init__(self):
        self._item: T | None = None
        self._closed = False
        self._ready = threading.Condition()
        self.dropped = 0
        self.received = 0

    def put(self, item: T) -> None:
        with self._ready:
            self.dropped += self._item is not None
            self.received += 1
            self._item = item
            self._ready.notify_all()

    @property
    def closed(self) -> bool:
        """True once the producer has said there is no more (an item may still be unread)."""
        return self._closed

    def close(self) -> None:
        """No more items: :meth:`get` returns None once the last is read."""
        with self._ready:
            self._closed = True
            self._ready.notify_all()

    def get(self, timeout: float | None = None) -> T | None:
        """The newest unread item, waiting for one up to ``timeout`` s; None when the mailbox is
        closed and empty, or the wait timed out."""
        with self._ready:
            self._ready.wait_for(lambda: self._item is not None or self._closed, timeout)
            item, self._item = self._item, None
            return item


class Source:
    """A thread that fills :attr:`samples`; subclasses define :meth:`produce` (and ``kind``:
    "image" or "arkit"), which returns when the source ends or :attr:`stopping` is set."""

    kind = "image"

    def __init__(self, description: str):
        self.description = description
        self.samples: Latest[Sample] = Latest()
        self.stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"headsplat live: {description}", daemon=True)

    def start(self) -> Source:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        try:
            self.produce()
        finally:
            self.samples.close()

    def produce(self) -> None:
        raise NotImplementedError


def _play(source: Source, timed: Callable[[], Iterable[tuple[float, np.ndarray]]], *, loop: bool) -> None:
    """Put each (offset s from the start, data) of ``timed()`` into ``source.samples`` at its time,
    as a device would deliver it; with ``loop``, ``timed()`` again after one frame period."""
    index = 0
    while not source.stopping.is_set():
        start = time.monotonic()
        for offset, data in timed():
            delay = start + offset - time.monotonic()
            if delay > 0 and source.stopping.wait(delay):
                return
            source.samples.put(Sample(time.monotonic(), index, data))
            index += 1
        if not loop or source.stopping.wait(1 / source.fps):
            return


class VideoSource(Source):
    """A video file played at its own frame rate, as a camera would deliver it (``loop``: again from
    the start at the end).

    Raises:
        InputError: the file is missing or not a readable video.
    """

    def __init__(self, path: str | Path, *, loop: bool = False):
        super().__init__(f"video {path}")
        self.reader = ClipReader(path, max_fps=float("inf"))
        if self.reader.photos:
            raise InputError(f"{path}: an image, not a video. Give a video file for --video.")
        self.fps = self.reader.source_fps
        self.loop = loop

    def produce(self) -> None:
        frames = lambda: ((k / self.fps, image) for k, (_, image) in enumerate(self.reader))  # noqa: E731
        _play(self, frames, loop=self.loop)


class CameraSource(Source):
    """A camera through OpenCV (``index`` as ``cv2.VideoCapture`` numbers them).

    Raises:
        InputError: no camera ``index``, or it gives no frame.
    """

    def __init__(self, index: int):
        super().__init__(f"camera {index}")
        self.capture = cv2.VideoCapture(index)
        ok, _ = self.capture.read() if self.capture.isOpened() else (False, None)
        if not ok:
            self.capture.release()
            raise InputError(
                f"camera {index}: cannot be opened or gives no frame. Check that it is connected and "
                "not used by another program, or give another --camera number (0 is the first)."
            )
        self.fps = float(self.capture.get(cv2.CAP_PROP_FPS) or 30.0)

    def produce(self) -> None:
        index = 0
        try:
            while not self.stopping.is_set():
                ok, image = self.capture.read()
                if not ok:
                    return
                self.samples.put(Sample(time.monotonic(), index, cv2.cvtColor(image, cv2.COLOR_BGR2RGB)))
                index += 1
        finally:
            self.capture.release()


class ArkitCsvSource(Source):
    """A Live Link Face CSV replayed in real time, row by row at its timecodes.

    Raises:
        InputError: the file is not a Live Link Face CSV.
    """

    kind = "arkit"

    def __init__(self, path: str | Path, *, loop: bool = False, capture_fps: float | None = None):
        super().__init__(f"ARKit capture {path}")
        self.times, self.values = live_link_face_table(path, capture_fps=capture_fps)
        self.fps = float(1 / np.median(np.diff(self.times))) if len(self.times) > 1 else 60.0
        self.loop = loop

    def produce(self) -> None:
        _play(self, lambda: zip(self.times, self.values, strict=True), loop=self.loop)


class ArkitUdpSource(Source):
    """Live Link Face's UDP stream (the iPhone app streaming to this computer's address and
    ``port``): each packet with a face is a sample; packets without one are skipped.

    Raises:
        InputError: the port cannot be bound (in use).
    """

    kind = "arkit"

    def __init__(self, port: int, host: str = "0.0.0.0"):
        super().__init__(f"Live Link Face on UDP port {port}")
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self.socket.bind((host, port))
        except OSError as error:
            self.socket.close()
            raise InputError(
                f"UDP port {port}: cannot listen there ({error}). Choose another --arkit-udp port and set "
                "the same one in Live Link Face."
            ) from error
        self.socket.settimeout(0.2)
        self.port = self.socket.getsockname()[1]
        self.fps = 60.0
        self.rejected = 0

    def produce(self) -> None:
        index = 0
        try:
            while not self.stopping.is_set():
                try:
                    packet = self.socket.recv(4096)
                except TimeoutError:
                    continue
                try:
                    frame = decode_live_link_packet(packet)
                except ValueError:
                    self.rejected += 1
                    continue
                if frame is not None:
                    self.samples.put(Sample(time.monotonic(), index, frame.values))
                    index += 1
        finally:
            self.socket.close()
