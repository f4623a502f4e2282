"""Optimizer-state surgery: after removing, adding and resetting Gaussians, Adam's moments stay
aligned with the rows they belong to."""

import pytest
import torch

from headsplat.avatar.gaussians.store import count, make_optimizer, reset_values, update_rows


def _store(n: int = 6):
    params = {
        "colour": torch.nn.Parameter(torch.arange(n * 3, dtype=torch.float32).reshape(n, 3)),
        "opacity": torch.nn.Parameter(torch.zeros(n, 1)),
        "triangle": torch.arange(n),  # not learnable
    }
    optimizer = make_optimizer(params, {"colour": 0.1, "opacity": 0.2})
    # One step with a row-identifying gradient, so every row's moments are distinct.
    params["colour"].grad = torch.arange(n, dtype=torch.float32)[:, None].expand(n, 3).clone() + 1
    params["opacity"].grad = -torch.arange(n, dtype=torch.float32)[:, None] - 1
    optimizer.step()
    return params, optimizer


def _moments(optimizer, params, name):
    return optimizer.state[params[name]]["exp_avg"]


def test_remove_keeps_the_moments_of_the_kept_rows():
    params, optimizer = _store()
    before = {name: _moments(optimizer, params, name).clone() for name in ("colour", "opacity")}
    keep = torch.tensor([True, False, True, True, False, True])
    update_rows(params, optimizer, keep=keep)
    assert count(params) == 4 and params["triangle"].tolist() == [0, 2, 3, 5]
    for name in ("colour", "opacity"):
        assert torch.equal(_moments(optimizer, params, name), before[name][keep])
        group = next(g for g in optimizer.param_groups if g["name"] == name)
        assert group["params"][0] is params[name]
    assert len(optimizer.state) == 2  # the removed tensors' states are gone


def test_append_adds_rows_with_zero_moments_and_training_continues():
    params, optimizer = _store()
    old = _moments(optimizer, params, "colour").clone()
    new_rows = {
        "colour": torch.ones(2, 3),
        "opacity": torch.full((2, 1), 0.5),
        "triangle": torch.tensor([9, 9]),
    }
    update_rows(params, optimizer, append=new_rows)
    assert count(params) == 8
    assert torch.equal(params["colour"][6:], torch.ones(2, 3))
    moments = _moments(optimizer, params, "colour")
    assert torch.equal(moments[:6], old) and (moments[6:] == 0).all()
    params["colour"].grad = torch.ones(8, 3)
    params["opacity"].grad = torch.ones(8, 1)
    optimizer.step()  # shapes line up
    assert _moments(optimizer, params, "colour").shape == (8, 3)


def test_split_is_remove_plus_append():
    params, optimizer = _store()
    parents = torch.tensor([1, 4])
    children = {
        name: value.detach()[parents].repeat(2, *([1] * (value.dim() - 1))) for name, value in params.items()
    }
    keep = torch.ones(6, dtype=torch.bool)
    keep[parents] = False
    update_rows(params, optimizer, keep=keep, append=children)
    assert count(params) == 8
    assert params["triangle"].tolist() == [0, 2, 3, 5, 1, 4, 1, 4]


def test_reset_overwrites_values_and_zeroes_moments():
    params, optimizer = _store()
    reset_values(params, optimizer, "opacity", torch.full((6, 1), -2.0))
    assert (params["opacity"] == -2).all()
    assert (_moments(optimizer, params, "opacity") == 0).all()
    assert (optimizer.state[params["opacity"]]["exp_avg_sq"] == 0).all()


def test_append_must_name_every_entry():
    params, optimizer = _store()
    with pytest.raises(ValueError, match="append has keys"):
        update_rows(params, optimizer, append={"colour": torch.ones(1, 3)})
