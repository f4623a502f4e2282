"""Where sparse control puts its controls on a clip: how many for each threshold, how much of the
skin follows them, and a picture of the neutral head coloured by how far the clip's expressions
move each vertex, the controls (``tau`` 0.3) as dots.

    python benchmarks/sparse_controls.py --clip d6 --out /tmp/ablation --image controls.jpg

The subject is ``OUT/subjects/CLIP-photometric`` (preprocessed when missing, as
``benchmarks/ablation.py --study eavatar`` has it); the controls are chosen from its training
frames' expressions as ``headsplat train --deformer sparse_control`` chooses them
(:mod:`headsplat.avatar.deformers.sparse_control`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import headsplat_env, print_table_header, print_table_row, subject_folder

TAUS = (0.15, 0.3, 0.4)
SHOWN_TAU = 0.3
VIEWS = (0.0, 40.0)
"""Degrees the head is turned in the picture's panels (> 0: its left cheek towards the camera)."""


def render_panel(head, level: np.ndarray, dots: np.ndarray, yaw: float, size: int) -> np.ndarray:
    """(size, size, 3) uint8 BGR: the neutral mesh turned by ``yaw`` degrees, each triangle coloured
    by its ``level`` (T,) in [0, 1] (black 0, yellow 1), the vertices ``dots`` (D,) as dots."""
    from headsplat.geometry import MODEL_TO_OPENCV, axis_angle_to_matrix
    from headsplat.render.mesh import rasterize_mesh, shade_lambert, vertex_normals

    turn = axis_angle_to_matrix(torch.tensor([0.0, np.radians(yaw), 0.0])).double().numpy()
    neutral = head.neutral.double().numpy()
    centre = neutral.mean(axis=0)
    camera = (neutral - centre) @ turn.T @ MODEL_TO_OPENCV.T + [0.0, 0.0, 70.0]
    K = np.array([[2.4 * size, 0, size / 2], [0, 2.4 * size, size / 2], [0, 0, 1]])
    triangles = head.triangles.numpy()
    raster = rasterize_mesh(camera, triangles, K, width=size, height=size)
    colours = cv2.applyColorMap((255 * level).astype(np.uint8)[:, None], cv2.COLORMAP_INFERNO)[:, 0]
    albedo = colours[:, ::-1] / 255.0  # RGB for the shader
    normals, towards_camera = vertex_normals(camera, triangles), np.array([0.0, 0.0, -1.0])
    image = shade_lambert(
        raster, normals, triangles, albedo=albedo, light=towards_camera, background=np.ones(3)
    )
    image = np.ascontiguousarray(image[..., ::-1])
    pixels = camera[dots] @ K.T
    pixels = pixels[:, :2] / pixels[:, 2:]
    for (x, y), z in zip(pixels, camera[dots, 2], strict=True):
        col, row = int(x), int(y)
        if 0 <= row < size and 0 <= col < size and z <= raster.depth[row, col] + 0.3:  # in front
            cv2.circle(image, (col, row), 2, (255, 200, 0), -1, cv2.LINE_AA)
    return image


def write_head_picture(path: Path, head, level: np.ndarray, dots: np.ndarray, size: int) -> None:
    """A JPEG of :func:`render_panel` at each of :data:`VIEWS`, side by side, at ``path``."""
    panels = [render_panel(head, level, dots, yaw, size) for yaw in VIEWS]
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.concatenate(panels, axis=1), [cv2.IMWRITE_JPEG_QUALITY, 90])
    print(f"\nwrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", default="d6")
    parser.add_argument("--out", type=Path, default=Path("ablation"), help="subjects go here")
    parser.add_argument("--image", type=Path, help="write the picture here (JPEG)")
    parser.add_argument("--size", type=int, default=384, help="side of each panel (px)")
    parser.add_argument(
        "--criterion", choices=["displacement", "strain"], default="displacement", help="what makes a control"
    )
    args = parser.parse_args()

    from headsplat.avatar.deformers.sparse_control import (
        SparseControlConfig,
        candidate_scores,
        choose_controls,
        skin_triangles,
    )
    from headsplat.avatar.head_mesh import HeadMesh
    from headsplat.head import load_head_model
    from headsplat.io.subject import load_subject

    subject = load_subject(subject_folder(args.out, args.clip, headsplat_env(), "photometric"))
    head = HeadMesh.from_model(load_head_model(), subject.tracking["identity"])
    train, _ = subject.split()
    expressions = torch.as_tensor(subject.tracking["expression"][train]).float()
    print(f"{args.clip}: {len(train)} training frames, {head.n_vertices} vertices\n")
    print_table_header(
        "tau | controls | vertices that follow | of them in full | lowest control (cm below the eyes)"
    )
    shown = None
    eyes = float(head.eye_centres[:, 1].mean())
    for tau in TAUS:
        controls, _, weights = choose_controls(
            head, expressions, SparseControlConfig(tau=tau, criterion=args.criterion)
        )
        total = weights.sum(axis=1)
        lowest = eyes - float(head.neutral[controls, 1].min())
        cells = [
            f"{tau:.2f}",
            str(len(controls)),
            str(int((total > 0).sum())),
            str(int((total > 0.999).sum())),
        ]
        print_table_row([*cells, f"{lowest:.1f}"])
        if tau == SHOWN_TAU:
            shown = controls
    if args.image is not None:
        reach = candidate_scores(head, expressions, criterion=args.criterion, triangles=skin_triangles(head))
        level = reach[head.triangles.numpy()].mean(axis=1) / max(float(reach.max()), 1e-9)
        write_head_picture(args.image, head, level, shown, args.size)


if __name__ == "__main__":
    main()
