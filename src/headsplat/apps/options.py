"""The options that make a run, declared once: ``headsplat train`` and ``fit`` add them to their
parsers, ``headsplat batch`` parses each subject's options with the same declaration, and the
ones that count as settings (a continued run keeps its own, so ``--resume`` refuses them) are
recorded as they are declared (:func:`add_setting`), never listed by hand."""

from __future__ import annotations

import argparse
import copy

from headsplat.preprocess.matting import MATTES
from headsplat.track import DEFAULT_TRACKER, TRACKERS


def add_setting(parser: argparse.ArgumentParser, *flags: str, **kwargs) -> None:
    """``parser.add_argument(*flags, **kwargs)`` for an option that sets the run config: its
    value, when given, is a setting (:func:`settings_given`)."""
    dest = parser.add_argument(*flags, **kwargs).dest
    parser.set_defaults(setting_options=(*(parser.get_default("setting_options") or ()), dest))


def settings_given(args: argparse.Namespace) -> bool:
    """Whether any option declared by :func:`add_setting` was given."""
    return any(getattr(args, dest) not in (None, False, []) for dest in args.setting_options)


def add_tracking_option(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--tracking",
        choices=TRACKERS,
        default=DEFAULT_TRACKER,
        help=f"how {what} is tracked: photometric (default): the landmark fit, then each frame's "
        "pose and expression fitted to its pixels (about 80 s per 100 frames on 2 cores); or "
        "landmarks: the landmark fit alone",
    )


def add_video_input(parser: argparse.ArgumentParser, output_help: str) -> None:
    """The input options of ``preprocess`` and ``fit``."""
    parser.add_argument(
        "video",
        help="a video file ffmpeg can read, a folder of images (20 or fewer: photos, each its own view "
        "and crop; more: a clip's frames), or one photo",
    )
    parser.add_argument("-o", "--output", required=True, help=output_help)
    parser.add_argument("--max-fps", type=float, default=25.0, help="frame-rate cap (default 25)")
    parser.add_argument("--fps", type=float, default=25.0, help="frame rate of an image folder (default 25)")
    parser.add_argument("--model", help="head model .npz (default: $HEADSPLAT_ICT_MODEL or the cache)")
    add_tracking_option(parser, "the video")
    parser.add_argument(
        "--matte",
        choices=MATTES,
        default="segmenter",
        help="the person masks: segmenter (default): the person segmenter's as they are; soft: "
        "their edge matted from the frame's colours and steadied over frames where the head holds "
        "still (about 0.1 s a frame)",
    )
    parser.add_argument(
        "--no-test-split",
        action="store_true",
        help="train on every frame (default: the last fifth is held out for eval; photos never are)",
    )


def preprocess_config_from_args(args: argparse.Namespace, size: int):
    """The preprocessing config the input options (:func:`add_video_input`) ask for, crops of
    ``size`` pixels."""
    from headsplat.preprocess.pipeline import PreprocessConfig

    return PreprocessConfig(
        size=size,
        max_fps=args.max_fps,
        folder_fps=args.fps,
        tracking=args.tracking,
        matte=args.matte,
        test_split=not args.no_test_split,
    )


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """The run-config options of ``train`` and ``fit``; choices come from the registries."""
    from headsplat.avatar.deformers import GAUSSIAN_DEFORMERS, MESH_DEFORMERS
    from headsplat.strategy import STRATEGIES
    from headsplat.training.config import PRESETS

    addable = sorted({**MESH_DEFORMERS, **GAUSSIAN_DEFORMERS})
    add_setting(
        parser,
        "--preset",
        choices=sorted(PRESETS),
        help="cpu: 256 px, 2000 steps, numba rasterizer (default); gpu: 512 px, 30k steps, CUDA + gsplat; "
        "fewshot: cpu for a few frames (the default at 10 training frames or fewer)",
    )
    parser.add_argument(
        "--steps", type=int, help="optimisation steps (default: the preset's; with --resume: extends the run)"
    )
    add_setting(parser, "--size", type=int, help="training image size (default: the preset's)")
    add_setting(parser, "--strategy", choices=sorted(STRATEGIES), help="densification (default: sampling)")
    add_setting(
        parser, "--texels-per-cm", type=float, help="initial UV sampling density (default: the preset's)"
    )
    add_setting(parser, "--seed", type=int, help="random seed (default 0)")
    add_setting(
        parser,
        "--moving-torso",
        action="store_true",
        help="the shoulders move with the head (default: the neck bends to one still torso pose)",
    )
    add_setting(
        parser,
        "--no-completion",
        action="store_true",
        help="keep the unseen Gaussians as trained (no completion)",
    )
    add_setting(
        parser,
        "--deformer",
        action="append",
        default=[],
        choices=addable,
        metavar="NAME",
        help="add a registered mesh or Gaussian deformer (repeatable): " + ", ".join(addable),
    )
    add_setting(
        parser,
        "--set",
        action="append",
        default=[],
        metavar="SECTION.FIELD=VALUE",
        help="any setting of the run config (headsplat/training/config.py), e.g. loss.ssim_weight=0.3, "
        "avatar.gaussians.lr_sh0=5e-3, strategy.sampling.add=2000 (repeatable)",
    )
    parser.add_argument("--resume", action="store_true", help="continue the run (from its last checkpoint)")
    parser.add_argument("--overwrite", action="store_true", help="restart an existing run from scratch")


def add_fit_options(parser: argparse.ArgumentParser) -> None:
    """Everything ``headsplat fit`` takes."""
    add_video_input(parser, "the run folder (the subject folder goes inside)")
    parser.add_argument(
        "--crop-size", type=int, default=512, help="side of the preprocessed crops (default 512)"
    )
    add_run_options(parser)


def fit_parser() -> argparse.ArgumentParser:
    """A parser of ``headsplat fit``'s options alone (``batch`` reads each subject's with it)."""
    parser = argparse.ArgumentParser(prog="headsplat fit")
    add_fit_options(parser)
    return parser


def preset_name(args: argparse.Namespace, training_frames: int | None = None) -> str:
    """The preset ``--preset`` names; else ``fewshot`` for a subject of ``training_frames`` at
    most :data:`~headsplat.training.config.FEWSHOT_FRAMES`, ``cpu`` for any other (or unknown)."""
    from headsplat.training.config import FEWSHOT_FRAMES

    if args.preset is not None:
        return args.preset
    return "fewshot" if training_frames is not None and training_frames <= FEWSHOT_FRAMES else "cpu"


def run_config_from_args(args: argparse.Namespace, training_frames: int | None = None):
    """The run config the options of ``train`` / ``fit`` ask for (the preset as
    :func:`preset_name` chooses it for a subject of ``training_frames``), and whether any setting
    was given (a continued run keeps its own)."""
    from headsplat.avatar.deformers import GAUSSIAN_DEFORMERS, MESH_DEFORMERS
    from headsplat.io.settings import apply_setting, choose_mechanisms
    from headsplat.training.config import PRESETS

    config = copy.deepcopy(PRESETS[preset_name(args, training_frames)])
    for name, value in (("size", args.size), ("seed", args.seed)):
        if value is not None:
            setattr(config, name, value)
    if args.texels_per_cm is not None:
        config.avatar.gaussians.texels_per_cm = args.texels_per_cm
    if args.strategy is not None:
        choose_mechanisms(config, "strategy", [args.strategy])
    if args.moving_torso:
        config.avatar.mesh_deformers.pop("still_torso", None)
    if args.no_completion:
        choose_mechanisms(config, "completion", [])
    for name in args.deformer:
        # Model-space mesh deformers run in the order named, after the default ones.
        if name in MESH_DEFORMERS:
            config.avatar.mesh_deformers[name] = MESH_DEFORMERS[name].Config()
        else:
            config.avatar.gaussian_deformers[name] = GAUSSIAN_DEFORMERS[name].Config()
    for assignment in args.set:
        apply_setting(config, assignment)
    return config.validate(), settings_given(args)


def fit_configs_from_args(args: argparse.Namespace):
    """The run config, the preprocessing config and whether any setting was given, as the options
    of ``fit`` ask (``headsplat batch`` passes each subject's options the same way); a few photos
    train with the preset :func:`preset_name` chooses for them."""
    from headsplat.io.video import photo_count

    config, given = run_config_from_args(args, photo_count(args.video))
    if args.steps is not None:
        config.steps = args.steps
    return config, preprocess_config_from_args(args, args.crop_size), given
