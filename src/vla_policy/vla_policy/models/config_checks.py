"""The machinery of the seed VLA's config blocks: dict round trips and field checks (plain Python).

A block is a frozen dataclass deriving from :class:`ConfigBlock` that implements ``_check`` and
lists in ``_applies`` the fields only some of its types read (field -> predicate on the block).
Such a field must keep its default when it does not apply; ``to_dict`` leaves it out.
"""
from __future__ import annotations

import dataclasses
import math
from types import SimpleNamespace
from typing import Any, Callable, ClassVar, Mapping


def is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def is_real(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


class ConfigBlock:
    """Base of the config blocks (see the module docstring)."""

    #: how error messages name the block, e.g. 'SeedVLAConfig.vision'
    _where: ClassVar[str]
    #: field -> does it apply to this block (a predicate on the block's values)
    _applies: ClassVar[dict[str, Callable[[Any], bool]]]

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            if isinstance(getattr(self, f.name), list):
                self._set(f.name, tuple(getattr(self, f.name)))
        self._check()
        for name, applies in self._applies.items():
            default = self._default(name)
            if not applies(self) and getattr(self, name) != default:
                raise ValueError(f'{self._path(name)}={getattr(self, name)!r} is not read with {self._kind()}; '
                                 f'remove it (or leave it at its default, {default!r})')

    def _check(self) -> None:
        """Validate (and normalise) the fields; raise ValueError saying how to fix."""

    # -- helpers for _check ---------------------------------------------------------------------
    def _set(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)

    def _fill(self, defaults: Mapping[str, Any]) -> None:
        """Fields left unset (None) take ``defaults``."""
        for name, value in defaults.items():
            if getattr(self, name, 0) is None:
                self._set(name, value)

    @classmethod
    def _path(cls, name: str) -> str:
        return f'{cls._where}.{name}'

    def _kind(self) -> str:
        deciding = [f for f in ('type', 'encoder', 'tokenizer', 'pooling', 'point_features') if hasattr(self, f)]
        return ', '.join(f'{f}={getattr(self, f)!r}' for f in deciding)

    @classmethod
    def _default(cls, name: str) -> Any:
        f = next(f for f in dataclasses.fields(cls) if f.name == name)
        return f.default_factory() if f.default is dataclasses.MISSING else f.default

    # -- dicts -------------------------------------------------------------------------------------
    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]):
        """Build from a mapping; unknown keys are an error naming them, missing ones default."""
        where = cls._where
        if not isinstance(data, Mapping):
            raise ValueError(f'{where} needs a mapping of field -> value, got {type(data).__name__}')
        known = cls.field_names()
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ValueError(f'{where} has no field(s) {unknown}; known fields: {", ".join(known)}'
                             f'{cls._unknown_hint(unknown)}')
        return cls(**dict(data))

    @classmethod
    def _unknown_hint(cls, unknown: list[str]) -> str:
        return ''

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of the fields that apply (tuples become lists); ``from_dict(to_dict())`` is equal."""
        out: dict[str, Any] = {}
        for name in self.field_names():
            if name in self._applies and not self._applies[name](self):
                continue
            v = getattr(self, name)
            out[name] = v.to_dict() if isinstance(v, ConfigBlock) else list(v) if isinstance(v, tuple) else v
        return out

    @classmethod
    def applicable(cls, data: Mapping[str, Any]) -> dict[str, Any]:
        """``data`` without the fields that do not apply to the block it describes."""
        data = dict(data)
        while True:
            probe = SimpleNamespace(**{**{n: cls._default(n) for n in cls.field_names()}, **data})
            cls._resolve(probe)
            drop = [k for k in data if k in cls._applies and not cls._applies[k](probe)]
            if not drop:
                return data
            for k in drop:
                del data[k]

    @classmethod
    def _resolve(cls, probe: SimpleNamespace) -> None:
        """Fill the unset (None) fields the predicates of ``_applies`` read, as ``_check`` would."""


def check_int(cfg: ConfigBlock, name: str, lo: int, hi: int, hint: str) -> None:
    v = getattr(cfg, name)
    if isinstance(v, float) and v.is_integer():
        v = int(v)
        cfg._set(name, v)
    if not (is_int(v) and lo <= v <= hi):
        raise ValueError(f'{cfg._path(name)} must be an integer in [{lo}, {hi}], got {v!r}; {hint}')


def check_real(cfg: ConfigBlock, name: str, lo: float, hi: float, hint: str, *, unit: str = 'a number',
               lo_open: bool = False, hi_open: bool = False) -> None:
    """A finite number in the interval (stored as float); ``unit`` names it in the error."""
    v = getattr(cfg, name)
    inside = is_real(v) and (v > lo if lo_open else v >= lo) and (v < hi if hi_open else v <= hi)
    if not inside:
        if math.isinf(hi):
            interval = f'{">" if lo_open else ">="} {lo:g}'
        else:
            interval = f'in {"(" if lo_open else "["}{lo:g}, {hi:g}{")" if hi_open else "]"}'
        raise ValueError(f'{cfg._path(name)} must be {unit + " " if unit else ""}{interval}, got {v!r}; {hint}')
    cfg._set(name, float(v))


def check_choice(cfg: ConfigBlock, name: str, choices: tuple[str, ...]) -> None:
    if getattr(cfg, name) not in choices:
        raise ValueError(f'{cfg._path(name)} must be one of {", ".join(choices)}, got {getattr(cfg, name)!r}')
