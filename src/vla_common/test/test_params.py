"""vla_common.params: values typed as the `ros2` CLI types them reach the declared parameter.

`ros2 param set` guesses a type from the YAML of its argument (rclpy.parameter.get_parameter_value):
`[]` is a bool array, `1` an integer, `[0.3, 0]` a string. `ros2 param load` of a dump reads
`footprint: []` the same way. The node must take these as its declared type where nothing is
lost, and refuse the rest with rclpy's type error.
"""
from __future__ import annotations

import random

import pytest

from vla_common.params import ParamSpec, add_validation, coerce_value, declare_params

rclpy = pytest.importorskip('rclpy')
from rclpy.parameter import Parameter, get_parameter_value  # noqa: E402

SPECS = [
    ParamSpec('polygon', [], 'flat x, y list', -10.0, 10.0, array_type='double_array'),
    ParamSpec('names', [], 'names', array_type='string_array'),
    ParamSpec('speed', 0.5, 'm/s', 0.0, 10.0),
    ParamSpec('count', 3, 'ticks', 1, 100),
    ParamSpec('frame', 'base_link', 'frame', read_only=True),
]


def _cli(name: str, text: str) -> Parameter:
    """The parameter `ros2 param set <node> <name> <text>` sends."""
    from rcl_interfaces.msg import Parameter as ParameterMsg
    return Parameter.from_parameter_msg(ParameterMsg(name=name, value=get_parameter_value(text)))


@pytest.fixture()
def node():
    from rclpy.context import Context
    from rclpy.node import Node
    ctx = Context()
    rclpy.init(context=ctx, domain_id=random.randint(1, 200))
    n = Node('params_test', context=ctx)
    changes = []
    declare_params(n, SPECS)
    add_validation(n, SPECS, on_change=changes.append)
    n.changes = changes
    try:
        yield n
    finally:
        n.destroy_node()
        rclpy.try_shutdown(context=ctx)


def test_cli_types_are_taken_as_the_declared_type(node):
    assert node.set_parameters([_cli('polygon', '[0.3, 0.0, 0.0, 0.3, -0.3, 0.0]')])[0].successful
    assert list(node.get_parameter('polygon').value) == [0.3, 0.0, 0.0, 0.3, -0.3, 0.0]
    # `[]` (a bool array to the CLI, and in a loaded dump) clears an array of any type
    for name in ('polygon', 'names'):
        r = node.set_parameters([_cli(name, '[]')])[0]
        assert r.successful, r.reason
        p = node.get_parameter(name)
        assert list(p.value) == [] and p.type_ == node.describe_parameter(name).type
    assert node.get_parameter('polygon').type_ == Parameter.Type.DOUBLE_ARRAY
    # integers for doubles, alone or in a list; a mixed list (a string to the CLI)
    assert node.set_parameters([_cli('speed', '1')])[0].successful
    assert node.get_parameter('speed').value == 1.0
    assert node.set_parameters([_cli('polygon', '[1, 0, 0, 1, -1, 0]')])[0].successful
    assert list(node.get_parameter('polygon').value) == [1.0, 0.0, 0.0, 1.0, -1.0, 0.0]
    assert node.set_parameters([_cli('polygon', '[0.3, 0, 0, 0.3, -0.3, 0]')])[0].successful
    assert list(node.get_parameter('polygon').value) == [0.3, 0.0, 0.0, 0.3, -0.3, 0.0]
    assert node.changes[-1] == {'polygon': [0.3, 0.0, 0.0, 0.3, -0.3, 0.0]}


def test_what_would_lose_information_is_still_refused(node):
    for name, text in [('speed', 'fast'), ('count', '2.5'), ('count', '2.0'), ('polygon', '[true, false]'),
                       ('polygon', "[0.3, 'a']"), ('names', '[1, 2]'), ('polygon', '0.3')]:
        r = node.set_parameters([_cli(name, text)])[0]
        assert not r.successful and r.reason, (name, text)
    # range checks still apply to the coerced value; read-only stays read-only
    assert not node.set_parameters([_cli('speed', '11')])[0].successful
    assert not node.set_parameters([_cli('polygon', '[0, 20]')])[0].successful
    assert not node.set_parameters([_cli('frame', 'map')])[0].successful
    assert node.get_parameter('speed').value == 0.5 and list(node.get_parameter('polygon').value) == []


def test_atomic_sets_are_coerced_together(node):
    r = node.set_parameters_atomically([_cli('speed', '2'), _cli('polygon', '[]'), _cli('count', '4')])
    assert r.successful, r.reason
    assert node.changes[-1] == {'speed': 2.0, 'polygon': [], 'count': 4}


def test_coerce_value_is_lossless_only():
    T = Parameter.Type
    assert coerce_value(T.DOUBLE, T.DOUBLE, 1.0) is None
    assert coerce_value(T.STRING_ARRAY, T.BOOL_ARRAY, []) == (T.STRING_ARRAY, [])
    assert coerce_value(T.STRING_ARRAY, T.BOOL_ARRAY, [True]) is None
    assert coerce_value(T.INTEGER, T.DOUBLE, 2.0) is None
    assert coerce_value(T.DOUBLE_ARRAY, T.STRING, 'not: [a list') is None
    assert coerce_value(T.DOUBLE_ARRAY, T.STRING, '[1, true]') is None
