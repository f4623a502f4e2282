"""Nested settings dataclasses: to and from JSON, and ``--set SECTION.FIELD=VALUE`` overrides.

A field whose ``metadata`` holds a ``registry`` (a dict name -> class with a ``Config``
dataclass) is a mechanism slot: an ordered dict of enabled names -> their configs. ``--set
SLOT=a,b`` chooses the mechanisms in order (keeping the settings of those already there);
``--set SLOT.NAME.FIELD=VALUE`` sets one mechanism's field (enabling it if it was not).
Unknown names give an :class:`InputError` that lists the known ones.
"""

from __future__ import annotations

import copy
import dataclasses
import typing
from typing import Any

from headsplat.io.errors import InputError


def registry_field(registry: dict, default: dict[str, Any]) -> Any:
    """A dataclass field for a mechanism slot: ``default`` maps names to config instances."""
    return dataclasses.field(default_factory=lambda: copy.deepcopy(default), metadata={"registry": registry})


def to_dict(settings) -> dict:
    """JSON-ready nested dict of a settings dataclass."""
    return dataclasses.asdict(settings)


def _mechanism(registry: dict, name: str, where: str):
    if name not in registry:
        raise InputError(f"unknown {where} {name!r}; known: {', '.join(sorted(registry)) or 'none'}")
    return registry[name]


def from_dict(cls: type, values: dict, where: str = ""):
    """The settings dataclass ``cls`` from a nested dict (missing fields take their defaults).

    Raises:
        InputError: an unknown field or mechanism name, naming it and the known ones.
    """
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise InputError(f"unknown setting {where}{unknown[0]}; {cls.__name__} has: {', '.join(fields)}")
    kwargs = {}
    for name, value in values.items():
        registry = fields[name].metadata.get("registry")
        if registry is not None:
            kwargs[name] = {
                key: from_dict(
                    _mechanism(registry, key, f"{where}{name}").Config, options, f"{where}{name}.{key}."
                )
                for key, options in value.items()
            }
        elif dataclasses.is_dataclass(hints[name]):
            kwargs[name] = from_dict(hints[name], value, f"{where}{name}.")
        else:
            kwargs[name] = value
    return cls(**kwargs)


def _parse(text: str, kind: type, key: str):
    try:
        if kind is bool:
            if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(text)
            return text.lower() in ("true", "1", "yes")
        return kind(text)
    except ValueError:
        raise InputError(f"--set {key}: {text!r} is not a {kind.__name__}") from None


def apply_setting(settings, assignment: str) -> None:
    """Apply one ``SECTION.FIELD=VALUE`` to ``settings`` in place.

    Raises:
        InputError: malformed, an unknown field or mechanism, or a value of the wrong type.
    """
    key, equals, text = assignment.partition("=")
    if not equals or not key:
        raise InputError(f"--set takes SECTION.FIELD=VALUE (e.g. loss.ssim_weight=0.2), got {assignment!r}")
    parts = key.split(".")
    target, registry = settings, None
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        where = ".".join(parts[:depth]) or "the run config"
        if registry is not None:  # target is a mechanism slot: part names a mechanism
            if part not in target:
                target[part] = _mechanism(registry, part, where).Config()
            if last:
                raise InputError(f"--set {key}: give a field of {part} (e.g. {key}.FIELD=VALUE)")
            target, registry = target[part], None
            continue
        fields = {f.name: f for f in dataclasses.fields(target)}
        if part not in fields:
            raise InputError(f"unknown setting {key!r}: {where} has {', '.join(fields)}")
        slot = fields[part].metadata.get("registry")
        if last and slot is not None:
            names = [n for n in text.split(",") if n]
            current = getattr(target, part)
            setattr(target, part, {n: current.get(n) or _mechanism(slot, n, part).Config() for n in names})
        elif last:
            kind = typing.get_type_hints(type(target))[part]
            if dataclasses.is_dataclass(kind) or kind not in (bool, int, float, str):
                raise InputError(f"--set {key}: {part} is a section; set one of its fields")
            setattr(target, part, _parse(text, kind, key))
        else:
            target, registry = getattr(target, part), slot
            if registry is None and not dataclasses.is_dataclass(target):
                raise InputError(f"--set {key}: {part} has no fields")
