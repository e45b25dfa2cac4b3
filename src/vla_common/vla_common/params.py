"""Typed ROS 2 parameters from a table of specs: description, range, choices, validation.

A node lists its parameters once as ``ParamSpec``s; :func:`declare_params` declares them
with descriptors (description, integer/floating-point range, read-only flag) and returns their
values; :func:`add_validation` rejects out-of-range or out-of-choice sets with a reason, as
``ros2 param set`` users expect, and hands each accepted set to the node as one change.

Every declared parameter has a value: a list parameter whose default is empty is declared by type
and then given an empty list of that type, so `ros2 param get/dump` show it (an unset, typed
parameter reads as "not set" and raises in rclpy's get_parameter).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import yaml
from rcl_interfaces.msg import (FloatingPointRange, IntegerRange, ParameterDescriptor,
                                SetParametersResult)
from rclpy.node import Node
from rclpy.parameter import Parameter


@dataclass(frozen=True)
class ParamSpec:
    name: str
    default: Any
    description: str
    min: float | None = None
    max: float | None = None
    choices: Sequence[str] = ()
    read_only: bool = False
    #: for an empty-list default, the list type: 'double_array', 'string_array' or 'integer_array'
    array_type: str = ''

    def check(self, value: Any) -> str | None:
        """Reason the value is not acceptable, or None."""
        values = value if isinstance(value, (list, tuple)) else [value]
        for v in values:
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                if self.min is not None and v < self.min:
                    return f'{self.name}={v} is below its minimum {self.min}'
                if self.max is not None and v > self.max:
                    return f'{self.name}={v} is above its maximum {self.max}'
        if self.choices and value not in self.choices:
            return f"{self.name}='{value}' is not one of {list(self.choices)}"
        return None

    def descriptor(self) -> ParameterDescriptor:
        d = ParameterDescriptor(description=self.description, read_only=self.read_only)
        if self.choices:
            d.additional_constraints = 'one of: ' + ', '.join(self.choices)
        scalar = self.default[0] if isinstance(self.default, (list, tuple)) and self.default else self.default
        if self.min is not None and self.max is not None and not isinstance(scalar, bool):
            if isinstance(scalar, int):
                d.integer_range = [IntegerRange(from_value=int(self.min), to_value=int(self.max), step=0)]
            elif isinstance(scalar, float):
                d.floating_point_range = [FloatingPointRange(from_value=float(self.min), to_value=float(self.max), step=0.0)]
        return d


def declare_params(node: Node, specs: Sequence[ParamSpec]) -> dict[str, Any]:
    """Declare every spec on ``node`` and return {name: value}. Raises ValueError on a bad value."""
    values = {}
    for s in specs:
        if isinstance(s.default, (list, tuple)) and not s.default:
            kinds = {'double_array': Parameter.Type.DOUBLE_ARRAY, 'string_array': Parameter.Type.STRING_ARRAY,
                     'integer_array': Parameter.Type.INTEGER_ARRAY}
            if s.array_type not in kinds:
                raise ValueError(f'{s.name}: an empty list default needs array_type (one of {list(kinds)})')
            kind = kinds[s.array_type]
            descriptor = s.descriptor()
            writable = ParameterDescriptor(description=descriptor.description)
            p = node.declare_parameter(s.name, kind, writable)
            if p.type_ == Parameter.Type.NOT_SET:       # not in the params file: an empty list of its type
                node.set_parameters([Parameter(s.name, kind, [])])
                p = node.get_parameter(s.name)
            descriptor.type = kind.value
            node.set_descriptor(s.name, descriptor)     # read-only only now that it has its value
            v = list(p.value) if p.value is not None else []
        else:
            _float_override(node, s)
            p = node.declare_parameter(s.name, s.default, s.descriptor())
            v = p.value
        v = plain_value(v)
        if isinstance(s.default, float) and isinstance(v, int):
            v = float(v)
        reason = s.check(v)
        if reason:
            raise ValueError(f'parameter {reason}')
        values[s.name] = v
    return values


def _float_override(node: Node, spec: ParamSpec) -> None:
    """``-p timeout:=1`` or ``timeout: 1`` in a params file for a double parameter: take it as
    1.0, as ``ros2 param set`` does here, instead of refusing to start (rclpy checks the override's
    type against the default's). The overrides are rclpy's own table (no public accessor)."""
    overrides = getattr(node, '_parameter_overrides', None)
    given = overrides.get(spec.name) if isinstance(overrides, dict) else None
    if isinstance(spec.default, float) and given is not None and given.type_ == Parameter.Type.INTEGER:
        overrides[spec.name] = Parameter(spec.name, Parameter.Type.DOUBLE, float(given.value))


def plain_value(value: Any) -> Any:
    """A parameter value as plain Python (rclpy gives arrays as array.array)."""
    if isinstance(value, (list, tuple)) or type(value).__name__ == 'array':
        return list(value)
    return value


_ARRAY_TYPES = (Parameter.Type.BYTE_ARRAY, Parameter.Type.BOOL_ARRAY, Parameter.Type.INTEGER_ARRAY,
                Parameter.Type.DOUBLE_ARRAY, Parameter.Type.STRING_ARRAY)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def coerce_value(declared: Parameter.Type, given: Parameter.Type, value: Any):
    """(type, value) to set a parameter declared as ``declared`` to, or None to leave it as given.

    Only lossless readings of what the ``ros2`` CLI sends: an empty list of any array type for an
    array parameter; an integer for a double; an integer array, or a string holding a list of
    numbers (the CLI's guess for ``[0.3, 0]``), for a double array.
    """
    if declared == given:
        return None
    if declared in _ARRAY_TYPES and given in _ARRAY_TYPES and len(value) == 0:
        return declared, []
    if declared == Parameter.Type.DOUBLE and given == Parameter.Type.INTEGER:
        return declared, float(value)
    if declared == Parameter.Type.DOUBLE_ARRAY:
        if given == Parameter.Type.INTEGER_ARRAY:
            return declared, [float(v) for v in value]
        if given == Parameter.Type.STRING:
            try:
                parsed = yaml.safe_load(value)
            except yaml.YAMLError:
                return None
            if isinstance(parsed, list) and all(_is_number(v) for v in parsed):
                return declared, [float(v) for v in parsed]
    return None


def add_validation(node: Node, specs: Sequence[ParamSpec], on_change=None, check=None) -> None:
    """Reject runtime sets that break a spec, or that ``check`` refuses; apply accepted ones.

    ``check(changes) -> reason | None`` sees every accepted set whole ({name: value} of the specs'
    parameters in it), so rules across parameters (a zone inside another) refuse with a reason and
    change nothing. ``on_change(changes)`` is called once per accepted set, after rclpy stored it:
    parameters set together take effect together.
    """
    by_name = {s.name: s for s in specs}

    def validate(params: list[Parameter]) -> SetParametersResult:
        changes = {}
        for p in params:
            s = by_name.get(p.name)
            if s is None:
                continue
            if s.read_only:
                return SetParametersResult(successful=False, reason=f'{p.name} is read-only; restart the node to change it')
            value = plain_value(p.value)
            reason = s.check(value)
            if reason:
                return SetParametersResult(successful=False, reason=reason)
            changes[p.name] = value
        if changes and check is not None:
            reason = check(changes)
            if reason:
                return SetParametersResult(successful=False, reason=reason)
        return SetParametersResult(successful=True)

    def coerce(params: list[Parameter]) -> list[Parameter]:
        out = []
        for p in params:
            if p.name in by_name and node.has_parameter(p.name):
                declared = node.get_parameter(p.name).type_
                c = coerce_value(declared, p.type_, p.value)
                if c is not None:
                    p = Parameter(p.name, *c)
            out.append(p)
        return out

    node.add_pre_set_parameters_callback(coerce)
    node.add_on_set_parameters_callback(validate)
    if on_change is not None:
        def post(params: list[Parameter]) -> None:
            changes = {p.name: plain_value(p.value) for p in params if p.name in by_name}
            if changes:
                on_change(changes)
        node.add_post_set_parameters_callback(post)
