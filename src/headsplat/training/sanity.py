"""Fail loudly when a learnable tensor escapes the module contract (gsplat's ``check_sanity``): a
tensor that is learnable but in no optimizer group is silently never trained, one held as a plain
attribute is silently never checkpointed, and an optimizer holding a tensor no module owns any
more is training a ghost (a row operation that did not carry it along)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

MODULE_INTERNALS = ("_parameters", "_buffers", "_modules")


class SanityError(RuntimeError):
    """A defect in how a module declares its tensors; the message names the tensor and the fix."""


def _plain_tensors(value) -> list[torch.Tensor]:
    if torch.is_tensor(value):
        return [value]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _plain_tensors(v)]
    if isinstance(value, list | tuple):
        return [t for v in value for t in _plain_tensors(v)]
    return []


def check_sanity(modules: dict[str, nn.Module], optimizers: Sequence[torch.optim.Optimizer]) -> None:
    """Check that every learnable tensor of ``modules`` (by prefix) is a registered parameter held
    by exactly one optimizer group, and that the optimizers hold nothing else.

    Raises:
        SanityError: naming the offending tensor and the fix.
    """
    held: dict[int, str] = {}
    for optimizer in optimizers:
        for group in optimizer.param_groups:
            for param in group["params"]:
                if id(param) in held:
                    raise SanityError(
                        f"a tensor is in two optimizer groups: {held[id(param)]} and {group['name']}"
                    )
                held[id(param)] = group.get("name", "?")
    owned = set()
    for prefix, module in modules.items():
        for name, param in module.named_parameters(prefix=prefix):
            owned.add(id(param))
            if param.requires_grad and id(param) not in held:
                raise SanityError(
                    f"{name} is learnable but in no optimizer group, so it would never be trained: "
                    "declare it in its module's param_groups(), or freeze it with requires_grad_(False)"
                )
        for path, sub in module.named_modules(prefix=prefix):
            for attribute, value in vars(sub).items():
                if attribute in MODULE_INTERNALS:
                    continue
                if any(t.requires_grad for t in _plain_tensors(value)):
                    raise SanityError(
                        f"{path}.{attribute} holds a learnable tensor outside the module's parameters: it "
                        "would be neither optimised nor checkpointed; register it as nn.Parameter"
                    )
    for param_id, group in held.items():
        if param_id not in owned:
            raise SanityError(
                f"optimizer group {group} holds a tensor no module owns: a row operation replaced it "
                "without carrying the optimizer (use Avatar.change_rows)"
            )
