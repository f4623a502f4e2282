"""``headsplat reenact``: an avatar driven by a motion, as a video, with the motion it rendered.

The avatar renders each frame's condition through its training camera (or, with ``orbit``, a
camera circling it once over the video), the torso at its rest pose; with a driver's frames the
video shows them side by side (driver | avatar). The motion file (:mod:`headsplat.drive.motion`)
goes beside the video as ``NAME.motion.npz``.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import torch

from headsplat.apps.orbit import orbit_camera
from headsplat.avatar.avatar import Avatar
from headsplat.drive.arkit import read_live_link_face, read_weights
from headsplat.drive.driver import driver_subject, tracked_motion
from headsplat.drive.motion import Motion, load_motion
from headsplat.drive.smoothing import smooth_motion
from headsplat.drive.transfer import hold_pose, retarget, transfer_expression
from headsplat.io.atomic import atomic_write
from headsplat.io.errors import InputError
from headsplat.io.progress import ProgressBar
from headsplat.io.subject import Subject
from headsplat.io.video import read_png, to_uint8, write_mp4
from headsplat.preprocess.pipeline import PreprocessConfig
from headsplat.track import DEFAULT_TRACKER


def subject_frames(subject: Subject, size: int) -> Iterator[np.ndarray]:
    """The subject's frames, RGB uint8 (size, size, 3), in order."""
    for f in range(subject.n_frames):
        yield cv2.resize(read_png(subject.frame_path(f)), (size, size), interpolation=cv2.INTER_AREA)


@torch.no_grad()
def reenact_frames(
    avatar: Avatar,
    motion: Motion,
    size: int,
    *,
    driver_frames: Iterable[np.ndarray] | None = None,
    orbit: bool = False,
    progress: bool = False,
) -> Iterator[np.ndarray]:
    """Yield the video's frames: (size, size, 3) uint8 renders of ``motion`` (in the avatar's
    terms), each right of its driver frame (size, size, 3) when ``driver_frames`` are given."""
    camera = avatar.camera(size)
    drivers = iter(driver_frames) if driver_frames is not None else None
    bar = ProgressBar(len(motion), log_every=25) if progress else None
    for f, condition in enumerate(motion.conditions(avatar.rest_pose())):
        if orbit:
            camera = orbit_camera(avatar, 2 * np.pi * f / len(motion), size)
        image = to_uint8(avatar.render(condition.to(avatar.device), camera).image)
        if drivers is not None:
            image = np.concatenate([next(drivers), image], axis=1)
        if bar is not None:
            bar.update(f + 1, {})
        yield image


def driver_audio(subject: Subject) -> Path | None:
    """The video whose sound goes with the subject's frames: its source, when that file still exists
    and the frames follow it in time (frame f within one frame of f / fps: no face lost, no gap);
    None otherwise (with a warning when there is a source but the frames do not follow it)."""
    source = Path(subject.meta.get("source", ""))
    if not source.is_file():
        return None
    times = subject.tracking["source_frame"] / subject.meta.get("source_fps", subject.meta["fps"])
    if np.abs(times - np.arange(len(times)) / subject.meta["fps"]).max() > 1 / subject.meta["fps"]:
        warnings.warn(f"{source}: its sound is left out: frames without a face were dropped.", stacklevel=2)
        return None
    return source


def motion_path(video: str | Path) -> Path:
    """Where the motion file of the video ``video`` goes: ``NAME.motion.npz`` beside it."""
    video = Path(video)
    return video.with_name(f"{video.stem}.motion.npz")


def write_reenactment(
    avatar: Avatar,
    motion: Motion,
    output: str | Path,
    *,
    size: int | None = None,
    driver_frames: Iterable[np.ndarray] | None = None,
    orbit: bool = False,
    progress: bool = False,
    audio: str | Path | None = None,
) -> tuple[Path, Path]:
    """Render ``motion`` to the video ``output`` at the motion's fps (with the sound of the video
    ``audio``, if any) and write its motion file, each atomically; return both paths."""
    size = size or avatar.size
    frames = reenact_frames(avatar, motion, size, driver_frames=driver_frames, orbit=orbit, progress=progress)
    video = atomic_write(output, lambda p: write_mp4(p, frames, motion.fps, audio=audio))
    return video, motion.save(motion_path(video))


def driving_motion(
    avatar: Avatar,
    *,
    driver: str | Path | None = None,
    arkit: str | Path | None = None,
    weights: str | Path | None = None,
    mode: str = "relative",
    fps: float = 25.0,
    capture_fps: float | None = None,
    model_path: str | Path | None = None,
    smoothing: tuple[float, float] | None = None,
    tracking: str = DEFAULT_TRACKER,
) -> tuple[Motion, Subject | None]:
    """The motion that drives ``avatar``, in its terms, from exactly one source, and the driver's
    subject folder when there is one (its frames go beside the renders).

    Args:
        driver: a video, an image folder or a subject folder (tracked, then :func:`retarget`-ed with
            ``mode``), or a motion ``.npz`` (played as it is, in an avatar's terms already; "expression"
            holds its head still).
        arkit: a Live Link Face CSV. weights: a plain weight file (CSV or JSON). ARKit-style
            weights, whose rest is all zeros: they are added to the avatar's rest expression (its
            tracker's reading of the person at rest), or taken as they are with ``mode``
            "absolute"; "expression" holds an ARKit capture's head still.
        fps: the frame rate ARKit captures and weight files are resampled or played at.
        capture_fps: an ARKit capture's frame rate when its timecodes should not decide it.
        smoothing: (min_cutoff Hz, beta) of a One Euro filter on the driving signal
            (:mod:`headsplat.drive.smoothing`) before it is mapped; None: as tracked or captured.
        tracking: how a video driver is tracked (:data:`headsplat.track.TRACKERS`).

    Raises:
        InputError: not exactly one source, a mode the source cannot take, or a bad file.
    """
    if sum(source is not None for source in (driver, arkit, weights)) != 1:
        raise InputError(
            "headsplat reenact: give one driver: DRIVER (a video, an image folder, a subject folder or "
            "a .motion.npz), or --arkit CSV, or --weights FILE."
        )
    names, rest = avatar.expression_names, avatar.rest_pose()
    at_rest = {"rest_rotation": rest[0], "rest_translation": rest[1]}
    if driver is not None and Path(driver).suffix.lower() == ".npz":
        replay = load_motion(driver).with_expression_order(names)
        return (hold_pose(replay, *rest) if mode == "expression" else replay), None
    smooth = (lambda m: smooth_motion(m, *smoothing)) if smoothing else (lambda m: m)
    if driver is not None:
        config = PreprocessConfig(overlay=False, tracking=tracking)
        subject = driver_subject(driver, model_path, config=config)
        tracked = smooth(tracked_motion(subject).with_expression_order(names))
        return retarget(tracked, avatar.neutral_expression, **at_rest, mode=mode), subject
    if arkit is not None:
        motion = smooth(read_live_link_face(arkit, names, **at_rest, fps=fps, capture_fps=capture_fps))
    else:
        motion = smooth(read_weights(weights, names, **at_rest, fps=fps))
    if mode != "absolute":
        zero = torch.zeros_like(avatar.neutral_expression)
        motion = replace(
            motion, expression=transfer_expression(motion.expression, zero, avatar.neutral_expression)
        )
    return (hold_pose(motion, *rest) if mode == "expression" else motion), None


def played_motion(avatar: Avatar, source: str | Path, fps: float = 25.0) -> Motion:
    """The motion a player plays on ``avatar`` from ``source``, as ``reenact`` would drive it: a
    ``.motion.npz`` as it is, a Live Link Face CSV (its header names a Timecode column), a weight
    file (CSV or JSON), or a video, image or subject folder (tracked, relative mode).

    Raises:
        InputError: as :func:`driving_motion`.
    """
    path = Path(source)
    suffix = path.suffix.lower()
    if suffix == ".csv" and path.is_file():
        with path.open(encoding="utf-8", errors="replace") as stream:
            live_link = "timecode" in stream.readline().lower()
        return (
            driving_motion(avatar, arkit=path, fps=fps)[0]
            if live_link
            else driving_motion(avatar, weights=path, fps=fps)[0]
        )
    if suffix == ".json":
        return driving_motion(avatar, weights=path, fps=fps)[0]
    return driving_motion(avatar, driver=path)[0]


def reenact_run(
    run_folder: str | Path,
    *,
    driver: str | Path | None = None,
    arkit: str | Path | None = None,
    weights: str | Path | None = None,
    absolute: bool = False,
    expression_only: bool = False,
    output: str | Path | None = None,
    size: int | None = None,
    orbit: bool = False,
    fps: float = 25.0,
    capture_fps: float | None = None,
    model_path: str | Path | None = None,
    smoothing: tuple[float, float] | None = None,
    tracking: str = DEFAULT_TRACKER,
) -> tuple[Path, Path, Motion]:
    """``headsplat reenact``: the avatar of ``run_folder`` driven by one source
    (:func:`driving_motion`), relative to its rest unless ``absolute``, its head held still with
    ``expression_only``; the video (default ``RUN/reenact_DRIVER.mp4``, a video driver's frames
    beside it unless ``orbit``, its audio under it), the motion file and the motion.

    Raises:
        InputError: contradicting options, or :func:`driving_motion`'s errors.
    """
    from headsplat.avatar.avatar import load_avatar

    if absolute and expression_only:
        raise InputError("headsplat reenact: --absolute and --no-pose contradict each other; give one.")
    avatar = load_avatar(run_folder)  # on the CPU: the CPU rasterizer is always there
    mode = "absolute" if absolute else "expression" if expression_only else "relative"
    motion, subject = driving_motion(
        avatar,
        driver=driver,
        arkit=arkit,
        weights=weights,
        mode=mode,
        fps=fps,
        capture_fps=capture_fps,
        model_path=model_path,
        smoothing=smoothing,
        tracking=tracking,
    )
    size = size or avatar.size
    source = Path(run_folder)
    driver_name = Path(driver or arkit or weights).stem
    default = (source if source.is_dir() else source.parent) / f"reenact_{driver_name}.mp4"
    frames = None if subject is None or orbit else subject_frames(subject, size)
    audio = None if subject is None else driver_audio(subject)
    video, motion_file = write_reenactment(
        avatar,
        motion,
        Path(output) if output else default,
        size=size,
        driver_frames=frames,
        orbit=orbit,
        progress=True,
        audio=audio,
    )
    return video, motion_file, motion
