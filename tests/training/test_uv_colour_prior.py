"""The UV colour prior: a Gaussian its frames saw edge-on is pulled towards its better-seen mirror
image's colour, else its region's; a well-seen one and the mouth's interior are left alone; the
trainer measures the footprints once and a resumed run keeps them (tests/io/test_resume.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from headsplat.avatar.gaussians.store import GaussianConfig, initial_columns, rgb_to_sh0
from headsplat.avatar.head_mesh import HeadMesh
from headsplat.io.errors import InputError
from headsplat.io.subject import load_subject
from headsplat.training.config import RunConfig
from headsplat.training.data import load_frame_data
from headsplat.training.run import new_avatar
from headsplat.training.trainer import Trainer
from headsplat.training.uv_colour_prior import UVColourPrior, UVColourPriorConfig, footprint_pull
from tests.synthetic_subject import tiny_config

RED, BLUE = torch.tensor([0.9, 0.1, 0.1]), torch.tensor([0.1, 0.1, 0.9])


def test_the_pull_falls_from_one_unseen_to_zero_at_the_full_footprint():
    pull = footprint_pull(torch.tensor([0.0, 0.25, 0.5, 0.9]), 0.5)
    assert torch.allclose(pull, torch.tensor([1.0, 0.5, 0.0, 0.0]))
    with pytest.raises(InputError, match="full_footprint"):
        RunConfig(uv_colour_prior=UVColourPriorConfig(full_footprint=0.0)).validate()


@pytest.fixture(scope="module")
def two_sided(ict_model):
    """The head with its left side (model x > 0) red and seen face-on, its right side blue and
    seen edge-on: (head, Gaussians' triangle, colours, footprint, each Gaussian's model x)."""
    head = HeadMesh.from_model(ict_model, np.zeros(ict_model.n_identity, np.float32))
    triangle = initial_columns(head, GaussianConfig(texels_per_cm=1.0))["triangle"]
    centre_x = head.template[head.triangles].mean(1)[:, 0]
    footprint = torch.where(centre_x > 0, 0.9, 0.1)
    x = centre_x[triangle]
    colours = torch.where((x > 0)[:, None], RED, BLUE)
    return head, triangle, colours, footprint, x


def test_an_edge_on_gaussian_is_pulled_to_its_mirror_image_and_a_face_on_one_is_left(two_sided):
    head, triangle, colours, footprint, x = two_sided
    prior = UVColourPrior(UVColourPriorConfig(weight=1.0), head, footprint)
    targets = prior.targets(colours - 0.5, triangle) + 0.5
    skin = ~head.interior_triangles()[triangle]
    right, left = skin & (x < -1.0), skin & (x > 1.0)  # away from the midline's shared neighbourhoods
    assert torch.allclose(targets[right], RED.expand(int(right.sum()), 3), atol=1e-5)
    # The left side's mirror is less seen: its region's colour, mostly the well-seen red.
    assert (targets[left][:, 0] > 0.7).all() and (targets[left][:, 2] < 0.3).all()
    pulled = prior.pull[triangle]
    assert (pulled[right] == 0.8).all() and (pulled[left] == 0).all()
    assert (pulled[~skin] == 0).all(), "the interior keeps its dark prior"


def test_the_prior_moves_only_the_edge_on_side_towards_the_seen_one(two_sided):
    head, triangle, colours, footprint, x = two_sided
    prior = UVColourPrior(UVColourPriorConfig(weight=1.0), head, footprint)
    store = type("Store", (), {})()  # the two columns the loss reads
    store.triangle, store.sh0 = triangle, rgb_to_sh0(colours).requires_grad_()
    prior.loss(store).backward()
    gradient = store.sh0.grad
    right, left = x < -1.0, x > 1.0
    assert (gradient[left] == 0).all()
    # A descent step makes the right side redder and less blue.
    skin_right = right & ~head.interior_triangles()[triangle]
    assert (gradient[skin_right][:, 0] < 0).all() and (gradient[skin_right][:, 2] > 0).all()


def test_the_trainer_measures_the_footprints_once_and_adds_the_prior_to_the_loss(
    synthetic_subject, ict_model
):
    subject = load_subject(synthetic_subject)
    config = tiny_config(steps=2, completion={})
    config.uv_colour_prior.weight = 1.0
    avatar = new_avatar(ict_model, subject, config)
    trainer = Trainer(load_frame_data(subject, config.size), avatar, config)
    footprint = trainer.uv_colour_prior.footprint
    assert footprint.shape == (len(avatar.head.triangles),) and 0.5 < float(footprint.max()) <= 1.0
    assert float((footprint == 0).float().mean()) > 0.2, "a frontal clip never sees the back of the head"
    steps = [trainer.train_step() for _ in range(2)]
    assert steps[0]["uv_colour_prior"] == 0, "the Gaussians are made one colour"
    assert steps[1]["uv_colour_prior"] > 0
    assert torch.equal(trainer.state()["trainer"][0]["footprint"], footprint)
    off = Trainer(load_frame_data(subject, config.size), avatar, tiny_config(steps=2, completion={}))
    assert off.uv_colour_prior is None and "footprint" not in off.state()["trainer"][0]
