"""Video and image-folder decoding (PyAV, any format ffmpeg reads) and mp4 writing."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from headsplat.errors import InputError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")


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


def keep_for_fps(n_frames: int, source_fps: float, max_fps: float) -> np.ndarray:
    """Indices of the frames to keep so the rate does not exceed ``max_fps`` (evenly spread)."""
    if source_fps <= max_fps:
        return np.arange(n_frames)
    slots = np.floor(np.arange(n_frames) * max_fps / source_fps)
    return np.flatnonzero(np.diff(slots, prepend=-1) > 0)


def _to_square_pixels(image: np.ndarray, sample_aspect: Fraction | None) -> np.ndarray:
    if not sample_aspect or sample_aspect == 1:
        return image
    height, width = image.shape[:2]
    return cv2.resize(image, (round(width * sample_aspect), height), interpolation=cv2.INTER_AREA)


def _decode_video(path: Path) -> tuple[list[np.ndarray], float]:
    import av

    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError, UnicodeDecodeError) as error:
        raise InputError(
            f"{path}: cannot be read as a video ({error}). Give a video file ffmpeg can play "
            "or a folder of images."
        ) from error
    with container:
        if not container.streams.video:
            raise InputError(
                f"{path}: has no video stream (truncated or damaged?). "
                "Give a video file or a folder of images."
            )
        stream = container.streams.video[0]
        fps = float(stream.average_rate or stream.guessed_rate or 25)
        sample_aspect = stream.codec_context.sample_aspect_ratio
        frames = []
        try:
            for frame in container.decode(stream):
                image = _to_square_pixels(frame.to_ndarray(format="rgb24"), sample_aspect)
                # Phone videos carry their orientation as a display rotation (degrees counter-clockwise).
                turns = round(getattr(frame, "rotation", 0) or 0) // 90
                frames.append(np.ascontiguousarray(np.rot90(image, turns)) if turns % 4 else image)
        except av.FFmpegError as error:
            if not frames:
                raise InputError(
                    f"{path}: the video data is corrupt ({error}). Re-encode or re-download it."
                ) from error
            # A truncated tail: keep what decoded.
    return frames, fps


def _read_image_folder(path: Path) -> list[np.ndarray]:
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    frames = []
    for file in files:
        image = cv2.imread(str(file), cv2.IMREAD_COLOR)
        if image is None:
            raise InputError(f"{file}: cannot be read as an image. Remove it from {path} or replace it.")
        if frames and image.shape != frames[0].shape:
            raise InputError(
                f"{file}: size {image.shape[1]}x{image.shape[0]} differs from the first image's "
                f"{frames[0].shape[1]}x{frames[0].shape[0]}. All images of a folder must match."
            )
        frames.append(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    return frames


def read_clip(path: str | os.PathLike, max_fps: float = 25.0, folder_fps: float = 25.0) -> Clip:
    """Decode a video (any format ffmpeg reads) or a folder of images, capping the frame rate.

    Raises:
        InputError: missing, unreadable, corrupt or empty input (the message names the file).
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file or folder.")
    if path.is_dir():
        frames, fps = _read_image_folder(path), folder_fps
    else:
        if not os.access(path, os.R_OK):
            raise InputError(f"{path}: not readable (permission denied). Check the file's permissions.")
        if path.stat().st_size == 0:
            raise InputError(f"{path}: the file is empty. Re-copy or re-download the video.")
        frames, fps = _decode_video(path)
    if not frames:
        raise InputError(
            f"{path}: contains no frames. Give a video with at least 2 frames or a folder of images."
        )
    keep = keep_for_fps(len(frames), fps, max_fps)
    return Clip(np.stack([frames[i] for i in keep]), keep, min(fps, max_fps), fps, len(frames))


def write_mp4(path: str | os.PathLike, frames: Iterable[np.ndarray], fps: float, crf: int = 23) -> None:
    """Write RGB uint8 frames (H, W, 3), H and W even, as H.264 (yuv420p) mp4."""
    import av

    rate = Fraction(fps).limit_denominator(1001)
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = None
        for image in frames:
            if stream is None:
                stream = container.add_stream("libx264", rate=rate)
                stream.width, stream.height = image.shape[1], image.shape[0]
                stream.pix_fmt = "yuv420p"
                stream.options = {"crf": str(crf), "preset": "veryfast"}
            container.mux(
                stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24"))
            )
        if stream is not None:
            container.mux(stream.encode(None))


def iter_mp4(path: str | os.PathLike) -> Iterator[np.ndarray]:
    """RGB frames of an mp4 (for tests and previews)."""
    import av

    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            yield frame.to_ndarray(format="rgb24")
