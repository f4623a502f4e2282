"""docs/editing.md's texture-editing figure: a baked run's colour map, then the avatar as baked, with a
sticker on the cheek and with its hair recoloured, each from the front and at 45 degrees.

    python benchmarks/baking_images.py BAKED_RUN -o docs/images/baking_d18.png

The sticker (a red star with a white rim, drawn here) goes where MediaPipe's right-cheek landmark
lies on the texture (:func:`headsplat.baking.maps.preview_pixels`; the head model's landmark
correspondence); the recolour is ``--recolour hair --hue 200 --saturation 1.6``. Views are the
``render --orbit`` cameras at the rest expression. Prints the file written and the edits' texels.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SHARED
from headsplat.apps.bake import Recolour, Sticker, edit_run
from headsplat.apps.orbit import orbit_frames
from headsplat.avatar.avatar import load_avatar
from headsplat.baking.maps import FLOAT_MAPS, PREVIEW_TILE, preview_image, preview_pixels, read_maps
from headsplat.head import load_head_model
from headsplat.io.atomic import atomic_write
from headsplat.io.video import write_png
from headsplat.preprocess.landmarks import detect_single_image

CHEEK = 50  # MediaPipe's landmark on the right cheek


def star(size: int = 128) -> np.ndarray:
    """(size, size, 4) uint8 BGRA: a five-pointed red star with a white rim, transparent around."""
    angles = np.pi / 2 + np.arange(10) * np.pi / 5
    radii = np.where(np.arange(10) % 2 == 0, 0.48, 0.2) * size
    points = np.stack([size / 2 + radii * np.cos(angles), size / 2 - radii * np.sin(angles)], -1)
    image = np.zeros((size, size, 4), np.uint8)
    polygon = [np.round(points).astype(np.int32)]
    cv2.fillPoly(image, polygon, (255, 255, 255, 255))
    cv2.fillPoly(image, polygon, (30, 30, 220, 255))
    cv2.polylines(image, polygon, True, (255, 255, 255, 255), thickness=max(2, size // 24))
    return image


def views(run: Path, size: int) -> np.ndarray:
    """(size, 2 * size, 3): the front and the 45-degree view (towards the right cheek) of ``run``'s
    avatar."""
    frames = list(orbit_frames(load_avatar(run), size, 8))
    return np.concatenate([frames[0], frames[1]], axis=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("baked_run", type=Path, help="a run made by `headsplat bake`")
    parser.add_argument("-o", "--output", type=Path, required=True, help="PNG to write")
    parser.add_argument("--size", type=int, default=256, help="side of each view in pixels")
    args = parser.parse_args()
    model = load_head_model(SHARED / "ict_facekit" / "ict_facekit_light.npz", detect_single_image)
    head = load_avatar(args.baked_run).head
    marks = model.landmarks
    at = preview_pixels(
        head, torch.from_numpy(marks.triangle[[CHEEK]]), torch.from_numpy(marks.bary[[CHEEK]])
    )[0]
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        cv2.imwrite(str(folder / "star.png"), star())
        sticker = Sticker(folder / "star.png", (float(at[0]), float(at[1])), 140.0)
        stuck = edit_run(args.baked_run, folder / "sticker", sticker=sticker)
        hair = Recolour("hair", hue=200.0, saturation=1.6)
        recoloured = edit_run(args.baked_run, folder / "hair", recolours=(hair,))
        maps = read_maps(folder / "sticker" / "maps" / FLOAT_MAPS)
        texture = preview_image(maps, head.triangle_uvs.numpy(), head.triangle_material.numpy())
        texture = cv2.resize(
            texture[:, : 2 * PREVIEW_TILE], (2 * args.size, args.size), interpolation=cv2.INTER_AREA
        )
        rows = [texture] + [
            views(run, args.size) for run in (args.baked_run, folder / "sticker", folder / "hair")
        ]
        figure = np.concatenate([np.concatenate(rows[:2], axis=1), np.concatenate(rows[2:], axis=1)], axis=0)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(args.output, lambda p: write_png(p, figure, compression=9))
    print(f"{args.output}: sticker at {at.round(1).tolist()} ({stuck}), hair recolour ({recoloured})")


if __name__ == "__main__":
    main()
