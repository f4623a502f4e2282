"""The ``headsplat`` command: one subcommand per stage.

Exit codes: 0 success, 2 bad input (the message names the file and the fix), 1 anything else.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from headsplat.apps.options import (
    add_fit_options,
    add_run_options,
    add_setting,
    add_tracking_option,
    add_video_input,
    preprocess_config_from_args,
    settings_given,
)
from headsplat.head.ict import HeadModelMissingError
from headsplat.io.errors import InputError

if TYPE_CHECKING:
    from headsplat.io.subject import Subject


def _preprocess(args: argparse.Namespace) -> None:
    from dataclasses import replace

    from headsplat.preprocess.pipeline import preprocess

    config = replace(
        preprocess_config_from_args(args, args.size),
        overlay=not args.no_overlay,
        identity_from=args.identity_from or "",
    )
    preprocess(args.video, args.output, config, overwrite=args.overwrite, model_path=args.model)


def _split(args: argparse.Namespace) -> None:
    from headsplat.io.subject import load_subject
    from headsplat.preprocess.splits import novel_view_split, subject_view_angles, write_split_subject

    source = load_subject(args.subject)
    if args.train_frames is not None:
        _train_frames_split(source, args)
        return
    yaw = subject_view_angles(source)[:, 0]
    gap = {} if args.gap is None else {"gap": args.gap}
    split = novel_view_split(yaw, limit=args.yaw_limit, where=str(source.path), **gap)
    write_split_subject(source, args.output, split.meta(), overwrite=args.overwrite)
    print(
        f"{args.output}: {len(split.train)} training frames within ±{split.limit:.1f} degrees of yaw "
        f"of the median view ({split.median_yaw:+.1f}), {len(split.turned)} turned test frames "
        f"{split.limit + split.gap:.1f} degrees or more from it, {len(split.frontal)} frontal test "
        f"frames (of {len(yaw)})"
    )


def _train_frames_split(source: Subject, args: argparse.Namespace) -> None:
    """``split --train-frames N``: N of the source's training frames, chosen to differ most
    (:func:`~headsplat.strategy.frame_clusters.spread_frames`), its test frames unchanged."""
    from headsplat.preprocess.splits import subject_view_angles, write_split_subject
    from headsplat.strategy.frame_clusters import spread_frames

    train, test = source.split()
    if not 1 <= args.train_frames <= len(train):
        raise InputError(
            f"{source.path}: --train-frames {args.train_frames}, but the subject has {len(train)} "
            f"training frames; ask for 1 to {len(train)}."
        )
    tracking = source.tracking
    chosen = train[
        spread_frames(
            tracking["expression"][train],
            tracking["rotation"][train],
            subject_view_angles(source)[train],
            args.train_frames,
        )
    ]
    split = {
        "train": sorted(chosen.tolist()),
        "test": test.tolist(),
        "train_frames": {"order": chosen.tolist(), "of": len(train)},
    }
    write_split_subject(source, args.output, split, overwrite=args.overwrite)
    print(
        f"{args.output}: {len(chosen)} of {len(train)} training frames ({', '.join(map(str, chosen))}: "
        f"the most face-on and neutral first, then each the farthest from those before in head pose "
        f"and expression), the same {len(test)} test frames"
    )


def _say_preset(args: argparse.Namespace, training_frames: int | None, what: str) -> None:
    """Tell the user when the preset was chosen for them (``what``: the few frames it was chosen for)."""
    from headsplat.apps.options import preset_name

    if args.preset is None and preset_name(args, training_frames) == "fewshot":
        print(f"{what}: the fewshot preset (--preset cpu trains as for a video)", file=sys.stderr)


def _train(args: argparse.Namespace) -> None:
    from headsplat.apps.options import run_config_from_args
    from headsplat.io.subject import load_subject
    from headsplat.training.run import train_run

    training_frames = None if args.resume else len(load_subject(args.subject).split()[0])
    _say_preset(args, training_frames, f"{args.subject}: {training_frames} training frames")
    config, given = run_config_from_args(args, training_frames)
    train_run(
        args.subject,
        args.output,
        config,
        resume=args.resume,
        overwrite=args.overwrite,
        steps=args.steps,
        settings_given=given,
    )


def _fit(args: argparse.Namespace) -> None:
    from headsplat.apps.fit import fit
    from headsplat.apps.options import fit_configs_from_args
    from headsplat.io.video import photo_count

    photos = None if args.resume else photo_count(args.video)
    _say_preset(args, photos, f"{args.video}: {photos} photo(s)")
    config, preprocess, given = fit_configs_from_args(args)
    fit(
        args.video,
        args.output,
        config,
        preprocess_config=preprocess,
        resume=args.resume,
        overwrite=args.overwrite,
        settings_given=given,
        model_path=args.model,
    )


def _batch(args: argparse.Namespace) -> None:
    import shlex

    from headsplat.apps.batch import run_batch, summary_table

    rows = run_batch(
        args.manifest,
        args.output,
        shlex.split(args.options),
        address=args.address,
        cpus_per_task=args.cpus_per_task,
        gpus_per_task=args.gpus_per_task,
        retries=args.retries,
        total_cpus=args.cpus,
    )
    print(summary_table(rows))
    failed = sum(row["status"] == "failed" for row in rows)
    if failed:
        raise InputError(f"{failed} subject(s) failed: see the table.")


def _eval(args: argparse.Namespace) -> None:
    from headsplat.evaluation.evaluate import evaluate_run
    from headsplat.training.refine import RefineConfig

    refine = RefineConfig() if args.refine_steps is None else RefineConfig(steps=args.refine_steps)
    frames = {} if args.eval_frames is None else {"max_frames": args.eval_frames or None}  # 0: all
    metrics = evaluate_run(
        args.run_folder, args.subject, video=not args.no_video, refine=refine, progress=True, **frames
    )
    tracked, landmark = metrics["tracked"], metrics["landmark_tracked"]
    tracker = "photo-tracked" if metrics["tracker"] == "photometric" else "tracked"
    also = "" if landmark is None else f"; landmark-tracked: PSNR {landmark['psnr']:.2f} dB"
    print(
        f"{metrics['test_frames']} test frames, {metrics['protocol']}: PSNR {metrics['psnr']:.2f} dB  "
        f"SSIM {metrics['ssim']:.4f}  LPIPS {metrics['lpips']:.4f}  ({tracker}: "
        f"PSNR {tracked['psnr']:.2f} dB  SSIM {tracked['ssim']:.4f}  LPIPS {tracked['lpips']:.4f}{also})  "
        f"{metrics['gaussians']} Gaussians  "
        f"{metrics['training_minutes']:.1f} min training  {metrics['render_fps']:.1f} frames/s"
    )
    from headsplat.evaluation.regions import REGIONS

    regions = "  ".join(f"{name} {metrics[f'{name}_psnr']:.2f}" for name in REGIONS)
    print(
        f"PSNR by region ({metrics['protocol'].split()[0]}): {regions} dB; training frames "
        f"{metrics['train_psnr']:.2f} dB at the tracked poses, {metrics['train_psnr_aligned']:.2f} dB at the "
        f"aligned ones it trained on; neutral face {metrics['neutral']['psnr']:.2f} dB"
    )
    novel_view = metrics.get("novel_view")
    if novel_view is not None:
        groups = [("turned", novel_view["turned"]), ("frontal", novel_view["frontal"])]
        for name, scores in groups + [(f"yaw {b['yaw']}", b) for b in novel_view["bins"]]:
            print(
                f"novel view, {name} ({scores['frames']} frames): PSNR {scores['psnr']:.2f} dB  "
                f"SSIM {scores['ssim']:.4f}  LPIPS {scores['lpips']:.4f}  "
                f"(tracked: PSNR {scores['tracked']['psnr']:.2f} dB)"
            )


def _render(args: argparse.Namespace) -> None:
    from headsplat.apps.orbit import render_orbit
    from headsplat.avatar.avatar import load_avatar

    if not args.orbit:
        raise InputError("headsplat render: say what to render (--orbit).")
    # On the CPU wherever the run was trained: renders and exports are cheap, and the CPU
    # rasterizer is always installed.
    avatar = load_avatar(args.run_folder)
    source = Path(args.run_folder)
    default = source / "orbit.mp4" if source.is_dir() else source.with_name(f"{source.stem}_orbit.mp4")
    output = Path(args.output) if args.output else default
    render_orbit(avatar, output, args.size, args.frames)
    print(f"wrote {output}")


def _reenact(args: argparse.Namespace) -> None:
    from headsplat.apps.reenact import reenact_run

    video, motion_file, motion = reenact_run(
        args.run_folder,
        driver=args.driver,
        arkit=args.arkit,
        weights=args.weights,
        absolute=args.absolute,
        expression_only=args.no_pose,
        output=args.output,
        size=args.size,
        orbit=args.orbit,
        fps=args.fps,
        capture_fps=args.capture_fps,
        model_path=args.model,
        smoothing=_smoothing(args),
        tracking=args.tracking,
    )
    print(f"wrote {video} ({len(motion)} frames at {motion.fps:g} fps) and {motion_file}")


def _bake(args: argparse.Namespace) -> None:
    from headsplat.apps.bake import bake_run
    from headsplat.baking.bake import BAKE_PRESETS
    from headsplat.io.settings import apply_setting

    config = copy.deepcopy(BAKE_PRESETS[args.preset or "cpu"])
    config.mode = args.mode or config.mode
    if args.regularisation is not None:
        config.regularisation = args.regularisation
    for assignment in args.set:
        apply_setting(config, assignment)
    given = settings_given(args)
    bake_run(
        args.run_folder,
        args.output,
        config,
        resume=args.resume,
        overwrite=args.overwrite,
        settings_given=given,
    )


def _edit(args: argparse.Namespace) -> None:
    from headsplat.apps.bake import Recolour, Sticker, edit_run

    sticker = (
        Sticker.from_options(args.sticker, args.at, args.sticker_size, args.mask) if args.sticker else None
    )
    recolours = [Recolour(args.recolour, args.hue, args.saturation, args.value)] if args.recolour else []
    changed = edit_run(
        args.run_folder,
        args.output,
        maps_folder=args.maps,
        sticker=sticker,
        overwrite=args.overwrite,
        recolours=tuple(recolours),
    )
    summary = ", ".join(f"{name} {count}" for name, count in changed.items())
    print(f"wrote {args.output}; texels changed: {summary}")


def _export(args: argparse.Namespace) -> None:
    from headsplat.apps.export.run import export_run

    kinds = ("ply", "sequence", "ply_dir", "blendshapes", "web", "play", "maps")
    print(export_run(args.run_folder, **{kind: getattr(args, kind) for kind in kinds}))


def _live(args: argparse.Namespace) -> None:
    from headsplat.apps.live.session import LiveOptions, live_run

    if args.calibration_frames < 2:
        raise InputError("headsplat live: --calibration-frames must be at least 2.")
    options = LiveOptions(
        pose=not args.no_pose,
        smoothing=_smoothing(args),
        calibration_frames=args.calibration_frames,
    )
    live_run(
        args.run_folder,
        camera=args.camera,
        video=args.video,
        arkit_udp=args.arkit_udp,
        arkit_csv=args.arkit_csv,
        loop=args.loop,
        port=args.port,
        options=options,
    )


def _view(args: argparse.Namespace) -> None:
    import tempfile
    import time

    from headsplat.apps.export.web import serve, write_web
    from headsplat.apps.reenact import played_motion
    from headsplat.avatar.avatar import load_avatar
    from headsplat.avatar.linear import linearise

    avatar = load_avatar(args.run_folder)
    motion = played_motion(avatar, args.play) if args.play else None
    with tempfile.TemporaryDirectory(prefix="headsplat-view-") as folder:
        write_web(linearise(avatar), Path(folder) / "page", motion)
        try:
            server = serve(Path(folder) / "page", args.port)
        except OSError as error:
            raise InputError(
                f"headsplat view: cannot serve on port {args.port} ({error}); choose another --port."
            ) from error
        print(
            f"headsplat viewer at http://127.0.0.1:{server.server_address[1]}/index.html (Ctrl-C stops it)",
            flush=True,
        )
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
        finally:
            server.shutdown()


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


def _add_smoothing(parser: argparse.ArgumentParser) -> None:
    """``--smooth HZ`` and ``--smooth-beta``: a One Euro filter on a driving signal (off by default)."""
    parser.add_argument(
        "--smooth",
        type=float,
        metavar="HZ",
        help="One Euro filter on the driving signal with this cutoff while still (e.g. 1; default: off)",
    )
    parser.add_argument(
        "--smooth-beta",
        type=float,
        default=0.5,
        help="how fast the filter's cutoff rises with speed (default 0.5)",
    )


def _smoothing(args: argparse.Namespace) -> tuple[float, float] | None:
    """The (cutoff, beta) of ``--smooth`` and ``--smooth-beta``, or None for no filter."""
    return (args.smooth, args.smooth_beta) if args.smooth else None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="headsplat", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    pre = commands.add_parser(
        "preprocess", help="video or image folder -> subject folder (frames, masks, tracking)"
    )
    add_video_input(pre, "the subject folder to write")
    pre.add_argument("--size", type=int, default=512, help="side of the square crops in pixels (default 512)")
    pre.add_argument("--overwrite", action="store_true", help="replace an existing subject folder")
    pre.add_argument("--no-overlay", action="store_true", help="skip qa/overlay.mp4")
    pre.add_argument(
        "--identity-from",
        metavar="SUBJECT",
        help="keep that subject folder's identity and focal length instead of fitting them "
        "(the same head model): a video tracked as the person of a few photos",
    )
    pre.set_defaults(run=_preprocess)

    split = commands.add_parser(
        "split",
        help="subject folder -> one with another train/test split (by head turn, or N training frames)",
    )
    split.add_argument("subject", help="a subject folder made by `headsplat preprocess`")
    split.add_argument("-o", "--output", required=True, help="the split subject folder (links to the frames)")
    kind = split.add_mutually_exclusive_group(required=True)
    kind.add_argument(
        "--novel-view",
        action="store_true",
        help="train on the frames near the clip's median view, test on the turned ones and the "
        "frontal frames of its last fifth",
    )
    kind.add_argument(
        "--train-frames",
        type=int,
        metavar="N",
        help="train on N of the training frames, those that differ most in head pose and expression "
        "(1: the most face-on and neutral); the test frames stay",
    )
    split.add_argument(
        "--yaw-limit",
        type=float,
        metavar="DEG",
        help="the frontal band's half-width (default: the widest that leaves a fifth of the frames turned)",
    )
    split.add_argument(
        "--gap",
        type=float,
        metavar="DEG",
        help="degrees between the band and the turned frames (default 10)",
    )
    split.add_argument("--overwrite", action="store_true", help="replace an existing split subject folder")
    split.set_defaults(run=_split)

    tr = commands.add_parser("train", help="subject folder -> avatar run folder (checkpoints, resumable)")
    tr.add_argument("subject", help="a subject folder made by `headsplat preprocess`")
    tr.add_argument("-o", "--output", required=True, help="the run folder")
    add_run_options(tr)
    tr.set_defaults(run=_train)

    ft = commands.add_parser(
        "fit", help="video -> trained avatar, evaluated, orbit video and .ply, in one run folder"
    )
    add_fit_options(ft)
    ft.set_defaults(run=_fit)

    batch = commands.add_parser(
        "batch", help="fit every video of a manifest (CSV/YAML) as Ray tasks: resumable, one summary"
    )
    batch.add_argument("manifest", help="a .csv or .yaml list of subjects (headsplat/io/manifest.py)")
    batch.add_argument("-o", "--output", required=True, help="the folder of the subjects' run folders")
    batch.add_argument(
        "--options", default="", help="fit options for every subject, quoted: --options '--steps 4000'"
    )
    batch.add_argument("--address", help="join this Ray cluster (default: Ray embedded on this machine)")
    batch.add_argument("--cpus-per-task", type=int, default=2, help="CPUs (threads) per subject (default 2)")
    batch.add_argument("--gpus-per-task", type=float, default=0.0, help="GPUs per subject (default 0)")
    batch.add_argument("--retries", type=int, default=2, help="restarts of a task whose worker died")
    batch.add_argument("--cpus", type=int, help="CPUs the embedded Ray may use (default: all)")
    batch.set_defaults(run=_batch)

    bake = commands.add_parser(
        "bake", help="a trained run -> a run whose Gaussians read UV attribute maps (FATE's baking)"
    )
    bake.add_argument("run_folder", metavar="RUN", help="a finished run folder")
    bake.add_argument("-o", "--output", required=True, help="the baked run folder")
    add_setting(bake, "--preset", choices=("cpu", "gpu"), help="map size and network (default: cpu)")
    add_setting(
        bake,
        "--mode",
        choices=("all", "appearance"),
        help="all attributes (default), or colour and opacity only",
    )
    add_setting(
        bake, "--regularisation", type=float, help="pull of the trained attributes while refining (default 0)"
    )
    add_setting(
        bake,
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="any bake setting (headsplat/baking/bake.py: BakeConfig), e.g. refine_steps=1000",
    )
    bake.add_argument("--resume", action="store_true", help="continue an interrupted bake")
    bake.add_argument("--overwrite", action="store_true", help="replace an existing baked run")
    bake.set_defaults(run=_bake)

    edit = commands.add_parser("edit", help="a baked run + edited maps -> a new run (texture editing)")
    edit.add_argument("run_folder", metavar="BAKED_RUN", help="a run made by `headsplat bake`")
    edit.add_argument("--maps", metavar="DIR", help="a folder from `export --maps`, its PNGs edited")
    edit.add_argument("--sticker", metavar="IMAGE", help="an image to paste onto the colour map")
    edit.add_argument("--mask", metavar="MASK", help="the sticker's opacity (grey; default: its alpha)")
    edit.add_argument(
        "--at", metavar="X,Y", help="the sticker's centre, in pixels of the export's preview.png"
    )
    edit.add_argument(
        "--sticker-size",
        type=float,
        default=64.0,
        metavar="S",
        help="its width in preview pixels (default 64)",
    )
    edit.add_argument(
        "--recolour",
        choices=("hair", "skin", "lips", "eyes", "teeth"),
        help="shift this surface region's colours (where: the export's regions.png)",
    )
    edit.add_argument("--hue", type=float, default=0.0, help="with --recolour: degrees added to the hue")
    edit.add_argument("--saturation", type=float, default=1.0, help="with --recolour: saturation factor")
    edit.add_argument("--value", type=float, default=1.0, help="with --recolour: brightness factor")
    edit.add_argument("-o", "--output", required=True, help="the edited run folder")
    edit.add_argument("--overwrite", action="store_true", help="replace an existing edited run")
    edit.set_defaults(run=_edit)

    ev = commands.add_parser("eval", help="held-out metrics (PSNR, SSIM, LPIPS) and a side-by-side video")
    ev.add_argument("run_folder", metavar="RUN", help="a run folder made by `headsplat train` or `fit`")
    ev.add_argument("--subject", help="the subject folder, where it is now (default: where it was trained)")
    ev.add_argument("--no-video", action="store_true", help="skip eval/side_by_side.mp4")
    ev.add_argument(
        "--eval-frames",
        type=int,
        metavar="N",
        help="score N of the test frames, evenly spaced (default 200: all on clips of up to 1,000 "
        "frames; 0: all; refinement costs seconds a frame)",
    )
    ev.add_argument(
        "--refine-steps",
        type=int,
        help="steps per test frame fitting its pose and expression to the image with the avatar "
        "frozen (IMavatar/PointAvatar protocol; default 20; 0: score the tracking as it is)",
    )
    ev.set_defaults(run=_eval)

    ren = commands.add_parser("render", help="videos of a trained avatar (--orbit: 360 degree turntable)")
    ren.add_argument("run_folder", metavar="RUN", help="a run folder, or an avatar .safetensors file")
    ren.add_argument("--orbit", action="store_true", help="turntable at neutral expression")
    ren.add_argument(
        "-o", "--output", help="video path (default RUN/orbit.mp4, or NAME_orbit.mp4 beside a file)"
    )
    ren.add_argument("--frames", type=int, default=60, help="frames per turn (default 60)")
    ren.add_argument("--size", type=int, help="image size (default: the training size)")
    ren.set_defaults(run=_render)

    ree = commands.add_parser(
        "reenact", help="drive a trained avatar with another video, an ARKit capture or a weight file"
    )
    ree.add_argument("run_folder", metavar="RUN", help="a run folder, or an avatar .safetensors file")
    ree.add_argument(
        "driver",
        nargs="?",
        metavar="DRIVER",
        help="a video or image folder (tracked once, cached), a subject folder, or a .motion.npz to replay",
    )
    ree.add_argument("--arkit", metavar="CSV", help="a Live Link Face CSV (ARKit blendshapes, head and eyes)")
    ree.add_argument("--weights", metavar="FILE", help="named blendshape weights per frame (CSV or JSON)")
    ree.add_argument("-o", "--output", help="video path (default RUN/reenact_DRIVER.mp4)")
    ree.add_argument("--no-pose", action="store_true", help="expressions only: the head stays at rest")
    ree.add_argument(
        "--absolute",
        action="store_true",
        help="the driver's tracked pose and expression as they are (the same person and camera); "
        "ARKit and weight files: the weights as they are, not added to the avatar's rest",
    )
    ree.add_argument("--orbit", action="store_true", help="the camera circles the avatar once")
    _add_smoothing(ree)
    ree.add_argument("--size", type=int, help="image size (default: the training size)")
    ree.add_argument(
        "--fps", type=float, default=25.0, help="frame rate of --arkit / --weights output (default 25)"
    )
    ree.add_argument(
        "--capture-fps", type=float, help="an --arkit capture's frame rate (default: from its timecodes)"
    )
    ree.add_argument("--model", help="head model .npz to track a video driver with (default: as preprocess)")
    add_tracking_option(ree, "a video driver")
    ree.set_defaults(run=_reenact)

    export = commands.add_parser("export", help="a trained avatar -> a standard format (one kind per call)")
    export.add_argument("run_folder", metavar="RUN", help="a run folder, or an avatar .safetensors file")
    kinds = export.add_mutually_exclusive_group(required=True)
    kinds.add_argument("--ply", metavar="FILE", help="standard 3DGS .ply at neutral expression")
    kinds.add_argument(
        "--blendshapes", metavar="DIR", help="for engines: the mesh's blendshapes + the Gaussians bound to it"
    )
    kinds.add_argument(
        "--web", metavar="DIR", help="a static page that shows and plays the avatar (any file server)"
    )
    kinds.add_argument(
        "--sequence",
        metavar="CONDITIONS",
        help="one .ply per frame (with --ply-dir) of a driving sequence: a .motion.npz from reenact, "
        "a CSV (Live Link Face or weights), or any reenact DRIVER",
    )
    kinds.add_argument(
        "--maps", metavar="DIR", help="a baked run's attribute maps: PNGs to edit, and their float copy"
    )
    export.add_argument("--ply-dir", metavar="DIR", help="where --sequence writes its frames")
    export.add_argument(
        "--play", metavar="CONDITIONS", help="with --web: the sequence the page plays (as --sequence)"
    )
    export.set_defaults(run=_export)

    view = commands.add_parser("view", help="show the avatar in the browser viewer (served on 127.0.0.1)")
    view.add_argument("run_folder", metavar="RUN", help="a run folder, or an avatar .safetensors file")
    view.add_argument("--play", metavar="CONDITIONS", help="a sequence to play (as export --sequence)")
    view.add_argument("--port", type=int, default=0, help="the port (default: a free one)")
    view.set_defaults(run=_view)

    live = commands.add_parser(
        "live", help="a webcam, a video or an iPhone's ARKit stream drives the avatar in the browser, live"
    )
    live.add_argument("run_folder", metavar="RUN", help="a run folder, or an avatar .safetensors file")
    sources = live.add_mutually_exclusive_group(required=True)
    sources.add_argument("--camera", type=int, metavar="N", help="a camera (0: the first)")
    sources.add_argument("--video", metavar="FILE", help="a video, played at its own frame rate as a camera")
    sources.add_argument(
        "--arkit-udp",
        type=int,
        metavar="PORT",
        help="Live Link Face's stream (the iPhone app), on this UDP port",
    )
    sources.add_argument("--arkit-csv", metavar="FILE", help="a Live Link Face CSV, replayed in real time")
    live.add_argument("--loop", action="store_true", help="--video / --arkit-csv: start again at the end")
    live.add_argument(
        "--port", type=int, default=8765, help="the page's port on 127.0.0.1 (default 8765; 0: a free one)"
    )
    live.add_argument(
        "--no-pose", action="store_true", help="the head stays at rest; expressions and gaze move"
    )
    _add_smoothing(live)
    live.add_argument(
        "--calibration-frames",
        type=int,
        default=30,
        metavar="N",
        help="camera and video: the frames with a face that calibrate the tracker (default 30; hold still)",
    )
    live.set_defaults(run=_live)

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
