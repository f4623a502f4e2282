"""The sanity check fails loudly when a learnable tensor escapes the module contract."""

import pytest
import torch
from torch import nn

from headsplat.avatar.modules import AvatarModule, ParamGroup
from headsplat.training.sanity import SanityError, check_sanity
from headsplat.training.trainer import make_optimizers


class Declared(AvatarModule):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(3))

    def param_groups(self):
        return [ParamGroup("weight", [self.weight], 0.1)]


class Forgetful(Declared):
    """Declares ``weight`` but not ``bias``: ``bias`` would silently never train."""

    def __init__(self):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(3))


class Plain(Declared):
    """Holds a learnable tensor as a plain attribute: never optimised, never checkpointed."""

    def __init__(self):
        super().__init__()
        self.scale = torch.ones(3, requires_grad=True)


def test_a_module_that_keeps_the_contract_passes():
    modules = {"ok": Declared()}
    check_sanity(modules, make_optimizers(modules))


def test_an_undeclared_parameter_is_named():
    modules = {"forgetful": Forgetful()}
    with pytest.raises(SanityError, match=r"forgetful\.bias is learnable but in no optimizer group"):
        check_sanity(modules, make_optimizers(modules))


def test_a_learnable_plain_attribute_is_named():
    modules = {"plain": Plain()}
    with pytest.raises(SanityError, match=r"plain\.scale holds a learnable tensor"):
        check_sanity(modules, make_optimizers(modules))


def test_an_optimizer_holding_a_replaced_tensor_is_named():
    module = Declared()
    optimizers = make_optimizers({"m": module})
    # Replaced without carrying the optimizer (frozen, so only the ghost in the optimizer is wrong).
    module.weight = nn.Parameter(torch.zeros(4), requires_grad=False)
    with pytest.raises(SanityError, match="no module owns"):
        check_sanity({"m": module}, optimizers)


def test_a_frozen_group_is_left_out_and_passes():
    module = Declared()
    module.param_groups = lambda: [ParamGroup("weight", [module.weight], 0.0)]
    optimizers = make_optimizers({"m": module})
    assert optimizers == [] and not module.weight.requires_grad
    check_sanity({"m": module}, optimizers)
