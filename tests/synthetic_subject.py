"""A synthetic subject folder: shaded renders of the ICT head turning, with exact tracking."""

import dataclasses
import json

import cv2
import numpy as np
import torch

from headsplat.geometry import MODEL_TO_OPENCV, axis_angle_to_matrix
from headsplat.head.model import barycentric_interpolate
from headsplat.io.subject import FORMAT_VERSION, split_frames
from headsplat.render.mesh import project_points, rasterize_mesh, shade_lambert, vertex_normals

N_FRAMES = 10

ALBEDO = {
    "M_Face": (0.85, 0.62, 0.5),
    "M_BackHead": (0.25, 0.18, 0.12),
    "M_Teeth": (0.9, 0.9, 0.85),
    "M_GumsTongue": (0.45, 0.08, 0.1),
}
"""Each rendered material's colour (the eyes' are light grey)."""


def speaking_expression(model, n_frames: int) -> np.ndarray:
    """(F, E) weights of a person talking: the jaw opens and closes twice (0 to 0.8), a smile
    comes and goes out of step with it, the eyes blink once."""
    t = np.linspace(0.0, 1.0, n_frames)
    expression = np.zeros((n_frames, model.n_expression), np.float32)
    expression[:, model.expression_index("jawOpen")] = 0.4 * (1 - np.cos(4 * np.pi * t))
    for name in ("mouthSmile_L", "mouthSmile_R"):
        expression[:, model.expression_index(name)] = 0.3 * (1 - np.cos(2 * np.pi * t))
    for name in ("eyeBlink_L", "eyeBlink_R"):
        expression[:, model.expression_index(name)] = np.exp(-(((t - 0.3) / 0.06) ** 2))
    return expression


def write_synthetic_subject(
    folder,
    model,
    size: int = 64,
    vertices: np.ndarray | None = None,
    distance: float = 75.0,
    expression: np.ndarray | None = None,
    yaw_degrees: tuple[float, float] = (-20.0, 20.0),
):
    """Frames of the ICT head turning slowly, shaded per material; masks from coverage; the exact
    landmarks (the model's MediaPipe correspondence, projected).

    Args:
        vertices: (V, 3) the person's surface, if not the model's mean (the tracking stays the mean's).
        distance: cm from the camera.
        expression: (F, E) the expression weights of each frame, in the tracking too; None: ten
            frames at rest. The mouth's inside (gums, tongue, teeth) shows where the jaw opens.
        yaw_degrees: the turn from the first frame to the last.
    """
    surface_vertices = model.shape.mean if vertices is None else vertices
    if expression is None:
        expression = np.zeros((N_FRAMES, model.n_expression), np.float32)
    n_frames = len(expression)
    keep = model.material_triangles(*ALBEDO, "M_ScleraLeft", "M_ScleraRight")
    palette = np.array([ALBEDO.get(n, (0.9, 0.9, 0.9)) for n in model.material_names])
    # Texture so there is something to learn: a stripe pattern on the face by height.
    triangles = model.triangles[keep]
    albedo = palette[model.triangle_material[keep]].copy()
    height = model.shape.mean[triangles].mean(1)[:, 1]
    albedo[(np.floor(height / 2) % 2 == 0) & (model.triangle_material[keep] == 0)] *= 0.7
    focal = 2.0 * size
    K = np.array([[focal, 0, size / 2], [0, focal, size / 2], [0, 0, 1]], dtype=np.float32)
    yaw = np.deg2rad(np.linspace(*yaw_degrees, n_frames))
    rotation = (
        axis_angle_to_matrix(torch.tensor(np.c_[np.zeros(n_frames), yaw, np.zeros(n_frames)]).float())
        @ torch.from_numpy(MODEL_TO_OPENCV).float()
    ).numpy()
    translation = np.tile([0.0, -2.0, distance], (n_frames, 1)).astype(np.float32)
    (folder / "frames").mkdir(parents=True)
    (folder / "masks").mkdir()
    light = np.array([0.3, -0.3, -1.0]) / np.linalg.norm([0.3, -0.3, -1.0])
    marks = model.landmarks
    moved = np.einsum("fe,evd->fvd", expression, model.shape.expression_basis)  # (F, V, 3)
    landmarks = np.zeros((n_frames, len(marks.bary), 2), np.float32)
    for f in range(n_frames):
        mean = model.shape.mean + moved[f]
        surface = barycentric_interpolate(mean, model.triangles[marks.triangle], marks.bary)
        camera = (surface_vertices + moved[f]).astype(np.float64) @ rotation[f].T + translation[f]
        landmarks[f] = project_points(surface @ rotation[f].T + translation[f], K)
        raster = rasterize_mesh(camera, triangles, K, width=size, height=size)
        image = shade_lambert(
            raster,
            vertex_normals(camera, triangles),
            triangles,
            albedo=albedo,
            light=light,
            background=(0, 0, 0),
        )
        cv2.imwrite(str(folder / "frames" / f"{f:06d}.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        cv2.imwrite(str(folder / "masks" / f"{f:06d}.png"), ((raster.triangle >= 0) * 255).astype(np.uint8))
    np.savez(
        folder / "tracking.npz",
        K=K,
        rotation=rotation.astype(np.float32),
        translation=translation,
        expression=expression.astype(np.float32),
        expression_names=np.array(model.expression_names),
        gaze=np.zeros((n_frames, 2, 2), np.float32),
        identity=np.zeros(model.n_identity, np.float32),
        landmarks=landmarks,
        source_frame=np.arange(n_frames),
    )
    train_frames, test_frames = split_frames(n_frames)
    meta = {
        "format_version": FORMAT_VERSION,
        "size": size,
        "n_frames": n_frames,
        "fps": 25.0,
        "split": {"train": train_frames.tolist(), "test": test_frames.tolist()},
    }
    (folder / "meta.json").write_text(json.dumps(meta))
    return folder


def tiny_config(size: int = 64, steps: int = 8, texels_per_cm: float = 0.5, **fields):
    """A RunConfig for tests: small images, few Gaussians, a 3-step geometry stage and a 2-step pose
    alignment at 32 px, a log line never; ``fields`` set top-level fields, ``strategy=``
    (:func:`strategy_slot`) and ``completion={}`` (none) included."""
    from headsplat.training.config import RunConfig

    config = RunConfig(size=size, steps=steps, log_every=10**9, **fields)
    config.avatar.gaussians.texels_per_cm = texels_per_cm
    config.geometry.steps, config.geometry.size = 3, 32
    config.frames.align_size, config.frames.align_steps = 32, 2
    return config


def strategy_slot(name: str, **fields) -> dict:
    """A run config's ``strategy`` slot choosing ``name`` with those of ``fields`` its config has
    (one set of test settings for strategies with different fields)."""
    from headsplat.strategy import STRATEGIES

    own = {f.name for f in dataclasses.fields(STRATEGIES[name].Config)}
    return {name: STRATEGIES[name].Config(**{k: v for k, v in fields.items() if k in own})}


SPEAKING_SIZE = 64
"""The side of the speaking subject's frames (and of its run's renders)."""


def write_speaking_subject(folder, model):
    """15 frames, 64 px, of the ICT head turning from -20 to 20 degrees while it talks
    (:func:`speaking_expression`), 60 cm from the camera: its last 3 frames (held out) close the
    mouth from open."""
    return write_synthetic_subject(
        folder, model, SPEAKING_SIZE, distance=60.0, expression=speaking_expression(model, 15)
    )


def speaking_config(seed: int = 0):
    """The run config the speaking subject is trained with for the regression band: 250 steps on
    black, FATE's sampling densification every 50 steps, the rest the defaults of
    :func:`tiny_config`."""
    strategy = strategy_slot("sampling", start=50, every=50, add=200)
    return tiny_config(SPEAKING_SIZE, 250, 0.8, seed=seed, background=0.0, strategy=strategy)
