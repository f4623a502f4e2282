"""Strategies' bookkeeping: what they add, split and prune, with optimizer state kept aligned."""

import numpy as np
import pytest
import torch

from headsplat.avatar.gaussians.store import count, make_optimizer
from headsplat.render.api import RasterInfo
from headsplat.strategy import StrategyConfig, make_strategy

N = 50
LEARNED = {"offset": 1e-3, "log_scale": 1e-3, "opacity": 1e-2, "sh0": 1e-2}


def _store(log_scale: float = -2.0):
    params = {
        "triangle": torch.arange(N),
        "bary": torch.full((N, 3), 1 / 3),
        "offset": torch.nn.Parameter(torch.zeros(N, 1)),
        "log_scale": torch.nn.Parameter(torch.full((N, 3), log_scale)),
        "opacity": torch.nn.Parameter(torch.full((N, 1), 2.0)),
        "sh0": torch.nn.Parameter(torch.arange(N, dtype=torch.float32)[:, None].repeat(1, 3)),
    }
    optimizer = make_optimizer(params, LEARNED)
    for name in LEARNED:
        params[name].grad = torch.ones_like(params[name])
    optimizer.step()
    return params, optimizer


def _info(hot: torch.Tensor, n: int = N) -> RasterInfo:
    """Screen-space gradients: large for the ``hot`` Gaussians, zero elsewhere; all visible."""
    means2d = torch.zeros(n, 2, requires_grad=True)
    means2d.grad = torch.zeros(n, 2)
    means2d.grad[hot, 0] = 1e-2
    return RasterInfo(
        means2d,
        torch.ones(n),
        torch.ones(n, 2, dtype=torch.int32),
        torch.ones(n, dtype=torch.bool),
        0,
        "test",
    )


def _aligned(params, optimizer):
    for group in optimizer.param_groups:
        param = group["params"][0]
        assert param is params[group["name"]]
        assert optimizer.state[param]["exp_avg"].shape == param.shape
    assert len({len(v) for v in params.values()}) == 1


def test_sampling_adds_children_on_the_hot_parents_triangles():
    params, optimizer = _store()
    hot = torch.tensor([3, 17, 41])
    strategy = make_strategy(
        StrategyConfig(name="sampling", start=0, every=1, add=30, prune_every=1000), 64, seed=0
    )
    strategy.step_post_backward(params, optimizer, 1, _info(hot))
    assert count(params) == N + 30
    _aligned(params, optimizer)
    children = params["triangle"][N:]
    assert set(children.tolist()) <= set(hot.tolist())  # zero-gradient Gaussians are never drawn
    # Children inherit their parent's attributes and sit at new barycentric points of its triangle.
    assert torch.equal(params["sh0"][N:], params["sh0"][:N][children])
    bary = params["bary"][N:]
    assert torch.allclose(bary.sum(1), torch.ones(30)) and (bary >= 0).all()
    assert not torch.allclose(bary, torch.full_like(bary, 1 / 3))
    assert (optimizer.state[params["sh0"]]["exp_avg"][N:] == 0).all()


def test_sampling_respects_the_cap_and_the_schedule():
    params, optimizer = _store()
    config = StrategyConfig(
        name="sampling", start=10, every=5, add=30, max_gaussians=N + 10, prune_every=1000
    )
    strategy = make_strategy(config, 64)
    hot = torch.arange(N)
    for step in (5, 7):  # before start, off schedule
        strategy.step_post_backward(params, optimizer, step, _info(hot))
    assert count(params) == N
    strategy.step_post_backward(params, optimizer, 10, _info(hot))
    assert count(params) == N + 10
    strategy.step_post_backward(params, optimizer, 15, _info(hot, N + 10))
    assert count(params) == N + 10


def test_threshold_clones_small_and_splits_large():
    params, optimizer = _store(log_scale=-2.0)
    with torch.no_grad():
        params["log_scale"][:10] = 0.0  # wider than split_scale: split
    hot = torch.tensor([0, 1, 20, 21, 22])
    strategy = make_strategy(StrategyConfig(name="threshold", start=0, every=1, prune_every=1000), 64)
    strategy.step_post_backward(params, optimizer, 1, _info(hot))
    _aligned(params, optimizer)
    # 3 clones added, 2 parents replaced by 2 children each: N - 2 + 3 + 4.
    assert count(params) == N + 5
    triangles = params["triangle"].tolist()
    assert triangles.count(0) == 2 and triangles.count(1) == 2 and triangles.count(20) == 2
    split_children = params["log_scale"][params["triangle"] == 0]
    assert torch.allclose(split_children, torch.full_like(split_children, -np.log(1.6)))


def test_fixed_never_adds_and_everyone_prunes_transparent_gaussians():
    for name in ("fixed", "sampling", "threshold"):
        params, optimizer = _store()
        with torch.no_grad():
            params["opacity"][::5] = -10.0  # sigmoid < 0.005
        strategy = make_strategy(StrategyConfig(name=name, start=1000, prune_every=1), 64)
        strategy.step_post_backward(params, optimizer, 1, _info(torch.arange(N)))
        assert count(params) == N - 10, name
        assert (params["triangle"] % 5 != 0).all()
        _aligned(params, optimizer)


def test_unknown_strategy_names_the_choices():
    with pytest.raises(ValueError, match="fixed, sampling, threshold"):
        make_strategy(StrategyConfig(name="magic"), 64)
