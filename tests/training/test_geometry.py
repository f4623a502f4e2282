"""The geometry stage: a head whose scalp stands off the skull (a known hair volume) is found from
its silhouettes, and the face is left where the landmarks put it."""

import numpy as np
import pytest
import torch

from headsplat.avatar.head_mesh import HeadMesh
from headsplat.geometry import mesh_edges
from headsplat.io.subject import load_subject
from headsplat.render.mesh import vertex_normals
from headsplat.training.data import load_frame_data
from headsplat.training.geometry import (
    SKIN_MATERIALS,
    GeometryConfig,
    fit_surface,
    free_weights,
)
from headsplat.training.run import new_avatar
from tests.synthetic_subject import tiny_config, write_synthetic_subject

HAIR_CM = 1.5
SIZE = 96
DISTANCE = 100.0  # cm: the hair stays in the frame


def _head(model) -> HeadMesh:
    return HeadMesh.from_model(model, np.zeros(model.n_identity, np.float32))


def _normals(head: HeadMesh) -> torch.Tensor:
    skin = head.triangles[head.on_materials(SKIN_MATERIALS)]
    return torch.from_numpy(vertex_normals(head.neutral.numpy(), skin.numpy()))


def test_free_weights_fade_from_the_face_into_the_scalp(ict_model):
    head = _head(ict_model)
    weight = free_weights(head, fade_rings=3)
    face = torch.zeros(head.n_vertices, dtype=torch.bool)
    face[head.triangles[head.on_materials(["M_Face"])].reshape(-1)] = True
    assert (weight[face] == 0).all()  # the face (and its border) keeps the landmark fit
    on_hair = torch.zeros(head.n_vertices, dtype=torch.bool)
    on_hair[head.triangles[head.hair_triangles()].reshape(-1)] = True
    assert (weight[~on_hair] == 0).all()  # the mouth and eye interiors too
    assert set(torch.unique(weight).tolist()) == {0.0, 0.25, 0.5, 0.75, 1.0}
    top = head.neutral[:, 1].argmax()  # the crown, far from the face
    assert weight[top] == 1.0
    # Each ring from the face: neighbours differ by at most one step of the fade.
    edges = mesh_edges(head.triangles[head.on_materials(SKIN_MATERIALS)])
    assert (weight[edges[:, 0]] - weight[edges[:, 1]]).abs().max() <= 0.25 + 1e-6


def test_the_stage_finds_a_hair_volume_from_silhouettes(ict_model, tmp_path):
    head = _head(ict_model)
    weight = free_weights(head, fade_rings=3)
    normals = _normals(head)
    hair = head.neutral + HAIR_CM * weight[:, None] * normals
    folder = write_synthetic_subject(tmp_path / "hairy", ict_model, SIZE, hair.numpy(), DISTANCE)
    subject = load_subject(folder)
    config = tiny_config(SIZE)
    avatar = new_avatar(ict_model, subject, config)  # the bald head (no data: no geometry stage)
    data = load_frame_data(subject, SIZE).with_torso(avatar.rest_pose())
    train, _ = subject.split()
    before = avatar.head.neutral.clone()
    fitted, report = fit_surface(avatar, data, train, GeometryConfig(steps=80, size=SIZE))
    assert torch.equal(avatar.head.neutral, before)  # the avatar is left as it was
    assert report.iou_before < 0.92 and report.iou_after > report.iou_before + 0.025, report
    moved = ((fitted - before) * normals).sum(-1)
    face = weight == 0
    assert torch.equal(fitted[face], before[face])
    # Where the turning head's outline runs (the crown and the upper sides of the scalp), the
    # surface moves out most of the true 1.5 cm (a pixel is 0.5 cm here, and the masks are
    # binary); nowhere is it pushed far beyond it, nor further in than max_inward.
    outline = (weight == 1) & (head.neutral[:, 1] > 6) & (head.neutral[:, 2].abs() < 4)
    assert outline.sum() > 20
    assert moved[outline].median() == pytest.approx(HAIR_CM, abs=0.75), moved[outline].median()
    assert moved.max() < 2 * HAIR_CM and report.max_out == pytest.approx(float(moved.max()), abs=1e-4)
    assert moved.min() >= -1.0 - 1e-5


def test_training_with_the_stage_records_it_and_binds_to_the_fitted_surface(ict_model, tmp_path):
    head = _head(ict_model)
    weight = free_weights(head, fade_rings=3)
    normals = _normals(head)
    hair = head.neutral + HAIR_CM * weight[:, None] * normals
    subject = load_subject(write_synthetic_subject(tmp_path / "hairy", ict_model, 64, hair.numpy()))
    config = tiny_config(64)
    config.geometry.steps = 20
    data = load_frame_data(subject, 64)
    avatar = new_avatar(ict_model, subject, config, data=data)
    report = avatar.info["training"]["geometry"]
    assert report["iou_after"] > report["iou_before"] and report["seconds"] > 0
    assert (avatar.head.neutral - head.neutral).norm(dim=1).max() > 0.3  # the scalp moved out
    assert torch.equal(avatar.head.template, head.template)
