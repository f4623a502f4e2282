"""The ``headsplat`` command: one subcommand per stage.

Exit codes: 0 success, 2 bad input (the message names the file and the fix), 1 anything else.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from headsplat.errors import InputError
from headsplat.head.ict import HeadModelMissingError


def _preprocess(args: argparse.Namespace) -> None:
    from headsplat.preprocess.pipeline import PreprocessConfig, preprocess

    config = PreprocessConfig(
        size=args.size, max_fps=args.max_fps, folder_fps=args.fps, overlay=not args.no_overlay
    )
    preprocess(args.video, args.output, config, overwrite=args.overwrite, model_path=args.model)


def _model_import(args: argparse.Namespace) -> None:
    from headsplat.head.ict_import import import_model

    path = import_model(Path(args.path), Path(args.output) if args.output else None)
    print(f"head model written to {path}")


def _model_download(args: argparse.Namespace) -> None:
    from headsplat.head.ict_import import download_model

    path = download_model(Path(args.output) if args.output else None)
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
