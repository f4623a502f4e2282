"""Video and image-folder decoding (PyAV, any format ffmpeg reads) and mp4 writing."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import torch

from headsplat.io.errors import InputError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
PHOTO_FOLDER_MAX = 20
"""A folder of at most this many images (or one image file) is a set of photos, each its own
view of the head; a larger folder is the frames of a clip, all of one size."""


@dataclass
class Clip:
    """Decoded frames of a video or image folder.

    Attributes:
        frames: (N, H, W, 3) uint8 RGB, square pixels (non-square sample aspect is resampled).
        source_index: (N,) index of each kept frame in the source (frame-rate capping skips some).
        fps: frame rate of the kept frames (the source's, capped).
        source_fps: the source's frame rate.
        n_source: number of frames in the source before frame-rate capping.
    """

    frames: np.ndarray
    source_index: np.ndarray
    fps: float
    source_fps: float
    n_source: int


def _to_square_pixels(image: np.ndarray, sample_aspect: Fraction | None) -> np.ndarray:
    if not sample_aspect or sample_aspect == 1:
        return image
    height, width = image.shape[:2]
    return cv2.resize(image, (round(width * sample_aspect), height), interpolation=cv2.INTER_AREA)


def _open_video(path: Path):
    import av

    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError, UnicodeDecodeError) as error:
        raise InputError(
            f"{path}: cannot be read as a video ({error}). Give a video file ffmpeg can play "
            "or a folder of images."
        ) from error
    if not container.streams.video:
        container.close()
        raise InputError(
            f"{path}: has no video stream (truncated or damaged?). Give a video file or a folder of images."
        )
    return container


def _video_frames(path: Path) -> Iterator[np.ndarray]:
    import av

    with _open_video(path) as container:
        stream = container.streams.video[0]
        sample_aspect = stream.codec_context.sample_aspect_ratio
        decoded = 0
        try:
            for frame in container.decode(stream):
                image = _to_square_pixels(frame.to_ndarray(format="rgb24"), sample_aspect)
                # Phone videos carry their orientation as a display rotation (degrees counter-clockwise).
                turns = round(getattr(frame, "rotation", 0) or 0) // 90
                decoded += 1
                yield np.ascontiguousarray(np.rot90(image, turns)) if turns % 4 else image
        except av.FFmpegError as error:
            if not decoded:
                raise InputError(
                    f"{path}: the video data is corrupt ({error}). Re-encode or re-download it."
                ) from error
            # A truncated tail: keep what decoded.


def photo_count(path: str | os.PathLike) -> int | None:
    """How many photos ``path`` is: 1 for an image file, the images of a folder of at most
    :data:`PHOTO_FOLDER_MAX`; None for anything else (a video, a clip's frames, nothing)."""
    path = Path(path)
    if path.is_dir():
        count = sum(p.suffix.lower() in IMAGE_SUFFIXES for p in path.iterdir())
        return count if 0 < count <= PHOTO_FOLDER_MAX else None
    return 1 if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file() else None


def _folder_frames(path: Path, files: list[Path], *, same_size: bool) -> Iterator[np.ndarray]:
    """Each image of ``files`` as (H, W, 3) uint8 RGB, turned upright as its EXIF orientation
    says (OpenCV's reader applies it)."""
    first_shape = None
    for file in files:
        image = cv2.imread(str(file), cv2.IMREAD_COLOR)
        if image is None:
            where = f"Remove it from {path} or replace it." if path.is_dir() else "Give a JPEG or PNG image."
            raise InputError(f"{file}: cannot be read as an image. {where}")
        if same_size and first_shape is not None and image.shape != first_shape:
            raise InputError(
                f"{file}: size {image.shape[1]}x{image.shape[0]} differs from the first image's "
                f"{first_shape[1]}x{first_shape[0]}. The {len(files)} images of a folder of more "
                f"than {PHOTO_FOLDER_MAX} are a clip's frames and must match; photos of different sizes "
                f"go {PHOTO_FOLDER_MAX} or fewer to a folder."
            )
        first_shape = image.shape
        yield cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


class ClipReader:
    """The frames of a video (any format ffmpeg reads), an image folder or one image, decoded on
    demand.

    Each iteration decodes the source again, so a long clip never sits in memory at full size.
    Iterating yields (source index, (H, W, 3) uint8 RGB frame) for the frames kept under the
    frame-rate cap. ``photos`` is True for one image or a folder of at most
    :data:`PHOTO_FOLDER_MAX` (sizes may differ; none is dropped by the cap).

    Raises:
        InputError: missing, unreadable, corrupt or empty input (the message names the file), on
            construction or during the first iteration.
    """

    def __init__(self, path: str | os.PathLike, max_fps: float = 25.0, folder_fps: float = 25.0):
        self.path = path = Path(path)
        if not path.exists():
            raise InputError(f"{path}: no such file or folder.")
        self.files: list[Path] = []
        if path.is_dir():
            self.files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            self.source_fps = folder_fps
        elif path.suffix.lower() in IMAGE_SUFFIXES:
            self.files = [path]
            self.source_fps = folder_fps
        else:
            if not os.access(path, os.R_OK):
                raise InputError(f"{path}: not readable (permission denied). Check the file's permissions.")
            if path.stat().st_size == 0:
                raise InputError(f"{path}: the file is empty. Re-copy or re-download the video.")
            with _open_video(path) as container:
                stream = container.streams.video[0]
                self.source_fps = float(stream.average_rate or stream.guessed_rate or 25)
        self.photos = photo_count(path) is not None
        self.fps = self.source_fps if self.photos else min(self.source_fps, max_fps)
        self.n_source = 0
        self.decode_seconds = 0.0
        """Time spent decoding, summed over all iterations."""

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        if self.files or self.path.is_dir():
            frames = _folder_frames(self.path, self.files, same_size=not self.photos)
        else:
            frames = _video_frames(self.path)
        step = self.fps / self.source_fps  # <= 1: keep frame i when floor(i * step) advances
        index = -1
        while True:
            start = time.perf_counter()
            image = next(frames, None)
            self.decode_seconds += time.perf_counter() - start
            if image is None:
                break
            index += 1
            if index == 0 or np.floor(index * step) > np.floor((index - 1) * step):
                yield index, image
        self.n_source = index + 1
        if index < 0:
            raise InputError(
                f"{self.path}: contains no frames. Give a video, a folder of images or one image."
            )


def read_clip(path: str | os.PathLike, max_fps: float = 25.0, folder_fps: float = 25.0) -> Clip:
    """Decode a whole clip into memory (see :class:`ClipReader` for long ones)."""
    reader = ClipReader(path, max_fps, folder_fps)
    indices, frames = zip(*reader, strict=True)
    return Clip(np.stack(frames), np.array(indices), reader.fps, reader.source_fps, reader.n_source)


class Mp4Writer:
    """An H.264 (yuv420p) mp4 written one RGB uint8 frame (H, W, 3), H and W even, at a time, so a
    long video never sits in memory; with ``audio``, the first audio track of that file too
    (re-encoded as AAC, cut to the video's length; a file without audio adds none). Use it as a
    context manager: leaving the block finishes the file."""

    def __init__(
        self, path: str | os.PathLike, fps: float, crf: int = 23, audio: str | os.PathLike | None = None
    ):
        import av

        self.fps, self.crf, self.audio = fps, crf, audio
        self.container = av.open(str(path), mode="w", format="mp4")
        self.stream, self.sound, self.count = None, None, 0

    def add(self, image: np.ndarray) -> None:
        import av

        if self.stream is None:
            self.stream = self.container.add_stream(
                "libx264", rate=Fraction(self.fps).limit_denominator(1001)
            )
            self.stream.width, self.stream.height = image.shape[1], image.shape[0]
            self.stream.pix_fmt = "yuv420p"
            self.stream.options = {"crf": str(self.crf), "preset": "veryfast"}
            self.sound = _AudioCopy(self.container, self.audio) if self.audio is not None else None
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
        self.container.mux(self.stream.encode(frame))
        self.count += 1

    def __enter__(self) -> Mp4Writer:
        return self

    def __exit__(self, error_type, *_) -> None:
        try:
            if error_type is None and self.stream is not None:
                self.container.mux(self.stream.encode(None))
            if error_type is None and self.sound is not None:
                self.sound.copy(self.count / self.fps)
        finally:
            if self.sound is not None:
                self.sound.close()
            self.container.close()


def write_mp4(
    path: str | os.PathLike,
    frames: Iterable[np.ndarray],
    fps: float,
    *,
    crf: int = 23,
    audio: str | os.PathLike | None = None,
) -> None:
    """Write RGB uint8 frames (H, W, 3) as an mp4 (:class:`Mp4Writer`)."""
    with Mp4Writer(path, fps, crf, audio) as writer:
        for image in frames:
            writer.add(image)


class _AudioCopy:
    """The first audio track of a file, added to an output container before any packet is written
    (the mp4 header lists every stream) and copied into it at the end."""

    def __init__(self, container, source: str | os.PathLike):
        import av

        self.container = container
        self.source = av.open(str(source))
        tracks = self.source.streams.audio
        self.track = tracks[0] if tracks else None
        if self.track is None:
            return
        layout = self.track.layout.name if self.track.layout else "stereo"
        self.out = container.add_stream("aac", rate=self.track.rate, layout=layout)

    def copy(self, seconds: float) -> None:
        """Re-encode the track's first ``seconds`` into the output."""
        if self.track is None:
            return
        for frame in self.source.decode(self.track):
            if frame.time is not None and frame.time >= seconds:
                break
            frame.pts = None
            self.container.mux(self.out.encode(frame))
        self.container.mux(self.out.encode(None))

    def close(self) -> None:
        self.source.close()


def write_png(path: str | os.PathLike, image: np.ndarray, compression: int = 1) -> None:
    """Write an RGB (H, W, 3) or grey (H, W) uint8 image as PNG (``compression`` 0-9: zlib's
    level; 1 is fast, 9 small)."""
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image
    if not cv2.imwrite(str(path), bgr, [cv2.IMWRITE_PNG_COMPRESSION, compression]):
        raise OSError(f"{path}: could not be written (disk full or no permission?)")


def read_png(path: str | os.PathLike) -> np.ndarray:
    """An image file as RGB (H, W, 3) uint8, or (H, W) uint8 when it is grey (masks).

    Raises:
        InputError: the file is missing or not an image (the message names it).
    """
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise InputError(f"{path}: missing or not a readable image. Re-run the step that writes it.")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB) if image.ndim == 3 else image


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """A float image (H, W, C) in [0, 1] as rounded uint8."""
    return (image.clamp(0, 1) * 255 + 0.5).to(torch.uint8).cpu().numpy()


def iter_mp4(path: str | os.PathLike) -> Iterator[np.ndarray]:
    """RGB frames of an mp4 (for tests and previews)."""
    import av

    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            yield frame.to_ndarray(format="rgb24")
