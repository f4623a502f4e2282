"""Row operations: after removing, adding and resetting Gaussians, every per-Gaussian tensor (the
store's columns, Adam's moments, other holders' state) stays aligned with the rows it belongs to."""

import pytest
import torch

from headsplat.avatar.gaussians.rows import RowChange, reset_parameter
from headsplat.training.trainer import make_optimizers
from tests.avatar.helpers import strip_avatar

N = 6


def _avatar():
    """A strip avatar after one Adam step with a row-identifying gradient (distinct moments)."""
    avatar = strip_avatar(N)
    optimizers = make_optimizers(dict(avatar.learnable_modules()))
    for param in avatar.gaussians.parameters():
        param.grad = (
            torch.arange(N, dtype=torch.float32).reshape(N, *[1] * (param.dim() - 1)).expand_as(param) + 1
        )
    optimizers[0].step()
    return avatar, optimizers


def _moments(optimizers, param):
    return optimizers[0].state[param]["exp_avg"]


def test_a_change_keeps_rows_then_appends_inherited_or_filled_ones():
    change = RowChange.make(4, keep=torch.tensor([True, False, True, True]), parents=torch.tensor([1, -1]),
                            appended={"x": torch.zeros(2)})  # fmt: skip
    column = torch.tensor([10.0, 11.0, 12.0, 13.0])
    assert change.apply(column).tolist() == [10, 12, 13, 0, 0]
    assert change.apply(column, fill=-1.0, inherit=True).tolist() == [10, 12, 13, 11, -1]
    assert change.n_old == 4 and change.n_new == 5
    # Row numbers (e.g. neighbour ids) follow: 0 -> 0, 1 removed, 2 -> 1, 3 -> 2; -1 stays -1.
    assert change.remap(torch.tensor([[3, 1], [0, -1], [2, 2]])).tolist() == [[2, -1], [0, -1], [1, 1]]
    with pytest.raises(ValueError, match="3 rows, the Gaussians 4"):
        change.apply(torch.zeros(3))


def test_removing_keeps_the_moments_of_the_kept_rows():
    avatar, optimizers = _avatar()
    store = avatar.gaussians
    before = {name: _moments(optimizers, getattr(store, name)).clone() for name in ("sh0", "opacity")}
    keep = torch.tensor([True, False, True, True, False, True])
    avatar.change_rows(keep=keep, optimizers=optimizers)
    assert len(store) == 4 and store.triangle.tolist() == [0, 2, 3, 5]
    for name in ("sh0", "opacity"):
        param = getattr(store, name)
        assert torch.equal(_moments(optimizers, param), before[name][keep])
        group = next(g for g in optimizers[0].param_groups if g["name"] == f"gaussians.{name}")
        assert group["params"][0] is param
    assert len(optimizers[0].state) == 5  # the removed tensors' states are gone


def test_appending_adds_rows_with_zero_moments_and_training_continues():
    avatar, optimizers = _avatar()
    store = avatar.gaussians
    old = _moments(optimizers, store.sh0).clone()
    new_rows = {name: value.detach()[:2].clone() for name, value in store.columns().items()}
    new_rows["sh0"] = torch.ones(2, 3)
    avatar.change_rows(appended=new_rows, optimizers=optimizers)
    assert len(store) == 8
    assert torch.equal(store.sh0[6:], torch.ones(2, 3))
    moments = _moments(optimizers, store.sh0)
    assert torch.equal(moments[:6], old) and (moments[6:] == 0).all()
    for param in store.parameters():
        param.grad = torch.ones_like(param)
    optimizers[0].step()  # shapes line up
    assert _moments(optimizers, store.sh0).shape == (8, 3)


def test_other_holders_follow_the_same_change():
    class Counts:
        def __init__(self):
            self.column = torch.arange(N, dtype=torch.float32)

        def apply_row_change(self, change):
            self.column = change.apply(self.column, inherit=True)

    avatar, optimizers = _avatar()
    counts = Counts()
    new_rows = {name: value.detach()[[4]].clone() for name, value in avatar.gaussians.columns().items()}
    keep = torch.tensor([True, True, False, True, True, True])
    avatar.change_rows(keep, new_rows, torch.tensor([4]), optimizers=optimizers, states=(counts,))
    assert counts.column.tolist() == [0, 1, 3, 4, 5, 4]


def test_reset_overwrites_values_and_zeroes_moments():
    avatar, optimizers = _avatar()
    reset_parameter(avatar.gaussians, "opacity", torch.full((N, 1), -2.0), optimizers)
    opacity = avatar.gaussians.opacity
    assert (opacity == -2).all()
    assert (_moments(optimizers, opacity) == 0).all() and (
        optimizers[0].state[opacity]["exp_avg_sq"] == 0
    ).all()


def test_appended_rows_must_have_every_column():
    avatar, optimizers = _avatar()
    with pytest.raises(ValueError, match="appended rows have columns"):
        avatar.change_rows(appended={"sh0": torch.ones(1, 3)}, optimizers=optimizers)
