"""``headsplat eval``: held-out metrics of a trained run, as the field reports them.

Renders the subject's test frames (the last 20 %, self-reenactment, never trained on) from their
tracked conditions, then again after refining those (:mod:`headsplat.training.refine`), and
writes ``RUN/eval/metrics.json`` (PSNR, SSIM, LPIPS-AlexNet means, the same inside the mouth, eye
and outline regions (:mod:`headsplat.evaluation.regions`), the error budget of both protocols and
of a tenth of the training frames refined the same way (:mod:`headsplat.evaluation.error_budget`),
the neutral-face score, the Gaussian count, training minutes, render frames per second) and
``RUN/eval/side_by_side.mp4`` (ground truth | render | error x4) and ``RUN/eval/neutral.png`` (the
frame nearest rest | the render at expression zero). On a novel-view split
(:mod:`headsplat.preprocess.splits`) the metrics also hold ``novel_view``: the turned and the
frontal test frames scored apart, and the turned ones per bin of yaw
(:mod:`headsplat.evaluation.novel_view`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from headsplat.avatar.avatar import Avatar, load_avatar
from headsplat.avatar.condition import Condition
from headsplat.evaluation.error_budget import ErrorBudget, budget_parts
from headsplat.evaluation.novel_view import novel_view_scores
from headsplat.evaluation.regions import region_masks, region_scores
from headsplat.io.atomic import atomic_file, atomic_write
from headsplat.io.checkpoint import read_part
from headsplat.io.errors import InputError
from headsplat.io.progress import ProgressBar
from headsplat.io.run import RunFolder
from headsplat.io.subject import Subject, load_subject, write_json
from headsplat.io.video import Mp4Writer, to_uint8, write_png
from headsplat.metrics import LPIPS, psnr, ssim
from headsplat.training.completion import spread_evenly
from headsplat.training.config import run_config_from_dict
from headsplat.training.data import FrameData, OnDemand, load_frame_data
from headsplat.training.frames import corrected_condition
from headsplat.training.refine import DEFAULT_REFINE, RefineConfig, fit_corrections

DEFAULT_EVAL_FRAMES = 200
"""Test frames ``eval`` scores by default, evenly spaced: every one of a clip of up to 1,000 frames
(the test split is its last 20 %), and on a longer clip a bounded time (refinement costs seconds a
frame on a CPU)."""


def evaluation_device(device: str) -> str:
    """The run's training ``device`` when it is available here, else the CPU (a run trained on a
    GPU evaluates on a laptop)."""
    return device if torch.device(device).type == "cpu" or torch.cuda.is_available() else "cpu"


def subject_of(run: RunFolder, avatar: Avatar, subject: str | Path | None) -> Subject:
    """The subject folder to evaluate ``run`` against: ``subject``, or the one it was trained on.

    Raises:
        InputError: the folder is gone (``--subject`` names where it is now), or it is neither
            the subject the avatar was trained on nor one tracked as its person
            (``preprocess --identity-from``: a video of the person of a few photos).
    """
    path = Path(subject) if subject is not None else run.subject_path()
    if not path.is_dir():
        raise InputError(
            f"{run.path}: its subject folder {path} is gone, and evaluation needs its frames. "
            "Pass --subject DIR to name where the subject folder is now."
        )
    found = load_subject(path)
    if len(found.split()[1]) == 0:
        raise InputError(
            f"{path} has no held-out frames (photos, or preprocessed with --no-test-split): there is "
            "nothing to evaluate the avatar on. Preprocess a video of the person as that person "
            f"(headsplat preprocess VIDEO -o DIR --identity-from {path}) and pass it with --subject, "
            "or look at the orbit and the training frames."
        )
    expected = avatar.info["training"].get("subject")
    tracked_as = found.meta.get("identity_from", {}).get("fingerprint")
    if expected and expected not in (found.fingerprint, tracked_as):
        raise InputError(
            f"{path} is not the subject {run.path} was trained on (its tracking.npz differs), nor "
            "tracked as its person (preprocess --identity-from); pass the subject folder it was "
            "trained on with --subject."
        )
    return found


def evaluate_run(
    run: str | Path,
    subject: str | Path | None = None,
    *,
    video: bool = True,
    refine: RefineConfig | None = DEFAULT_REFINE,
    progress: bool = False,
    max_frames: int | None = DEFAULT_EVAL_FRAMES,
) -> dict:
    """Evaluate a run's avatar on its subject's test frames; returns the metrics.

    ``max_frames`` (None: all) scores at most that many test frames, evenly spaced over the test
    part, and as many of the tenth of the training frames the training-frame metrics use: on a long
    clip refinement costs seconds per frame on a CPU.

    With ``refine`` (the default), the test frames' pose and expression are first fitted to their
    images with the avatar frozen (IMavatar and PointAvatar's protocol): ``psnr``, ``ssim``,
    ``lpips`` and the video are then the refined ones, and ``tracked`` holds the scores of the
    renders from the tracking as it is (FATE and GaussianAvatars' protocol). ``progress`` shows
    the refinement's progress on stderr.
    """
    folder = RunFolder(run)
    config = folder.read_config()["config"]
    avatar = load_avatar(folder.path, evaluation_device(config["device"]))
    found = subject_of(folder, avatar, subject)
    background = avatar.info["background"]
    data = load_frame_data(found, avatar.size).with_torso(avatar.rest_pose()).to(avatar.device)
    train_frames, test_frames = found.split()
    test_frames = evenly_spaced(test_frames, max_frames)
    scored_train_frames = evenly_spaced(train_frames[::10], max_frames)
    camera = data.camera()
    lpips = LPIPS("alex").to(avatar.device)
    targets = data.targets(test_frames, background)
    conditions = [data.condition(int(f)) for f in test_frames]
    landmarks = found.landmarks(avatar.size)
    masks = frame_masks(data, landmarks, test_frames)
    out = folder.path / "eval"
    out.mkdir(exist_ok=True)
    refined = refine is not None and refine.steps > 0
    with ExitStack() as stack:
        # The video shows the last protocol's renders, written as they are made.
        writer = None
        if video:
            partial = stack.enter_context(atomic_file(out / "side_by_side.mp4"))
            writer = stack.enter_context(Mp4Writer(partial, avatar.info["fps"]))
        panels = None if writer is None else lambda target, image: writer.add(side_by_side(target, image))
        scores, render_seconds, budgets = _score(
            avatar, conditions, targets, masks, background, lpips, None if refined else panels
        )
        tracked = {**_means(scores), "error_budget": ErrorBudget.pooled(budgets).summary()}
        tracked_scores, tracked_budgets = scores, budgets
        landmark_data = data.landmark_tracked()
        landmark_tracked = None
        if landmark_data is not None:  # a photometrically tracked subject: its landmark fit too
            landmark_conditions = [landmark_data.condition(int(f)) for f in test_frames]
            landmark_scores, _, landmark_budgets = _score(
                avatar, landmark_conditions, targets, masks, background, lpips
            )
            landmark_tracked = {
                **_means(landmark_scores),
                "error_budget": ErrorBudget.pooled(landmark_budgets).summary(),
            }
        refine_seconds = 0.0
        if refined:
            start = time.perf_counter()
            bar = ProgressBar(len(conditions), log_every=10) if progress else None
            shown = None if bar is None else lambda n: bar.update(n, {"refining": "test frames"})
            fitted = fit_corrections(
                avatar, conditions, camera, targets, background=background, config=refine, on_frame=shown
            )
            conditions = fitted.apply(conditions)
            refine_seconds = time.perf_counter() - start
            scores, _, budgets = _score(avatar, conditions, targets, masks, background, lpips, panels)
    # The same metric on a tenth of the training frames: the gap to the test frames is the
    # generalisation a reader needs to judge the test numbers.
    train_psnr = mean_psnr(avatar, data, scored_train_frames, background=background)
    train_refined = (
        refined_training_frames(
            avatar,
            data,
            scored_train_frames,
            landmarks=landmarks,
            background=background,
            refine=refine,
            lpips=lpips,
        )
        if refined
        else None
    )
    corrections = training_corrections(folder)
    train_psnr_aligned = (
        train_psnr
        if corrections is None
        else mean_psnr(avatar, data, scored_train_frames, background=background, corrections=corrections)
    )
    neutral, neutral_panel = neutral_score(
        avatar,
        data,
        train_frames=train_frames,
        test_frames=test_frames,
        landmarks=landmarks,
        background=background,
        lpips=lpips,
    )
    training = avatar.info["training"]
    geometry = training.get("geometry", {})  # the geometry stage's report; its time counts as training
    metrics = {
        "test_frames": len(test_frames),
        **_means(scores),
        "protocol": f"refined ({refine.steps} steps per frame)" if refined else "tracked",
        "tracked": tracked,
        "tracker": str(found.tracking.get("tracker", "landmarks")),
        "landmark_tracked": landmark_tracked,
        "refine_minutes": refine_seconds / 60,
        "train_psnr": train_psnr,
        "train_psnr_aligned": train_psnr_aligned,
        "train_refined": train_refined,
        "error_budget": ErrorBudget.pooled(budgets).summary(),
        "neutral": neutral,
        "gaussians": len(avatar.gaussians),
        "steps": training.get("steps"),
        "training_minutes": (training.get("seconds", 0.0) + geometry.get("seconds", 0.0)) / 60,
        "geometry": geometry,
        "render_fps": len(test_frames) / render_seconds,
        "size": avatar.size,
        "strategy": next(iter(run_config_from_dict(config).strategy)),
        "per_frame": {name: [round(v, 5) for v in values] for name, values in scores.items()},
    }
    metrics["per_frame"]["frame"] = [int(f) for f in test_frames]
    novel_view = found.meta["split"].get("novel_view")
    if novel_view is not None:
        metrics["novel_view"] = novel_view_scores(
            novel_view, test_frames, (scores, budgets), (tracked_scores, tracked_budgets)
        )
    atomic_write(out / "neutral.png", lambda p: write_png(p, neutral_panel))
    atomic_write(out / "metrics.json", lambda p: write_json(p, metrics))
    return metrics


def side_by_side(target: Tensor, image: Tensor) -> np.ndarray:
    """(S, 3S, 3) uint8 panel: ground truth | render | error x 4, from (S, S, 3) images in [0, 1]."""
    error = ((image - target).abs() * 4).clamp(0, 1)
    return np.concatenate([to_uint8(target), to_uint8(image), to_uint8(error)], axis=1)


def evenly_spaced(frames: np.ndarray, count: int | None) -> np.ndarray:
    """At most ``count`` of ``frames`` (F,), evenly spaced from the first to the last (all: None)."""
    if count is None or count >= len(frames):
        return frames
    return spread_evenly(frames, max(count, 1))


def _means(scores: dict[str, list[float]]) -> dict[str, float]:
    """Each metric's mean over the frames where it is defined (a region can be missing: NaN when
    it is missing from every frame, e.g. a mouth that never opens)."""
    means = {}
    for name, values in scores.items():
        defined = np.asarray(values, float)[~np.isnan(values)]
        means[name] = float(defined.mean()) if len(defined) else float("nan")
    return means


@torch.no_grad()
def _score(
    avatar: Avatar,
    conditions: Sequence[Condition],
    targets: Sequence[Tensor],
    masks: Sequence[tuple[dict[str, np.ndarray], dict[str, np.ndarray]]],
    background: float,
    lpips: LPIPS,
    on_render: Callable[[Tensor, Tensor], None] | None = None,
) -> tuple[dict[str, list[float]], float, list[ErrorBudget]]:
    """Per-frame PSNR, SSIM and LPIPS of the renders of ``conditions`` against ``targets``, over the
    frame and inside each of its regions; the seconds the renders took; each frame's error budget
    over its parts (``masks``: each frame's regions and parts, :func:`frame_masks`).
    ``on_render(target, image)`` sees each render (the video) and nothing keeps it."""
    scores: dict[str, list[float]] = {}
    seconds = 0.0
    budgets = []
    for condition, target, (regions, parts) in zip(conditions, targets, masks, strict=True):
        start = time.perf_counter()
        image = avatar.render(condition, background=background).image
        seconds += time.perf_counter() - start
        frame = {
            "psnr": float(psnr(image, target)),
            "ssim": float(ssim(image, target)),
            "lpips": float(lpips(image, target)),
            **region_scores(image, target, regions, lpips),
        }
        for name, value in frame.items():
            scores.setdefault(name, []).append(value)
        budgets.append(ErrorBudget())
        budgets[-1].add(_squared_error(image, target), parts)
        if on_render is not None:
            on_render(target, image)
    return scores, seconds, budgets


def _squared_error(image: Tensor, target: Tensor) -> np.ndarray:
    """(S, S) squared error of (S, S, 3) images, averaged over the channels."""
    return ((image - target) ** 2).mean(dim=-1).cpu().numpy()


def refined_training_frames(
    avatar: Avatar,
    data: FrameData,
    frames: Sequence[int],
    *,
    landmarks: np.ndarray,
    background: float,
    refine: RefineConfig,
    lpips: LPIPS,
) -> dict:
    """The refined protocol's scores and error budget on training ``frames``.

    Refined the same way as the test frames, the frames the avatar was trained on show what it
    renders once tracking error is fitted away; the test frames' shortfall against them, part by
    part, is what the avatar fails to generalise (unseen expressions, hair that moved).
    """
    conditions = [data.condition(int(f)) for f in frames]
    targets = data.targets(frames, background)
    fitted = fit_corrections(avatar, conditions, data.camera(), targets, background=background, config=refine)
    masks = frame_masks(data, landmarks, frames)
    scores, _, budgets = _score(avatar, fitted.apply(conditions), targets, masks, background, lpips)
    return {**_means(scores), "error_budget": ErrorBudget.pooled(budgets).summary()}


def frame_masks(
    data: FrameData, landmarks: np.ndarray, frames: Sequence[int]
) -> Sequence[tuple[dict[str, np.ndarray], dict[str, np.ndarray]]]:
    """Each of ``frames``' region masks (:func:`region_masks`) and error-budget parts
    (:func:`budget_parts`), from its detected ``landmarks`` (F, 478, 2) and its mask; made when
    read (:class:`OnDemand`)."""

    def masks(i: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        f = int(frames[i])
        alpha = data.alpha(f)[..., 0].cpu().numpy()
        regions = region_masks(landmarks[f], alpha)
        return regions, budget_parts(landmarks[f], alpha, regions)

    return OnDemand(masks, len(frames))


NEUTRAL_TEST_FRAMES = 8
"""The held-out frames the rest face is scored on: the test frames whose tracked expressions are
smallest."""


@torch.no_grad()
def neutral_score(
    avatar: Avatar,
    data: FrameData,
    *,
    train_frames: Sequence[int],
    test_frames: Sequence[int],
    landmarks: np.ndarray,
    background: float,
    lpips: LPIPS,
) -> tuple[dict, np.ndarray]:
    """Does the avatar at rest look like the person at rest?

    Scores the render at expression zero, at the pose and gaze of the training frame whose tracked
    expression is smallest, against that frame (whole image, mouth and eyes); and the avatar's rest
    expression (``rest_psnr``, :func:`~headsplat.avatar.avatar.most_neutral_expression`) rendered
    at the poses of the :data:`NEUTRAL_TEST_FRAMES` held-out frames with the smallest expressions,
    against them (mean PSNR). Returns the scores (with the frame's index and its expression norm)
    and the panel: that frame | render at zero | the avatar's rest at its pose, uint8.
    """
    norms = data.expression[torch.as_tensor(np.asarray(train_frames))].norm(dim=1)
    frame = int(train_frames[int(norms.argmin())])
    tracked = data.condition(frame)
    condition = replace(tracked, expression=torch.zeros_like(tracked.expression))
    target = data.target(frame, background)
    image = avatar.render(condition, background=background).image
    masks = region_masks(landmarks[frame], data.alpha(frame)[..., 0].cpu().numpy())
    masks.pop("outline")
    at_rest = avatar.render(replace(tracked, expression=avatar.neutral_expression), background=background)
    neutral_tests = most_neutral_frames(data, test_frames)
    rest = rest_psnrs(
        avatar, data, neutral_tests, expression=avatar.neutral_expression, background=background
    )
    scores = {
        "frame": frame,
        "expression_norm": float(norms.min()),
        "psnr": float(psnr(image, target)),
        **region_scores(image, target, masks, lpips),
        "rest_psnr": float(np.mean(rest)),
        "rest_frames": neutral_tests,
    }
    panel = np.concatenate([to_uint8(target), to_uint8(image), to_uint8(at_rest.image)], axis=1)
    return scores, panel


def most_neutral_frames(
    data: FrameData, frames: Sequence[int], count: int = NEUTRAL_TEST_FRAMES
) -> list[int]:
    """The ``count`` of ``frames`` whose tracked expressions are smallest (L2), smallest first."""
    norms = data.expression[torch.as_tensor(np.asarray(frames))].norm(dim=1)
    return [int(f) for f in np.asarray(frames)[norms.argsort()[:count].cpu().numpy()]]


@torch.no_grad()
def rest_psnrs(
    avatar: Avatar, data: FrameData, frames: Sequence[int], *, expression: Tensor, background: float
) -> list[float]:
    """PSNR against each of ``frames`` of the avatar at its pose and gaze with ``expression`` (E,)."""
    scores = []
    for f in frames:
        image = avatar.render(replace(data.condition(f), expression=expression), background=background).image
        scores.append(float(psnr(image, data.target(f, background))))
    return scores


def training_corrections(run: RunFolder) -> dict[str, Tensor] | None:
    """The training frames' pose and expression corrections the run trained with (the alignment's
    and any learned ones: ``rotation``, ``translation``, ``expression``, (F, ...) each, and the
    frames' ``code`` where it trained one), from its latest checkpoint; None without one or when
    they are all zero (it trained on the tracking)."""
    latest = run.latest_checkpoint()
    corrections = {} if latest is None else read_part(latest, "frames")
    return corrections if any(bool(v.any()) for v in corrections.values()) else None


@torch.no_grad()
def mean_psnr(
    avatar: Avatar,
    data: FrameData,
    frames: Sequence[int],
    *,
    background: float,
    corrections: dict[str, Tensor] | None = None,
) -> float:
    """Mean PSNR of the avatar's renders of ``frames`` against their targets, at the tracked
    conditions or with the training ``corrections`` (:func:`training_corrections`)."""
    camera = data.camera()
    c = None if corrections is None else {k: v.to(avatar.device) for k, v in corrections.items()}
    values = []
    for f in map(int, frames):
        condition = data.condition(f)
        if c is not None:
            condition = corrected_condition(condition, c, f)
        image = avatar.render(condition, camera, background).image
        values.append(float(psnr(image, data.target(f, background))))
    return float(np.mean(values))
