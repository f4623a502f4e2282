"""The personalised head: its corrections, their smoothness term and their weight decays."""

import numpy as np
import torch

from headsplat.avatar.deformers.head import PersonalisedHead, neck_weights, torso_pose
from headsplat.geometry import axis_angle_to_matrix


def _head(model) -> PersonalisedHead:
    return PersonalisedHead(model, np.zeros(model.n_identity, dtype=np.float32))


def test_without_corrections_the_head_is_the_model(ict_model):
    head = _head(ict_model)
    expression = torch.zeros(1, ict_model.n_expression)
    expression[0, 5] = 0.7
    expected = ict_model.vertices(torch.zeros(ict_model.n_identity), expression[0])
    assert torch.allclose(head.canonical(expression)[0], torch.as_tensor(expected).float(), atol=1e-4)


def test_a_rigid_shift_is_smooth_and_a_single_vertex_bump_is_not(ict_model):
    head = _head(ict_model)
    with torch.no_grad():
        head.delta_neutral[:] = torch.tensor([0.3, -0.2, 0.1])
    assert head.smoothness().item() < 1e-10
    with torch.no_grad():
        head.delta_neutral[100] += torch.tensor([0.0, 0.0, 1.0])
    assert head.smoothness().item() > 1e-6


def test_the_weight_decays_equal_the_magnitude_penalties_gradients(ict_model):
    head = _head(ict_model)
    with torch.no_grad():
        head.delta_neutral.normal_()
        head.delta_expression_basis.normal_()
    offset_weight, blendshape_weight = 2.0, 3.0
    penalty = offset_weight * head.delta_neutral.pow(2).sum(-1).mean()
    penalty = penalty + blendshape_weight * head.delta_expression_basis.pow(2).sum(-1).mean()
    penalty.backward()
    decays = head.weight_decays(offset_weight, blendshape_weight)
    for name, parameter in head.named_parameters():
        assert torch.allclose(parameter.grad, decays[name] * parameter.detach(), rtol=1e-5, atol=1e-12), name


def test_neck_weights_run_from_torso_to_head_smoothly():
    heights = torch.tensor([-30.0, -18.0, -13.0, -8.0, 0.0])
    vertices = torch.stack([torch.zeros(5), heights, torch.zeros(5)], -1)
    weights = neck_weights(vertices, top=-8.0, bottom=-18.0)
    assert weights.tolist() == [0.0, 0.0, 0.5, 1.0, 1.0]


def test_the_torso_pose_is_the_mean_pose_of_the_clip():
    turns = torch.tensor([[0.0, 0.2, 0.0], [0.0, -0.2, 0.0], [0.1, 0.0, 0.0], [-0.1, 0.0, 0.0]])
    base = axis_angle_to_matrix(torch.tensor([0.3, -0.4, 0.2]))
    rotation = base @ axis_angle_to_matrix(turns)
    translation = torch.tensor([[1.0, 2.0, 60.0], [3.0, 2.0, 62.0], [2.0, 0.0, 61.0], [2.0, 4.0, 61.0]])
    mean_rotation, mean_translation = torso_pose(rotation, translation)
    # Opposite turns cancel: the mean of the four rotations is their common base.
    assert torch.allclose(mean_rotation, base, atol=2e-3)
    assert torch.allclose(mean_translation, torch.tensor([2.0, 2.0, 61.0]))


def test_the_head_turns_while_the_neck_base_stays_with_the_torso(ict_model):
    head = PersonalisedHead(ict_model, np.zeros(ict_model.n_identity, dtype=np.float32), neck=(-8.0, -18.0))
    expression = torch.zeros(1, ict_model.n_expression)
    turn = axis_angle_to_matrix(torch.tensor([[0.0, 0.3, 0.0]]))
    shift = torch.tensor([[1.0, -2.0, 60.0]])
    torso = (torch.eye(3), torch.tensor([0.0, 0.0, 60.0]))
    blended = head(expression, None, turn, shift, torso)[0]
    rigid = head(expression, None, turn, shift)[0]
    still = head(expression, None, torso[0][None], torso[1][None])[0]
    heights = head.neutral[:, 1]
    skull, base = heights > -8.0, heights < -18.0
    assert skull.sum() > 1000 and base.sum() > 10
    assert torch.allclose(blended[skull], rigid[skull], atol=1e-5)
    assert torch.allclose(blended[base], still[base], atol=1e-5)
    neck = ~skull & ~base
    between = (blended[neck] - still[neck]).norm(dim=-1) / (rigid[neck] - still[neck]).norm(dim=-1)
    assert between.min() >= 0 and between.max() <= 1 + 1e-5
