"""EAvatar's deformation-aware splitting: with no expression it is FATE's sampling; under an open
jaw its duplicates go to the triangles the jaw moves, within their caps."""

import numpy as np
import pytest
import torch

from headsplat.io.subject import load_subject
from headsplat.strategy import make_strategy
from headsplat.strategy.deformation import _rank_within, displacements
from headsplat.training.run import new_avatar
from tests.strategy.test_strategies import N, _aligned, _avatar, _context
from tests.synthetic_subject import strategy_slot, tiny_config, write_speaking_subject


def test_without_expressions_it_adds_what_sampling_adds():
    stores = {}
    for name in ("sampling", "deformation"):
        avatar, optimizers = _avatar()
        strategy = make_strategy(strategy_slot(name, start=1, every=1, add=20), 64)
        state = strategy.initialize_state(N, "cpu", seed=3)
        strategy.step_post_backward(_context(avatar, optimizers, state, 1, torch.arange(10, 30)))
        _aligned(avatar, optimizers, state)
        stores[name] = avatar.gaussians.columns()
    assert len(stores["sampling"]["triangle"]) == N + 20
    assert avatar.info["training"]["deformation"] == [
        {"step": 1, "p50": 0.0, "p90": 0.0, "p99": 0.0, "duplicates": 0}
    ]
    for column, values in stores["sampling"].items():
        assert torch.equal(stores["deformation"][column], values), column


def test_the_most_displaced_go_first_within_the_clones_and_each_triangles_room():
    avatar, optimizers = _avatar()
    strategy = make_strategy(strategy_slot("deformation", deform_threshold=0.5, deform_clones=3), 64)
    strategy._initial_counts = torch.ones(N, dtype=torch.long)  # the strip: one Gaussian a triangle
    state = strategy.initialize_state(N, "cpu")
    state.columns["seen"][:] = 2.0
    state.columns["deform_sum"][[4, 9, 17, 30, 41]] = torch.tensor([1.2, 3.0, 0.8, 2.0, 0.9])  # means / 2
    ctx = _context(avatar, optimizers, state, 1, torch.arange(0))
    assert strategy.deformed_parents(ctx, room=100).tolist() == [9, 30, 4]  # 17 is at 0.4: under
    assert strategy.deformed_parents(ctx, room=2).tolist() == [9, 30]
    strategy.config.deform_density = 1.0  # every triangle holds its initial count already
    assert strategy.deformed_parents(ctx, room=100).tolist() == []
    assert _rank_within(torch.tensor([5, 2, 5, 5, 2, 7])).tolist() == [0, 0, 1, 2, 1, 0]


@pytest.fixture(scope="module")
def talking_avatar(tmp_path_factory, ict_model):
    subject = load_subject(write_speaking_subject(tmp_path_factory.mktemp("talking") / "subject", ict_model))
    config = tiny_config(32)
    config.strategy = strategy_slot("deformation", deform_threshold=0.5, deform_clones=400)
    return new_avatar(ict_model, subject, config), config


def test_under_an_open_jaw_the_duplicates_go_to_the_triangles_it_moves(talking_avatar, ict_model):
    avatar, config = talking_avatar
    jaw = ict_model.expression_index("jawOpen")
    strategy = make_strategy(config.strategy, 32)
    n = len(avatar.gaussians)
    state = strategy.initialize_state(n, "cpu")
    open_jaw = avatar.neutral_expression.clone()
    open_jaw[jaw] = 0.8
    ctx = _context(avatar, [], state, 1, torch.arange(0))
    ctx.condition = avatar.condition(open_jaw)
    strategy._accumulate(ctx)
    moved = strategy.mean_displacement(state)
    assert torch.allclose(moved, displacements(avatar, ctx.condition))
    parents = strategy.deformed_parents(ctx, room=10**6)
    assert 0 < len(parents) <= 400
    # The jaw's own blendshape moves every parent's triangle, the most displaced first.
    corners = avatar.head.triangles[avatar.gaussians.triangle[parents]]
    jaw_shift = avatar.head.expression_basis[jaw][corners].norm(dim=-1).mean(dim=1)
    assert (jaw_shift > 0.1).all()
    assert (moved[parents][1:] <= moved[parents][:-1]).all() and (moved[parents] > 0.5).all()
    # Nothing above the eyes moves.
    above_eyes = avatar.head.neutral[corners].mean(dim=1)[:, 1] > avatar.head.eye_centres[:, 1].max()
    assert not above_eyes.any()
    before = {name: value.detach().clone() for name, value in avatar.gaussians.columns().items()}
    opacity = torch.sigmoid(before["opacity"][parents[0]])
    strategy.add_children(ctx, parents)
    after = avatar.gaussians.columns()
    assert torch.equal(after["triangle"][n:], before["triangle"][parents])  # in the parents' triangles
    # Parent and child together stop as much light as the parent did.
    shared = torch.sigmoid(after["opacity"][parents[0]])
    assert torch.allclose(1 - (1 - shared) ** 2, opacity, atol=1e-5)
    assert np.isfinite(after["bary"].numpy()).all()
