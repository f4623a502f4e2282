"""The ``headsplat`` command: one subcommand per stage.

Exit codes: 0 success, 2 bad input (the message names the file and the fix), 1 anything else.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

from headsplat.head.ict import HeadModelMissingError
from headsplat.io.errors import InputError


def _preprocess(args: argparse.Namespace) -> None:
    from headsplat.preprocess.pipeline import PreprocessConfig, preprocess

    config = PreprocessConfig(
        size=args.size, max_fps=args.max_fps, folder_fps=args.fps, overlay=not args.no_overlay
    )
    preprocess(args.video, args.output, config, overwrite=args.overwrite, model_path=args.model)


def _train(args: argparse.Namespace) -> None:
    from headsplat.training.trainer import PRESETS, train_run

    config = copy.deepcopy(PRESETS[args.preset])
    config.seed = args.seed
    config.strategy.name = args.strategy
    for name in ("size", "steps", "texels_per_cm"):
        if getattr(args, name) is not None:
            setattr(config, name, getattr(args, name))
    config.still_torso = not args.moving_torso
    config.complete_unseen = not args.no_completion
    train_run(
        args.subject, args.output, config, resume=args.resume, overwrite=args.overwrite, steps=args.steps
    )


def _eval(args: argparse.Namespace) -> None:
    from headsplat.evaluation.evaluate import evaluate_run
    from headsplat.evaluation.refine import RefineConfig

    refine = RefineConfig() if args.refine_steps is None else RefineConfig(steps=args.refine_steps)
    metrics = evaluate_run(args.run_folder, video=not args.no_video, refine=refine)
    tracked = metrics["tracked"]
    print(
        f"{metrics['test_frames']} test frames, {metrics['protocol']}: PSNR {metrics['psnr']:.2f} dB  "
        f"SSIM {metrics['ssim']:.4f}  LPIPS {metrics['lpips']:.4f}  (tracked: PSNR {tracked['psnr']:.2f} dB  "
        f"SSIM {tracked['ssim']:.4f}  LPIPS {tracked['lpips']:.4f})  {metrics['gaussians']} Gaussians  "
        f"{metrics['training_minutes']:.1f} min training  {metrics['render_fps']:.1f} frames/s"
    )


def _render(args: argparse.Namespace) -> None:
    from headsplat.apps.orbit import render_orbit
    from headsplat.training.trainer import load_avatar

    if not args.orbit:
        raise InputError("headsplat render: say what to render (--orbit).")
    state, subject, config = load_avatar(args.run_folder, device="cpu")  # see _export
    output = Path(args.output) if args.output else Path(args.run_folder) / "orbit.mp4"
    render_orbit(state, subject, args.size or config.size, output, args.frames, config.background)
    print(f"wrote {output}")


def _export(args: argparse.Namespace) -> None:
    from headsplat.apps.export.ply import export_avatar_ply
    from headsplat.training.trainer import load_avatar

    # On the CPU wherever the run was trained: renders and exports are cheap, and the CPU
    # rasterizer is always installed.
    state, _, _ = load_avatar(args.run_folder, device="cpu")
    n = export_avatar_ply(state, args.ply)
    print(f"wrote {n} Gaussians to {args.ply}")


def _model_import(args: argparse.Namespace) -> None:
    from headsplat.head.ict_import import import_model
    from headsplat.preprocess.landmarks import detect_single_image

    path = import_model(Path(args.path), Path(args.output) if args.output else None, detect_single_image)
    print(f"head model written to {path}")


def _model_download(args: argparse.Namespace) -> None:
    from headsplat.head.ict_import import download_model
    from headsplat.preprocess.landmarks import detect_single_image

    path = download_model(Path(args.output) if args.output else None, detect_single_image)
    print(f"head model written to {path}")


def _model_info(args: argparse.Namespace) -> None:
    from headsplat.head import load_head_model

    model = load_head_model(args.model)
    print(
        f"{model.name}: {model.n_vertices} vertices, {len(model.triangles)} triangles, "
        f"{model.n_identity} identity modes, {model.n_expression} expressions; sha256 {model.checksum}"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="headsplat", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    pre = commands.add_parser(
        "preprocess", help="video or image folder -> subject folder (frames, masks, tracking)"
    )
    pre.add_argument("video", help="a video file ffmpeg can read, or a folder of images")
    pre.add_argument("-o", "--output", required=True, help="the subject folder to write")
    pre.add_argument("--size", type=int, default=512, help="side of the square crops in pixels (default 512)")
    pre.add_argument("--max-fps", type=float, default=25.0, help="frame-rate cap (default 25)")
    pre.add_argument("--fps", type=float, default=25.0, help="frame rate of an image folder (default 25)")
    pre.add_argument("--overwrite", action="store_true", help="replace an existing subject folder")
    pre.add_argument("--no-overlay", action="store_true", help="skip qa/overlay.mp4")
    pre.add_argument("--model", help="head model .npz (default: $HEADSPLAT_ICT_MODEL or the cache)")
    pre.set_defaults(run=_preprocess)

    tr = commands.add_parser("train", help="subject folder -> avatar run folder (checkpoints, resumable)")
    tr.add_argument("subject", help="a subject folder made by `headsplat preprocess`")
    tr.add_argument("-o", "--output", required=True, help="the run folder")
    tr.add_argument(
        "--preset",
        default="cpu",
        choices=("cpu", "gpu"),
        help="cpu: 256 px, 2000 steps, numba rasterizer (default); gpu: 512 px, 30k steps, CUDA + gsplat",
    )
    tr.add_argument(
        "--steps", type=int, help="optimisation steps (default: the preset's; with --resume: the run's)"
    )
    tr.add_argument("--size", type=int, help="training image size (default: the preset's)")
    tr.add_argument("--strategy", default="sampling", choices=("sampling", "threshold", "fixed"))
    tr.add_argument("--texels-per-cm", type=float, help="initial UV sampling density (default: the preset's)")
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument(
        "--moving-torso",
        action="store_true",
        help="the shoulders move with the head (default: the neck bends to one still torso pose)",
    )
    tr.add_argument(
        "--no-completion", action="store_true", help="keep the unseen Gaussians as trained (no completion)"
    )
    tr.add_argument("--resume", action="store_true", help="continue from the run's last checkpoint")
    tr.add_argument("--overwrite", action="store_true", help="restart an existing run from scratch")
    tr.set_defaults(run=_train)

    ev = commands.add_parser("eval", help="held-out metrics (PSNR, SSIM, LPIPS) and a side-by-side video")
    ev.add_argument("run_folder", metavar="RUN", help="a run folder made by `headsplat train`")
    ev.add_argument("--no-video", action="store_true", help="skip eval/side_by_side.mp4")
    ev.add_argument(
        "--refine-steps",
        type=int,
        help="steps per test frame fitting its pose and expression to the image with the avatar "
        "frozen (IMavatar/PointAvatar protocol; default 20; 0: score the tracking as it is)",
    )
    ev.set_defaults(run=_eval)

    ren = commands.add_parser("render", help="videos of a trained avatar (--orbit: 360 degree turntable)")
    ren.add_argument("run_folder", metavar="RUN", help="a run folder made by `headsplat train`")
    ren.add_argument("--orbit", action="store_true", help="turntable at neutral expression")
    ren.add_argument("-o", "--output", help="video path (default RUN/orbit.mp4)")
    ren.add_argument("--frames", type=int, default=60, help="frames per turn (default 60)")
    ren.add_argument("--size", type=int, help="image size (default: the training size)")
    ren.set_defaults(run=_render)

    export = commands.add_parser("export", help="run folder -> standard 3DGS .ply (neutral expression)")
    export.add_argument("run_folder", metavar="RUN", help="a run folder made by `headsplat train`")
    export.add_argument("--ply", required=True, help="the .ply file to write")
    export.set_defaults(run=_export)

    model = commands.add_parser("model", help="get or inspect the ICT-FaceKit head model")
    model_commands = model.add_subparsers(dest="model_command", required=True)
    imp = model_commands.add_parser("import", help="convert a FaceXModel/ OBJ folder (or copy an .npz)")
    imp.add_argument("path", help="ICT-FaceKit's FaceXModel/ folder, or an ict_facekit_light.npz")
    imp.add_argument("-o", "--output", help="where to write the .npz (default: the cache)")
    imp.set_defaults(run=_model_import)
    down = model_commands.add_parser("download", help="download ICT-FaceKit (MIT) and convert it")
    down.add_argument("-o", "--output", help="where to write the .npz (default: the cache)")
    down.set_defaults(run=_model_download)
    info = model_commands.add_parser("info", help="show the model headsplat will use")
    info.add_argument("--model", help="head model .npz")
    info.set_defaults(run=_model_info)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except (InputError, HeadModelMissingError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
