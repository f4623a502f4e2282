"""Personal blendshapes: without corrections the head is the model; their smoothness term and
their weight decays."""

import numpy as np
import torch

from headsplat.avatar.condition import Condition
from headsplat.avatar.deformers import BuildContext, DeformContext
from headsplat.avatar.deformers.personal import PersonalBlendshapes, PersonalBlendshapesConfig
from headsplat.avatar.head_mesh import HeadMesh


def _personal(model, config=None):
    head = HeadMesh.from_model(model, np.zeros(model.n_identity, dtype=np.float32))
    return head, PersonalBlendshapes(config or PersonalBlendshapesConfig(), BuildContext(head, 0))


def test_without_corrections_the_head_is_the_model(ict_model):
    head, personal = _personal(ict_model)
    expression = torch.zeros(ict_model.n_expression)
    expression[5] = 0.7
    condition = Condition(expression, torch.zeros(2, 2), torch.eye(3), torch.zeros(3))
    vertices = personal(head.vertices(expression), DeformContext(condition, head, None))
    expected = ict_model.vertices(torch.zeros(ict_model.n_identity), expression)
    assert torch.allclose(vertices, torch.as_tensor(expected).float(), atol=1e-4)


def test_a_rigid_shift_is_smooth_and_a_single_vertex_bump_is_not(ict_model):
    _, personal = _personal(ict_model)
    with torch.no_grad():
        personal.delta_neutral[:] = torch.tensor([0.3, -0.2, 0.1])
    assert personal.smoothness().item() < 1e-10
    with torch.no_grad():
        personal.delta_neutral[100] += torch.tensor([0.0, 0.0, 1.0])
    assert personal.smoothness().item() > 1e-6


def test_the_weight_decays_equal_the_magnitude_penalties_gradients(ict_model):
    _, personal = _personal(ict_model, PersonalBlendshapesConfig(offset_weight=2.0, blendshape_weight=3.0))
    with torch.no_grad():
        personal.delta_neutral.normal_()
        personal.delta_expression_basis.normal_()
    penalty = 2.0 * personal.delta_neutral.pow(2).sum(-1).mean()
    penalty = penalty + 3.0 * personal.delta_expression_basis.pow(2).sum(-1).mean()
    penalty.backward()
    groups = {group.name: group for group in personal.param_groups()}
    assert set(groups) == {"delta_neutral", "delta_expression_basis"}
    for name, parameter in personal.named_parameters():
        decay = groups[name].weight_decay
        assert torch.allclose(parameter.grad, decay * parameter.detach(), rtol=1e-5, atol=1e-12), name
