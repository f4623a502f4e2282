"""``headsplat preprocess``: video -> subject folder (frames, masks, tracking, QA)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

import headsplat
from headsplat.geometry import view_angles
from headsplat.head import HeadModel, load_head_model
from headsplat.io.atomic import atomic_folder
from headsplat.io.errors import InputError
from headsplat.io.subject import (
    FORMAT_VERSION,
    LANDMARK_FIT_ARRAYS,
    check_output_folder,
    image_file,
    load_subject,
    split_frames,
    write_json,
)
from headsplat.io.video import ClipReader, read_png, write_mp4, write_png
from headsplat.preprocess.coverage import (
    COVERAGE_FRAMES,
    clip_views,
    coverage_image,
    coverage_warnings,
    part_coverage,
    triangle_visibility,
    view_histogram,
)
from headsplat.preprocess.crop import Crop, head_crop
from headsplat.preprocess.landmarks import (
    FaceLandmarker,
    detect_single_image,
    landmark_weights,
    person_segmenter,
)
from headsplat.preprocess.matting import BAND, MATTES, soft_matte, still_runs, temporal_mean
from headsplat.preprocess.qa import cut_below_neck, draw_overlay, neck_rim_vertices, wire_polylines
from headsplat.render.mesh import project_points
from headsplat.track import DEFAULT_TRACKER, TRACKERS
from headsplat.track.fit import FitConfig, FitResult, fit_landmarks
from headsplat.track.photometric import PhotometricConfig, PhotometricResult, track_photometric


@dataclass
class PreprocessConfig:
    """Settings of ``headsplat preprocess``."""

    size: int = 512
    """Side of the square output frames in pixels."""
    max_fps: float = 25.0
    """Frame-rate cap: faster videos are subsampled evenly."""
    folder_fps: float = 25.0
    """Frame rate assumed for a folder of images."""
    margin: float = 0.45
    """Room around the union of face boxes, as a fraction of the face size."""
    contour_weight: float = 0.3
    """Landmark weight of the face-oval points (silhouette points slide with the view)."""
    overlay: bool = True
    """Write qa/overlay.mp4."""
    tracking: str = DEFAULT_TRACKER
    """One of :data:`TRACKERS`."""
    matte: str = "segmenter"
    """How the person masks are made, one of :data:`MATTES`: ``segmenter``, the person
    segmenter's probability as it is; ``soft``, its edge band matted from the frame's colours
    (:func:`~headsplat.preprocess.matting.soft_matte`) and each mask averaged with up to
    ``matte_radius`` frames either side while the head holds still
    (:func:`~headsplat.preprocess.matting.temporal_mean`). Measured: docs/quality.md, "Soft
    mattes"."""
    matte_radius: int = 2
    """Frames either side a soft matte is averaged with (0: none)."""
    test_split: bool = True
    """Hold the clip's last fifth out as test frames (``--no-test-split``: train on every frame).
    Photos never hold any out."""
    identity_from: str = ""
    """A subject folder whose identity and focal length this one keeps instead of fitting its own
    (``--identity-from``: a video's frames tracked as the person of a few photos)."""
    fit: FitConfig = field(default_factory=FitConfig)
    photometric: PhotometricConfig = field(default_factory=PhotometricConfig)


FOCAL_FROM_PHOTOS = 3
"""Fewer photos than this keep the focal length at its prior (``FitConfig.focal_init``)."""


def _log(message: str) -> None:
    print(f"[headsplat preprocess] {message}", file=sys.stderr, flush=True)


class _Stages:
    """Wall-clock seconds per stage, for the report: ``with stages("name"): ...`` adds to a stage."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - start)

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] = round(self.seconds.get(name, 0.0) + seconds, 3)

    def move(self, seconds: float, source: str, target: str) -> None:
        """Book ``seconds`` measured inside stage ``source`` to stage ``target``."""
        self.add(source, -seconds)
        self.add(target, seconds)


def _detect_all(frames: Iterable[np.ndarray], *, video: bool) -> tuple[list[np.ndarray | None], int]:
    """Largest face's landmarks per frame (None where none) and the number of frames with 2+ faces;
    ``video``: the frames follow each other (the detector tracks), else each stands alone."""
    found, crowded = [], 0
    with FaceLandmarker(video=video, max_faces=2) as landmarker:
        for image in frames:
            faces = landmarker(image)
            crowded += len(faces) > 1
            found.append(faces[0] if faces else None)
    return found, crowded


def _first_pass(reader: ClipReader) -> tuple[list[np.ndarray | None], int, np.ndarray, list[tuple[int, int]]]:
    """Landmarks per kept source frame, frames with 2+ faces, source indices, each frame's
    (width, height)."""
    source_index, sizes = [], []

    def frames() -> Iterator[np.ndarray]:
        for index, image in reader:
            source_index.append(index)
            sizes.append((image.shape[1], image.shape[0]))
            yield image

    found, crowded = _detect_all(frames(), video=not reader.photos)
    return found, crowded, np.array(source_index, dtype=np.int64), sizes


def _boxes(landmarks: list[np.ndarray]) -> np.ndarray:
    return np.array([[*lm.min(0), *lm.max(0)] for lm in landmarks])


def _crops(
    landmarks: list[np.ndarray | None],
    with_face: list[int],
    sizes: list[tuple[int, int]],
    *,
    margin: float,
    each: bool,
) -> dict[int, Crop]:
    """The crop of each frame with a face (by position): one around every frame's head for a clip
    (one camera that stays put), each photo's around its own (``each``)."""
    if each:
        return {i: head_crop(_boxes([landmarks[i]]), *sizes[i], margin=margin) for i in with_face}
    crop = head_crop(_boxes([landmarks[i] for i in with_face]), *sizes[0], margin=margin)
    return dict.fromkeys(with_face, crop)


def _framing(
    reader: ClipReader,
    crops: dict[int, Crop],
    kept: np.ndarray,
    source_index: np.ndarray,
    sizes: list[tuple[int, int]],
) -> dict:
    """How ``meta.json`` records where the frames came from: a clip's size and its one crop, or
    each photo's file, size and crop (``photos``)."""
    if not reader.photos:
        return {"source_size": list(sizes[0]), "crop": asdict(crops[int(kept[0])])}
    return {
        "photos": [
            {
                "file": reader.files[source_index[k]].name,
                "size": list(sizes[k]),
                "crop": asdict(crops[int(k)]),
            }
            for k in kept
        ]
    }


class KnownPerson(NamedTuple):
    """What ``identity_from`` holds: the identity (I,), the focal length in units of the crop
    size, and the subject they came from (``meta.json`` records it: eval accepts this subject for
    an avatar trained on that one)."""

    identity: np.ndarray
    focal: float
    source: dict


def _known_person(config: PreprocessConfig, model: HeadModel) -> KnownPerson | None:
    """With ``identity_from``, that subject's identity and focal length, to hold; None without.

    Raises:
        InputError: ``identity_from`` is no subject folder, or was tracked with another head model.
    """
    if not config.identity_from:
        return None
    source = load_subject(config.identity_from)
    if source.meta["head_model"]["sha256"] != model.checksum:
        raise InputError(
            f"{config.identity_from} was tracked with another head model "
            f"({source.meta['head_model']['name']}); its identity means nothing to this one. "
            "Preprocess both with the same --model."
        )
    return KnownPerson(
        np.asarray(source.tracking["identity"]),
        float(source.tracking["K"][0, 0]) / float(source.meta["size"]),
        {"path": str(source.path.resolve()), "fingerprint": source.fingerprint},
    )


def photo_settings(config: PreprocessConfig, n_photos: int) -> PreprocessConfig:
    """``config`` for ``n_photos`` photos: no smoothing between them (they are not a sequence),
    and, below :data:`FOCAL_FROM_PHOTOS`, the focal length held at its prior (one or two views
    cannot tell it from the head's distance)."""
    fit = replace(config.fit, smooth_pose=0.0, smooth_expression=0.0, fit_focal=n_photos >= FOCAL_FROM_PHOTOS)
    photometric = replace(
        config.photometric, smooth_rotation=0.0, smooth_translation=0.0, smooth_expression=0.0
    )
    return replace(config, fit=fit, photometric=photometric)


def _camera_vertices(model: HeadModel, fit: FitResult, f: int) -> np.ndarray:
    vertices = model.vertices(
        torch.from_numpy(fit.identity), torch.from_numpy(fit.expression[f]), torch.from_numpy(fit.gaze[f])
    ).numpy()
    return vertices @ fit.rotation[f].T + fit.translation[f]


def _crop_and_detect(
    reader: ClipReader, crops: dict[int, Crop], size: int, folder: Path, stages: _Stages
) -> tuple[list[int], list[np.ndarray]]:
    """Pass 2: decode the source again, crop the wanted frames (``crops``: each one's crop, by its
    position in pass 1), find the face in each crop and write the crops with a face as
    ``folder/frames/NNNNNN.png``, numbered consecutively. One frame is in memory at a time, so
    memory does not grow with the clip.

    Returns:
        The pass-1 positions of the written frames, and their (478, 2) landmarks in crop pixels.
    """
    positions, landmarks = [], []
    (folder / "frames").mkdir()
    decoded = reader.decode_seconds
    with FaceLandmarker(video=not reader.photos, max_faces=2) as landmarker:
        for k, (_, image) in enumerate(reader):
            if k not in crops:
                continue
            with stages("crop"):
                cropped = crops[k].apply(image, size)
            with stages("landmarks"):
                faces = landmarker(cropped)
            if faces:
                with stages("write_frames"):
                    write_png(image_file(folder, "frames", len(positions)), cropped)
                positions.append(k)
                landmarks.append(faces[0])
    stages.add("decode", reader.decode_seconds - decoded)
    return positions, landmarks


def _written_frames(folder: Path, n_frames: int) -> Iterator[np.ndarray]:
    """The crops written by :func:`_crop_and_detect`, read back one at a time."""
    for f in range(n_frames):
        yield read_png(image_file(folder, "frames", f))


def _segmented(folder: Path, n_frames: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Each written frame (S, S, 3) and its person probability (S, S) float32, as the segmenter
    gives it."""
    with person_segmenter() as segment:
        for image in _written_frames(folder, n_frames):
            yield image, segment(image)


def _write_masks(folder: Path, model: HeadModel, fit: FitResult, config: PreprocessConfig) -> None:
    """``folder/masks/NNNNNN.png``: each written frame's person mask, cut below the fitted neck,
    made as ``config.matte`` says."""
    (folder / "masks").mkdir()
    alphas = _cut_mattes(folder, model, fit, soft=config.matte == "soft")
    if config.matte == "soft" and config.matte_radius > 0:
        alphas = temporal_mean(alphas, still_runs(fit.rotation), radius=config.matte_radius)
    for f, alpha in enumerate(alphas):
        write_png(image_file(folder, "masks", f), np.round(alpha * 255).astype(np.uint8))


def _cut_mattes(folder: Path, model: HeadModel, fit: FitResult, *, soft: bool) -> Iterator[np.ndarray]:
    """Each written frame's person alpha (H, W) in [0, 1], zero below the fitted neck: the
    segmenter's probability, or with ``soft`` its edge band matted (the cut kept sharp)."""
    rim = neck_rim_vertices(model)
    for f, (image, person) in enumerate(_segmented(folder, len(fit.error_px))):
        rim_screen = project_points(_camera_vertices(model, fit, f)[rim], fit.K)
        if soft:
            below = cut_below_neck(np.ones_like(person), rim_screen) == 0
            person = soft_matte(image, person, half_width=BAND * image.shape[0], background=below)
        yield cut_below_neck(person, rim_screen)


def _write_overlay(folder: Path, model: HeadModel, fit: FitResult, detected: np.ndarray, fps: float) -> None:
    """``folder/qa/overlay.mp4``: the written frames with the fitted mesh and both landmark sets."""
    polylines = wire_polylines(model)
    frames = (
        draw_overlay(
            image,
            _camera_vertices(model, fit, f),
            polylines=polylines,
            K=fit.K,
            detected=detected[f],
            fitted=fit.projected[f],
        )
        for f, image in enumerate(_written_frames(folder, len(detected)))
    )
    write_mp4(folder / "qa" / "overlay.mp4", frames, fps)


def _write_coverage(folder: Path, model: HeadModel, fit: FitResult, size: int) -> dict:
    """``folder/qa/coverage.png`` (which parts of the head the clip showed, in UV | the head's
    views as a yaw/pitch histogram); returns the report's ``coverage``: the share of each part
    seen, the views' range and the warnings (:mod:`headsplat.preprocess.coverage`)."""
    n_frames = len(fit.error_px)
    frames = np.unique(np.linspace(0, n_frames - 1, min(COVERAGE_FRAMES, n_frames)).round().astype(int))
    vertices = (_camera_vertices(model, fit, int(f)) for f in frames)
    visibility = triangle_visibility(model.triangles, vertices, fit.K, size)
    angles = view_angles(fit.rotation, fit.translation)
    figure = np.concatenate([coverage_image(model, visibility), view_histogram(angles)], axis=1)
    write_png(folder / "qa" / "coverage.png", figure)
    shares = part_coverage(model, visibility)
    return {"seen": shares, **clip_views(angles), "warnings": coverage_warnings(shares)}


def _tracking_arrays(
    fit: FitResult, detected: np.ndarray, source_frame: np.ndarray, model: HeadModel
) -> dict:
    """The arrays of ``tracking.npz`` (format in :mod:`headsplat.io.subject`)."""
    return {
        "K": fit.K,
        "rotation": fit.rotation,
        "translation": fit.translation,
        "expression": fit.expression,
        "gaze": fit.gaze,
        "identity": fit.identity,
        "landmarks": detected,
        "landmarks_fitted": fit.projected,
        "landmark_error_px": fit.error_px,
        "source_frame": source_frame,
        "expression_names": np.array(model.expression_names),
    }


def _rounded(values: np.ndarray, digits: int = 3) -> dict:
    """Per-frame values for the report: their mean, the largest, and each frame's."""
    return {
        "mean": round(float(values.mean()), digits),
        "max_frame": round(float(values.max()), digits),
        "per_frame": [round(float(v), digits) for v in values],
    }


def _photometric_fit(fit: FitResult, photometric: PhotometricResult, detected: np.ndarray) -> FitResult:
    """The landmark fit with the photometric tracker's poses and expressions, and its landmark
    error at them."""
    return replace(
        fit,
        rotation=photometric.rotation,
        translation=photometric.translation,
        expression=photometric.expression,
        projected=photometric.projected,
        error_px=np.linalg.norm(photometric.projected - detected, axis=-1).mean(-1),
    )


def preprocess(
    video: str | Path,
    subject: str | Path,
    config: PreprocessConfig | None = None,
    *,
    overwrite: bool = False,
    model: HeadModel | None = None,
    model_path: str | Path | None = None,
    log: Callable[[str], None] = _log,
) -> dict:
    """Run the whole preprocessing of one clip and write the subject folder atomically.

    Returns:
        The QA report (also written to ``qa/report.json``).

    Raises:
        InputError: bad input (unreadable video, no face, too few usable frames, output clash).
    """
    config = config or PreprocessConfig()
    if config.tracking not in TRACKERS:
        raise InputError(f"tracking {config.tracking!r}: choose one of {', '.join(TRACKERS)}.")
    if config.matte not in MATTES:
        raise InputError(f"matte {config.matte!r}: choose one of {', '.join(MATTES)}.")
    video, subject = Path(video), Path(subject)
    check_output_folder(subject, overwrite=overwrite)  # fail before the expensive work
    stages = _Stages()
    reader = ClipReader(video, config.max_fps, config.folder_fps)
    if model is None:
        with stages("head_model"):
            model = load_head_model(model_path, detect_single_image)

    # Pass 1 over the source: landmarks for the crop. Frames are not kept (long or large videos).
    person = _known_person(config, model)  # a wrong --identity-from fails before the detection
    with stages("detect"):
        first_pass, crowded, source_index, sizes = _first_pass(reader)
    stages.move(reader.decode_seconds, "detect", "decode")
    width, height = sizes[0]
    if reader.photos:
        log(f"{video}: {len(source_index)} photos, each cropped around its own face")
    else:
        log(f"{video}: {len(source_index)} frames at {reader.fps:g} fps, {width}x{height}")
    with_face = [i for i, lm in enumerate(first_pass) if lm is not None]
    if not with_face:
        raise InputError(
            f"{video}: no face found in any of its {len(source_index)} frames. "
            "Give a video that shows one person's face."
        )
    if crowded:
        log(f"warning: a second face in {crowded} frames; tracking the largest face")
    crops = _crops(first_pass, with_face, sizes, margin=config.margin, each=reader.photos)
    del first_pass

    with atomic_folder(subject) as folder:
        # Pass 2 writes the frames as it goes; masks and overlay read them back: memory holds
        # per-frame landmarks and tracking, never the images of the whole clip.
        positions, landmarks = _crop_and_detect(reader, crops, config.size, folder, stages)
        kept = np.array(positions, dtype=np.int64)
        dropped = sorted(set(range(len(source_index))) - set(kept.tolist()))
        if dropped:
            log(f"warning: no face in {len(dropped)} frames; dropped (listed in qa/report.json)")
        if reader.photos and len(kept) == 0:
            raise InputError(f"{video}: no face found in the photos' crops. Give photos that show one face.")
        if len(kept) < 2 and not reader.photos:
            raise InputError(
                f"{video}: a face was found in only {len(kept)} frame(s); at least 2 are needed. "
                "Give a longer video in which the face stays visible."
            )
        if reader.photos:
            config = photo_settings(config, len(kept))
        detected = np.stack(landmarks)
        del landmarks

        weights = landmark_weights(detected.shape[1], config.contour_weight)
        rig = model.rig(model.landmarks)
        with stages("tracking"):
            identity, fit_config = None, config.fit
            if person is not None:  # held: its identity, and its focal length
                identity, focal = person.identity, person.focal
                fit_config = replace(config.fit, focal_init=focal, fit_focal=False)
            fit = fit_landmarks(
                rig,
                detected,
                config.size,
                weights=weights,
                frame_index=kept,
                config=fit_config,
                identity=identity,
            )
        log(f"tracking: mean landmark error {fit.error_px.mean():.2f} px over {len(kept)} frames")
        photometric = None
        if config.tracking == "photometric":
            with stages("photometric_tracking"):
                photometric = track_photometric(
                    model,
                    _written_frames(folder, len(kept)),
                    detected,
                    fit.K,
                    fit=asdict(fit),
                    landmark_weights=weights,
                    config=config.photometric,
                    person_masks=(probability for _, probability in _segmented(folder, len(kept))),
                )
            landmark_fit, fit = fit, _photometric_fit(fit, photometric, detected)
            log(
                f"photometric tracking: colour error {photometric.residual_before.mean():.4f} -> "
                f"{photometric.residual.mean():.4f}, landmark error {fit.error_px.mean():.2f} px"
            )

        with stages("masks"):
            _write_masks(folder, model, fit, config)
        if reader.photos or not config.test_split:
            train, test = np.arange(len(kept)), np.arange(0)
        else:
            train, test = split_frames(len(kept))
        report = {
            "source_frames": reader.n_source,
            "frames_after_fps_cap": len(source_index),
            "frames_kept": len(kept),
            "frames_without_face": [int(source_index[i]) for i in dropped],
            "frames_with_second_face": int(crowded),
            "landmark_error_px": _rounded(fit.error_px),
            "focal_px": round(float(fit.K[0, 0]), 2),
            "tracker": config.tracking,
            "matte": config.matte,
        }
        arrays = _tracking_arrays(fit, detected, source_index[kept], model)
        if photometric is not None:
            report["landmark_fit_error_px"] = _rounded(landmark_fit.error_px)
            report["photometric_residual"] = {
                "landmark_fit": _rounded(photometric.residual_before, 5),
                "photometric": _rounded(photometric.residual, 5),
            }
            # Kept for eval's landmark-tracked protocol (the tracking before the pixels moved it).
            for name in LANDMARK_FIT_ARRAYS:
                arrays[f"landmark_fit_{name}"] = getattr(landmark_fit, name)
        np.savez(folder / "tracking.npz", **arrays, tracker=np.array(config.tracking))
        (folder / "qa").mkdir()
        with stages("coverage"):
            report["coverage"] = _write_coverage(folder, model, fit, config.size)
        for warning in report["coverage"]["warnings"]:
            log(f"warning: {warning}")
        if config.overlay:
            with stages("overlay"):
                _write_overlay(folder, model, fit, detected, reader.fps)
        report["seconds"] = stages.seconds
        report["seconds_total"] = round(sum(stages.seconds.values()), 3)
        report["seconds_per_100_frames"] = round(100 * report["seconds_total"] / len(source_index), 3)
        write_json(folder / "qa" / "report.json", report)
        write_json(
            folder / "meta.json",
            {
                "format_version": FORMAT_VERSION,
                "headsplat_version": headsplat.__version__,
                "source": str(video.resolve()),
                "source_fps": reader.source_fps,
                "fps": reader.fps,
                **_framing(reader, crops, kept, source_index, sizes),
                "size": config.size,
                "n_frames": len(kept),
                "head_model": {"name": model.name, "sha256": model.checksum},
                "split": {"train": train.tolist(), "test": test.tolist()},
                "landmark_error_px": report["landmark_error_px"]["mean"],
                "config": asdict(config),
                **({} if person is None else {"identity_from": person.source}),
            },
        )
    log(f"wrote {subject} ({len(kept)} frames) in {report['seconds_total']:.1f} s")
    return report
