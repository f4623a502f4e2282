"""The personalised head: its corrections, their smoothness term and their weight decays."""

import numpy as np
import torch

from headsplat.deform.head import PersonalisedHead


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
