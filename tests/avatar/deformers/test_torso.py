"""The still torso: neck weights, the clip's torso pose, and a head that turns while the neck's
base stays with the shoulders."""

import numpy as np
import torch

from headsplat.avatar.avatar import AvatarConfig, create_avatar
from headsplat.avatar.deformers.personal import PersonalBlendshapesConfig
from headsplat.avatar.deformers.torso import StillTorsoConfig, neck_weights, torso_pose
from headsplat.geometry import axis_angle_to_matrix


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
    config = AvatarConfig(
        mesh_deformers={
            "personal_blendshapes": PersonalBlendshapesConfig(),
            "still_torso": StillTorsoConfig(),
        }
    )
    poses = {
        "rotation": torch.eye(3)[None],
        "translation": torch.tensor([[0.0, 0.0, 60.0]]),
        "expression": torch.zeros(1, ict_model.n_expression),
    }
    K = torch.tensor([[128.0, 0, 32], [0, 128.0, 32], [0, 0, 1]])
    info = {"size": 64, "fps": 25.0, "background": 1.0}
    identity = np.zeros(ict_model.n_identity, dtype=np.float32)
    avatar = create_avatar(ict_model, identity, **poses, config=config, K=K, info=info)
    assert torch.equal(avatar.rest_translation, torch.tensor([0.0, 0.0, 60.0]))
    turn = axis_angle_to_matrix(torch.tensor([0.0, 0.3, 0.0]))
    shift = torch.tensor([1.0, -2.0, 60.0])
    blended = avatar.mesh(avatar.condition(rotation=turn, translation=shift))[1]
    rigid = avatar.mesh(avatar.condition(rotation=turn, translation=shift, torso=None))[1]
    still = avatar.mesh(avatar.condition(torso=None))[1]
    heights = avatar.head.neutral[:, 1]
    skull, base = heights > -8.0, heights < -18.0
    assert skull.sum() > 1000 and base.sum() > 10
    assert torch.allclose(blended[skull], rigid[skull], atol=1e-5)
    assert torch.allclose(blended[base], still[base], atol=1e-5)
    neck = ~skull & ~base
    between = (blended[neck] - still[neck]).norm(dim=-1) / (rigid[neck] - still[neck]).norm(dim=-1)
    assert between.min() >= 0 and between.max() <= 1 + 1e-5
