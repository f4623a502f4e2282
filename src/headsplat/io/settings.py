"""Nested settings dataclasses: to and from JSON, and ``--set SECTION.FIELD=VALUE`` overrides.

A field whose ``metadata`` holds a ``registry`` (a dict name -> class with a ``Config``
dataclass) is a mechanism slot: an ordered dict of enabled names -> their configs. ``--set
SLOT=a,b`` chooses the mechanisms in order (keeping the settings of those already there);
``--set SLOT.NAME.FIELD=VALUE`` sets one mechanism's field (enabling it if it was not).
A slot may hold one mechanism (``choose="one"``, the strategy) or at most one
(``"at_most_one"``, completion; ``none`` chooses none): there ``--set SLOT=NAME`` switches,
the new mechanism taking over the fields it shares with the old one (a preset's densification
schedule survives a change of strategy), and ``SLOT.NAME.FIELD`` must name the chosen one.
Unknown names give an :class:`InputError` that lists the known ones.
"""

from __future__ import annotations

import copy
import dataclasses
import typing
from collections.abc import Callable
from typing import Any, Literal

from headsplat.io.errors import InputError

Choose = Literal["any", "one", "at_most_one"]


def registry_field(registry: dict, default: dict[str, Any], *, choose: Choose = "any") -> Any:
    """A dataclass field for a mechanism slot: ``default`` maps names to config instances;
    ``choose`` says how many of the registry's mechanisms it holds (``any``: an ordered list)."""
    metadata = {"registry": registry, "choose": choose}
    return dataclasses.field(default_factory=lambda: copy.deepcopy(default), metadata=metadata)


def registering(registry: dict, kind: str) -> Callable[[str], Callable[[type], type]]:
    """The class decorator factory of a registry: ``@register("name")`` adds the class under
    ``name``; a name registered twice raises (a mechanism would silently replace another)."""

    def register(name: str) -> Callable[[type], type]:
        def add(cls: type) -> type:
            if name in registry:
                raise ValueError(f"a {kind} named {name!r} is already registered ({registry[name].__name__})")
            registry[name] = cls
            return cls

        return add

    return register


def the_chosen(slot: dict[str, Any]) -> tuple[str, Any] | None:
    """The (name, config) a one-mechanism slot holds, or None for an empty one."""
    return next(iter(slot.items()), None)


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
            _check_count(list(value), fields[name].metadata["choose"], f"{where}{name}")
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


def _check_count(names: list[str], choose: Choose, where: str) -> None:
    if (choose == "one" and len(names) != 1) or (choose == "at_most_one" and len(names) > 1):
        wanted = "one name" if choose == "one" else "one name or none"
        raise InputError(f"{where} takes {wanted}, got {', '.join(names) or 'none'}")


def choose_mechanisms(settings, slot: str, names: list[str]) -> None:
    """Set the mechanisms of ``settings``'s field ``slot``, in order (see the module: the ones
    already there keep their settings; in a one-mechanism slot the new one takes the old one's
    shared fields).

    Raises:
        InputError: an unknown name, or more names than the slot holds.
    """
    field = {f.name: f for f in dataclasses.fields(settings)}[slot]
    registry, choose = field.metadata["registry"], field.metadata["choose"]
    if choose == "at_most_one":
        names = [n for n in names if n != "none"]
    _check_count(names, choose, slot)
    current: dict[str, Any] = getattr(settings, slot)
    chosen = {}
    for name in names:
        if name in current:
            chosen[name] = current[name]
            continue
        config_type = _mechanism(registry, name, slot).Config
        shared = {}
        if choose != "any" and current:
            own = {f.name for f in dataclasses.fields(config_type)}
            shared = {k: v for k, v in dataclasses.asdict(next(iter(current.values()))).items() if k in own}
        chosen[name] = config_type(**shared)
    setattr(settings, slot, chosen)


def _chosen_entry(slot: dict[str, Any], registry: dict, choose: Choose, name: str, key: str, where: str):
    """The config ``name`` of the mechanism slot ``where`` that ``--set key`` reaches: enabled
    when an any-slot lacks it; in a one-mechanism slot it must be the chosen one."""
    if name in slot:
        return slot[name]
    if choose == "any":
        slot[name] = _mechanism(registry, name, where).Config()
        return slot[name]
    chosen = the_chosen(slot)
    if name in registry:
        now = chosen[0] if chosen else "none"
        raise InputError(f"--set {key}: the {where} is {now}; choose {name} first (--set {where}={name})")
    if chosen is None:
        raise InputError(f"--set {key}: there is no {where} to set; known: {', '.join(sorted(registry))}")
    fields = ", ".join(f.name for f in dataclasses.fields(chosen[1]))
    raise InputError(
        f"--set {key}: the {where}'s settings go under its name, {where}.{chosen[0]}.FIELD; {chosen[0]} "
        f"has: {fields} (known {where} names: {', '.join(sorted(registry))})"
    )


def apply_setting(settings, assignment: str) -> None:
    """Apply one ``SECTION.FIELD=VALUE`` to ``settings`` in place.

    Raises:
        InputError: malformed, an unknown field or mechanism, or a value of the wrong type.
    """
    key, equals, text = assignment.partition("=")
    if not equals or not key:
        raise InputError(f"--set takes SECTION.FIELD=VALUE (e.g. loss.ssim_weight=0.2), got {assignment!r}")
    parts = key.split(".")
    target, registry, choose = settings, None, "any"
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        where = ".".join(parts[:depth]) or "the run config"
        if registry is not None:  # target is a mechanism slot: part names a mechanism
            entry = _chosen_entry(target, registry, choose, part, key, where)
            if last:
                raise InputError(f"--set {key}: give a field of {part} (e.g. {key}.FIELD=VALUE)")
            target, registry = entry, None
            continue
        fields = {f.name: f for f in dataclasses.fields(target)}
        if part not in fields:
            raise InputError(f"unknown setting {key!r}: {where} has {', '.join(fields)}")
        slot, choose = fields[part].metadata.get("registry"), fields[part].metadata.get("choose", "any")
        if last and slot is not None:
            choose_mechanisms(target, part, [n for n in text.split(",") if n])
        elif last:
            kind = typing.get_type_hints(type(target))[part]
            if dataclasses.is_dataclass(kind) or kind not in (bool, int, float, str):
                raise InputError(f"--set {key}: {part} is a section; set one of its fields")
            setattr(target, part, _parse(text, kind, key))
        else:
            target, registry = getattr(target, part), slot
            if registry is None and not dataclasses.is_dataclass(target):
                raise InputError(f"--set {key}: {part} has no fields")
