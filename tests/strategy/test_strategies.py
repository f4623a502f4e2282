"""Strategies' bookkeeping: what they add, split and prune, with the optimizer state and the
strategy's own state kept aligned by the one row operation."""

import numpy as np
import pytest
import torch

from headsplat.avatar.condition import Condition
from headsplat.render import RasterInfo, Rendering
from headsplat.strategy import STRATEGIES, StepContext, make_strategy
from headsplat.training.trainer import make_optimizers
from tests.avatar.helpers import strip_avatar
from tests.synthetic_subject import strategy_slot

N = 50


def _avatar(log_scale: float = -2.0):
    """A strip avatar with one Adam step taken, so every row has distinct moments."""
    avatar = strip_avatar(N, log_scale=log_scale)
    optimizers = make_optimizers(dict(avatar.learnable_modules()))
    for param in avatar.gaussians.parameters():
        param.grad = torch.ones_like(param)
    optimizers[0].step()
    return avatar, optimizers


def _context(avatar, optimizers, state, step: int, hot: torch.Tensor) -> StepContext:
    """Screen-space gradients: large for the ``hot`` Gaussians, zero elsewhere; all visible."""
    n = len(avatar.gaussians)
    means2d = torch.zeros(n, 2, requires_grad=True)
    means2d.grad = torch.zeros(n, 2)
    means2d.grad[hot, 0] = 1e-2
    info = RasterInfo(
        means2d,
        torch.ones(n),
        torch.ones(n, 2, dtype=torch.int32),
        torch.ones(n, dtype=torch.bool),
        0,
        "test",
    )
    rendering = Rendering(torch.zeros(64, 64, 3), torch.zeros(64, 64, 1), torch.zeros(64, 64, 1), info)
    condition = avatar.condition()
    return StepContext(
        step, 0, condition, avatar.camera(), rendering, torch.zeros(64, 64, 3), avatar, state, optimizers
    )


def _aligned(avatar, optimizers, state):
    store = avatar.gaussians
    for group in optimizers[0].param_groups:
        param = group["params"][0]
        assert param is getattr(store, group["name"].removeprefix("gaussians."))
        assert optimizers[0].state[param]["exp_avg"].shape == param.shape
    assert len({len(v) for v in store.columns().values()}) == 1
    assert len(state) == len(store)


def test_sampling_adds_children_on_the_hot_parents_triangles():
    avatar, optimizers = _avatar()
    hot = torch.tensor([3, 17, 41])
    strategy = make_strategy(strategy_slot("sampling", start=0, every=1, add=30, prune_every=1000), 64)
    state = strategy.initialize_state(N, "cpu", seed=0)
    strategy.step_post_backward(_context(avatar, optimizers, state, 1, hot))
    store = avatar.gaussians
    assert len(store) == N + 30
    _aligned(avatar, optimizers, state)
    children = store.triangle[N:]
    assert set(children.tolist()) <= set(hot.tolist())  # zero-gradient Gaussians are never drawn
    # Children inherit their parent's attributes and sit at new barycentric points of its triangle.
    assert torch.equal(store.sh0[N:], store.sh0[:N][children])
    bary = store.bary[N:]
    assert torch.allclose(bary.sum(1), torch.ones(30)) and (bary >= 0).all()
    assert not torch.allclose(bary, torch.full_like(bary, 1 / 3))
    assert (optimizers[0].state[store.sh0]["exp_avg"][N:] == 0).all()
    assert (optimizers[0].state[store.sh0]["exp_avg"][:N] != 0).all()


def test_sampling_parent_and_copies_keep_the_parents_transmittance():
    avatar, optimizers = _avatar()
    store = avatar.gaussians
    before = torch.sigmoid(store.opacity.detach()[:, 0]).clone()
    config = strategy_slot("sampling", start=0, every=1, add=40, prune_every=1000)
    strategy = make_strategy(config, 64)
    state = strategy.initialize_state(N, "cpu", seed=0)
    strategy.step_post_backward(_context(avatar, optimizers, state, 1, torch.tensor([3, 17])))
    opacity = torch.sigmoid(store.opacity.detach()[:, 0])
    parents = store.triangle[N:]  # the strip binds Gaussian i to triangle i
    assert sorted(set(parents.tolist())) == [3, 17]
    for parent in (3, 17):
        stack = torch.cat([opacity[parent : parent + 1], opacity[N:][parents == parent]])
        assert len(stack) > 2 and torch.allclose(stack, stack[0].expand_as(stack))
        assert torch.isclose((1 - stack).prod(), 1 - before[parent], atol=1e-5)
        assert stack[0] < before[parent]
    untouched = torch.ones(N, dtype=torch.bool)
    untouched[[3, 17]] = False
    assert torch.equal(opacity[:N][untouched], before[untouched])


def test_sampling_respects_the_cap_and_the_schedule():
    avatar, optimizers = _avatar()
    config = strategy_slot("sampling", start=10, every=5, add=30, max_gaussians=N + 10, prune_every=1000)
    strategy = make_strategy(config, 64)
    state = strategy.initialize_state(N, "cpu")
    hot = torch.arange(N)
    for step in (5, 7):  # before start, off schedule
        strategy.step_post_backward(_context(avatar, optimizers, state, step, hot))
    assert len(avatar.gaussians) == N
    strategy.step_post_backward(_context(avatar, optimizers, state, 10, hot))
    assert len(avatar.gaussians) == N + 10
    strategy.step_post_backward(_context(avatar, optimizers, state, 15, torch.arange(N + 10)))
    assert len(avatar.gaussians) == N + 10


def test_threshold_clones_small_and_splits_large():
    avatar, optimizers = _avatar(log_scale=-2.0)
    with torch.no_grad():
        avatar.gaussians.log_scale[:10] = 0.0  # wider than split_scale: split
    hot = torch.tensor([0, 1, 20, 21, 22])
    strategy = make_strategy(strategy_slot("threshold", start=0, every=1, prune_every=1000), 64)
    state = strategy.initialize_state(N, "cpu")
    strategy.step_post_backward(_context(avatar, optimizers, state, 1, hot))
    _aligned(avatar, optimizers, state)
    store = avatar.gaussians
    # 3 clones added, 2 parents replaced by 2 children each: N - 2 + 3 + 4.
    assert len(store) == N + 5
    triangles = store.triangle.tolist()
    assert triangles.count(0) == 2 and triangles.count(1) == 2 and triangles.count(20) == 2
    split_children = store.log_scale[store.triangle == 0]
    assert torch.allclose(split_children, torch.full_like(split_children, -np.log(1.6)))


def test_every_strategy_prunes_transparent_gaussians_and_its_statistics_follow():
    for name in STRATEGIES:
        avatar, optimizers = _avatar()
        with torch.no_grad():
            avatar.gaussians.opacity[::5] = -10.0  # sigmoid < 0.005
        strategy = make_strategy(strategy_slot(name, start=1000, prune_every=1), 64)
        strategy.plan(np.arange(12), np.random.default_rng(0).uniform(size=(12, 62)), steps=10)
        state = strategy.initialize_state(N, "cpu")
        hot = torch.zeros(N, dtype=torch.bool)
        hot[N // 2 :] = True
        strategy.step_post_backward(_context(avatar, optimizers, state, 1, hot))
        store = avatar.gaussians
        assert len(store) == N - 10, name
        assert (store.triangle % 5 != 0).all()
        _aligned(avatar, optimizers, state)
        # The accumulated statistics stayed with their Gaussians.
        seen, grad_sum = state.columns["seen"], state.columns["grad_sum"]
        if seen.dim() == 2:  # per frame cluster: this frame's cluster only
            seen, grad_sum = seen.sum(1), grad_sum.sum(1)
        assert torch.equal(seen, torch.ones(N - 10))
        assert torch.equal(grad_sum > 0, store.triangle >= N // 2)


def test_statistics_of_the_wrong_length_are_an_error_not_a_silent_reset():
    avatar, optimizers = _avatar()
    strategy = make_strategy(strategy_slot("sampling"), 64)
    state = strategy.initialize_state(N - 1, "cpu")
    with pytest.raises(RuntimeError, match="49 rows for 50 Gaussians"):
        strategy.step_post_backward(_context(avatar, optimizers, state, 1, torch.arange(3)))


def test_the_state_round_trips_onto_the_device_it_is_loaded_on():
    strategy = make_strategy(strategy_slot("sampling"), 64)
    state = strategy.initialize_state(N, "cpu", seed=3)
    state.columns["grad_sum"] += torch.arange(N, dtype=torch.float32)
    draws = torch.rand(4, generator=state.generator)
    saved = {k: v.clone() for k, v in state.state_dict().items()}
    other = strategy.initialize_state(N, "cpu", seed=9)
    # "meta" stands for any device other than the checkpoint's (the CUDA case, without a GPU).
    other.load_state_dict(saved, device="meta")
    assert all(column.device.type == "meta" for column in other.columns.values())
    again = strategy.initialize_state(N, "cpu", seed=9)
    again.load_state_dict(saved, device="cpu")
    assert torch.equal(again.columns["grad_sum"], state.columns["grad_sum"])
    assert torch.equal(torch.rand(4, generator=again.generator), torch.rand(4, generator=state.generator))
    assert not torch.equal(draws, torch.rand(4, generator=state.generator))


def test_the_error_map_and_footprint_sums_are_there_on_request():
    avatar, optimizers = _avatar()
    strategy = make_strategy(strategy_slot("fixed"), 64)
    state = strategy.initialize_state(N, "cpu")
    ctx = _context(avatar, optimizers, state, 1, torch.arange(0))
    condition: Condition = ctx.condition
    ctx.rendering = avatar.render(condition)
    ctx.target = torch.zeros(64, 64, 3)
    error = ctx.error_map()
    assert error.shape == (64, 64) and error.max() > 0.5  # the avatar against a black target
    footprints = ctx.footprint_sums(error)
    weights = ctx.footprint_sums()
    assert footprints.shape == (N,) and (footprints <= weights * error.max() + 1e-4).all()
    assert torch.allclose(weights.sum(), ctx.rendering.alpha.sum(), rtol=1e-3)


def test_a_run_has_exactly_one_strategy():
    with pytest.raises(ValueError, match="exactly one strategy, got fixed, sampling"):
        make_strategy({**strategy_slot("fixed"), **strategy_slot("sampling")}, 64)
