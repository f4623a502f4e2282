"""Mirrored training frames: the condition mirrored twice is itself, a mirrored frame looks like
the head turned the other way, and the trainer mixes them in only when asked."""

from __future__ import annotations

import numpy as np
import torch

from headsplat.avatar.condition import MOTION, Condition
from headsplat.geometry import axis_angle_to_matrix
from headsplat.head.mirror import mirror_order
from headsplat.io.subject import load_subject
from headsplat.metrics import psnr
from headsplat.render.projection import Camera
from headsplat.training.data import load_frame_data
from headsplat.training.mirrored import mirrored_camera, mirrored_image
from headsplat.training.run import new_avatar
from headsplat.training.trainer import Trainer
from tests.synthetic_subject import tiny_config


def a_condition(names: list[str]) -> Condition:
    generator = torch.Generator().manual_seed(0)
    return Condition(
        torch.rand(len(names), generator=generator),
        torch.randn(2, 2, generator=generator) * 0.2,
        axis_angle_to_matrix(torch.randn(3, generator=generator) * 0.5),
        torch.randn(3, generator=generator) * 5,
        (
            axis_angle_to_matrix(torch.randn(3, generator=generator) * 0.1),
            torch.randn(3, generator=generator),
        ),
        {MOTION: torch.randn(6, generator=generator)},
    )


def test_a_condition_mirrored_twice_is_itself_and_once_swaps_the_sides(ict_model):
    names = list(ict_model.expression_names)
    order = torch.as_tensor(mirror_order(names))
    condition = a_condition(names)
    mirrored = condition.mirrored(order)
    twice = mirrored.mirrored(order)
    for a, b in zip(
        (condition.expression, condition.gaze, condition.rotation, condition.translation, *condition.torso),
        (twice.expression, twice.gaze, twice.rotation, twice.translation, *twice.torso),
        strict=True,
    ):
        assert torch.equal(a, b)
    assert torch.equal(twice.extras[MOTION], condition.extras[MOTION])
    blink_left, blink_right = names.index("eyeBlink_L"), names.index("eyeBlink_R")
    assert mirrored.expression[blink_left] == condition.expression[blink_right]
    assert mirrored.expression[names.index("jawOpen")] == condition.expression[names.index("jawOpen")]
    assert torch.equal(mirrored.gaze[0], condition.gaze[1] * torch.tensor([-1.0, 1.0]))
    assert torch.allclose(torch.linalg.det(mirrored.rotation), torch.tensor(1.0))


def test_the_mirrored_mesh_is_the_mesh_reflected(ict_model):
    """The posed head of a mirrored condition is the posed head reflected in the camera's x (the
    image flipped), vertex for mirror vertex: pose, expression sides and gaze all agree."""
    from headsplat.avatar.head_mesh import HeadMesh

    head = HeadMesh.from_model(ict_model, np.zeros(ict_model.n_identity, np.float32))
    names = list(ict_model.expression_names)
    condition = a_condition(names)
    mirrored = condition.mirrored(torch.as_tensor(mirror_order(names)))

    def posed(c: Condition) -> torch.Tensor:
        vertices = head.gaze(head.vertices(c.expression), c.expression, c.gaze)
        return vertices @ c.rotation.T + c.translation

    from scipy.spatial import cKDTree

    template = head.template.numpy()
    _, partner = cKDTree(template).query(template * [-1, 1, 1])
    reflected = posed(condition) * torch.tensor([-1.0, 1.0, 1.0])
    error = (posed(mirrored)[partner] - reflected).norm(dim=1)
    # ICT's sides mirror each other to 1 mm at worst at these random expressions.
    assert torch.quantile(error, 0.5) < 1e-3 and torch.quantile(error, 0.99) < 0.1  # cm


def test_a_mirrored_camera_sees_the_mirrored_point_where_the_flipped_image_shows_it():
    K = torch.tensor([[100.0, 0, 30.0], [0, 100.0, 32.0], [0, 0, 1]])
    viewmat = torch.eye(4)
    viewmat[:3, :3] = axis_angle_to_matrix(torch.tensor([0.1, 0.2, -0.1]))
    viewmat[:3, 3] = torch.tensor([1.0, -2.0, 40.0])
    camera = Camera(K, viewmat, 64, 64)
    point = torch.tensor([3.0, 1.0, 2.0])

    def pixel(c: Camera, x: torch.Tensor) -> torch.Tensor:
        p = c.viewmat[:3, :3] @ x + c.viewmat[:3, 3]
        return (c.K @ p)[:2] / p[2]

    seen, mirrored = (
        pixel(camera, point),
        pixel(mirrored_camera(camera), point * torch.tensor([-1.0, 1.0, 1.0])),
    )
    assert torch.allclose(mirrored, torch.stack([64 - seen[0], seen[1]]), atol=1e-4)
    image = torch.arange(12.0).reshape(2, 3, 2)
    assert torch.equal(mirrored_image(image)[:, 0], image[:, 2])


def test_the_first_frame_mirrored_looks_like_the_last(synthetic_subject):
    """The synthetic head turns from -20 to +20 degrees: frame 0 mirrored is frame 9's pose, and
    its image, flipped, is frame 9's but for the light (which comes from one side)."""
    data = load_frame_data(load_subject(synthetic_subject), 64)
    first, last = data.condition(0), data.condition(9)
    order = torch.arange(len(first.expression))
    assert torch.allclose(first.mirrored(order).rotation, last.rotation, atol=1e-5)
    assert torch.allclose(first.mirrored(order).translation, last.translation, atol=1e-5)
    flipped = mirrored_image(data.target(0, 0.0))
    assert (
        float(psnr(flipped, data.target(9, 0.0))) > float(psnr(data.target(0, 0.0), data.target(9, 0.0))) + 3
    )


def test_the_trainer_mixes_in_mirrored_frames_only_when_asked(synthetic_subject, ict_model, monkeypatch):
    subject = load_subject(synthetic_subject)
    asked: dict[float, list[tuple[int, bool]]] = {}
    original = Trainer.loss

    def spy(self, f, *, mirrored=False):
        asked[self.config.mirrored.share].append((f, mirrored))
        return original(self, f, mirrored=mirrored)

    monkeypatch.setattr(Trainer, "loss", spy)
    for share in (0.0, 0.5):
        config = tiny_config(32, 12, completion={})
        config.mirrored.share = share
        trainer = Trainer(load_frame_data(subject, 32), new_avatar(ict_model, subject, config), config)
        asked[share] = []
        for _ in range(12):
            trainer.train_step()
    assert not any(m for _, m in asked[0.0])
    assert 0 < sum(m for _, m in asked[0.5]) < 12
    # Off, the frames drawn are those a run without the option draws (the generator untouched).
    generator = np.random.default_rng(0)
    assert [f for f, _ in asked[0.0]] == [int(generator.choice(trainer.train_frames)) for _ in range(12)]
    # At weight 0.5, a mirrored frame's loss is half what the same render against it scores at 1.
    trainer.config.mirrored.weight = 0.5
    half = trainer.loss(3, mirrored=True)[0]
    trainer.config.mirrored.weight = 1.0
    assert torch.allclose(half, 0.5 * trainer.loss(3, mirrored=True)[0])
