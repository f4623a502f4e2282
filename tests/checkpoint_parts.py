"""Checkpoint parts in the tests: kept copies of live ones, and every tensor by its stored name."""

import copy

import torch

from headsplat.io.checkpoint import Parts


def copied(parts: Parts) -> Parts:
    """A copy of ``parts`` that training going on does not change (a state's tensors are live)."""
    return {
        name: ({k: v.clone() for k, v in tensors.items()}, copy.deepcopy(meta))
        for name, (tensors, meta) in parts.items()
    }


def flat_tensors(parts: Parts) -> dict[str, torch.Tensor]:
    """Every tensor of ``parts`` by ``PART.KEY``."""
    return {f"{name}.{key}": value for name, (tensors, _) in parts.items() for key, value in tensors.items()}
