"""Checkpoints: tensors in safetensors, everything else in JSON, both written atomically.

A checkpoint ``NAME`` is the pair ``NAME.safetensors`` + ``NAME.json``. The JSON is written last
(after the tensors are complete and renamed), so a checkpoint counts as present only when its
JSON exists: a run killed in the middle of writing leaves at worst an orphaned temporary file.

A long job's checkpoint holds named parts (:data:`Parts`: the avatar, the training frames'
corrections, an optimizer's state, ...): each part's tensor ``KEY`` is stored as ``PART.KEY`` and
its metadata under ``parts.PART`` of the JSON. :func:`save_parts`, :func:`load_parts` and
:func:`read_part` are the only code that knows that layout.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from headsplat.io.atomic import atomic_write
from headsplat.io.errors import InputError

CHECKPOINT_FIX = (
    "Delete this checkpoint (its .json and .safetensors) to resume from the one before it, or "
    "restart the run with --overwrite."
)


@contextmanager
def damage_reported(path: str | Path, what: str, fix: str) -> Iterator[None]:
    """Within it, a truncated or damaged file ``path`` (safetensors, or JSON that does not parse)
    raises an :class:`InputError` naming the file, ``what`` it should be and ``fix``, not the
    reader's traceback. (safetensors checks its header and the file's length; changed tensor bytes
    go unnoticed.)"""
    try:
        yield
    except (SafetensorError, json.JSONDecodeError) as error:
        raise InputError(
            f"{path}: not a complete {what}: truncated, damaged or another kind of file ({error}). {fix}"
        ) from None


def save_checkpoint(folder: Path, name: str, tensors: dict[str, torch.Tensor], meta: dict) -> Path:
    """Write ``folder/name.safetensors`` and ``folder/name.json``; returns the JSON path."""
    folder.mkdir(parents=True, exist_ok=True)
    contiguous = {key: value.detach().contiguous().cpu() for key, value in tensors.items()}
    atomic_write(folder / f"{name}.safetensors", lambda p: save_file(contiguous, str(p)))
    atomic_write(folder / f"{name}.json", lambda p: p.write_text(json.dumps(meta, indent=2) + "\n"))
    return folder / f"{name}.json"


def load_checkpoint(json_path: Path) -> tuple[dict[str, torch.Tensor], dict]:
    """(tensors, meta) of the checkpoint whose JSON is ``json_path``."""
    tensors_path = json_path.with_suffix(".safetensors")
    with damage_reported(json_path, "checkpoint", CHECKPOINT_FIX):
        meta = json.loads(json_path.read_text())
    with damage_reported(tensors_path, "checkpoint", CHECKPOINT_FIX):
        return load_file(str(tensors_path)), meta


def with_prefix(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The tensors whose names start with ``prefix`` (e.g. ``"net."``), the prefix removed."""
    return {k.removeprefix(prefix): v for k, v in tensors.items() if k.startswith(prefix)}


Parts = dict[str, tuple[dict[str, torch.Tensor], dict]]
"""A checkpoint's contents: each named part's tensors and JSON metadata."""

PARTS_FORMAT = 2
"""The layout of :func:`save_parts` (1: each job flattened its own names, before the parts)."""


def save_parts(folder: Path, step: int, parts: Parts) -> Path:
    """Write the checkpoint ``folder/step_NNNNNNN`` of ``parts``; returns its JSON path."""
    tensors = {f"{part}.{key}": value for part, (values, _) in parts.items() for key, value in values.items()}
    meta = {"format": PARTS_FORMAT, "step": step, "parts": {part: meta for part, (_, meta) in parts.items()}}
    return save_checkpoint(folder, f"step_{step:07d}", tensors, meta)


def load_parts(json_path: Path) -> Parts:
    """The parts :func:`save_parts` wrote in the checkpoint ``json_path``.

    Raises:
        InputError: a damaged checkpoint, or one of an older layout (naming the fix).
    """
    tensors, meta = load_checkpoint(json_path)
    if meta.get("format") != PARTS_FORMAT:
        raise InputError(
            f"{json_path}: a checkpoint of an older headsplat (layout {meta.get('format', 1)}, this one "
            f"continues from {PARTS_FORMAT}). A finished run still evaluates, renders and exports; to "
            "continue this one, restart it with --overwrite."
        )
    return {part: (with_prefix(tensors, f"{part}."), part_meta) for part, part_meta in meta["parts"].items()}


def read_part(json_path: Path, part: str) -> dict[str, torch.Tensor]:
    """The tensors of one part of the checkpoint ``json_path`` (only those are read): the same
    names in both layouts for the parts ``avatar`` and ``frames``."""
    tensors_path, prefix = json_path.with_suffix(".safetensors"), f"{part}."
    with (
        damage_reported(tensors_path, "checkpoint", CHECKPOINT_FIX),
        safe_open(str(tensors_path), "pt") as file,
    ):
        names = [k for k in file.keys() if k.startswith(prefix)]  # noqa: SIM118 (the handle is no dict)
        return {k.removeprefix(prefix): file.get_tensor(k) for k in names}


def latest_checkpoint(folder: Path) -> Path | None:
    """JSON of the complete checkpoint with the highest step (names ``step_NNNNNNN``), or None."""
    found = sorted(folder.glob("step_*.json")) if folder.is_dir() else []
    return found[-1] if found else None


def _parameter_names(optimizer: torch.optim.Optimizer):
    """(name, parameter, group) for each parameter: its group's name, with ``#i`` for the i-th
    parameter after the first of a group that holds several (an MLP's weights and biases)."""
    for index, group in enumerate(optimizer.param_groups):
        name = group.get("name", str(index))
        for i, param in enumerate(group["params"]):
            yield (name if i == 0 else f"{name}#{i}"), param, group


def optimizer_tensors(optimizer: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    """The optimizer's per-parameter state as flat tensors ``<name>/<key>`` (names from
    :func:`_parameter_names`)."""
    out = {}
    for name, param, _ in _parameter_names(optimizer):
        for key, value in optimizer.state.get(param, {}).items():
            out[f"{name}/{key}"] = torch.as_tensor(value)
    return out


def restore_optimizer(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor]) -> None:
    """Put back what :func:`optimizer_tensors` saved, on each parameter's device (Adam keeps its
    ``step`` count on the CPU unless fused or capturable)."""
    for name, param, group in _parameter_names(optimizer):
        on_device = group.get("fused") or group.get("capturable")
        state = {
            key.rsplit("/", 1)[1]: value.to(
                param.device if on_device or not key.endswith("/step") else "cpu", copy=True
            )
            for key, value in tensors.items()
            if key.startswith(f"{name}/")
        }
        if state:
            optimizer.state[param] = state
