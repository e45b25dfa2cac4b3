"""Output adapters (outputs.py): the configuration checks and the controller joint order. No ROS."""
import math

import pytest

from vla_safety.outputs import OutputConfig, OutputConfigError, order_joints

ARM = ('shoulder', 'elbow', 'wrist')


# -- OutputConfig ------------------------------------------------------------------------------------
def test_defaults_are_todays_messages():
    cfg = OutputConfig()
    assert (cfg.base_output, cfg.joint_output, cfg.controller_joints) == ('twist', 'joint_state', ())
    assert not cfg.ordered


@pytest.mark.parametrize('joint_output', ['joint_trajectory', 'float64_multi_array'])
def test_ordered_outputs_refuse_an_empty_joint_order_with_the_fix(joint_output):
    with pytest.raises(OutputConfigError, match=f"'{joint_output}' needs controller_joints.*joints` parameter"):
        OutputConfig('twist', joint_output, ())
    assert OutputConfig('twist', joint_output, list(ARM)).controller_joints == ARM


def test_bad_names_and_repeats_are_all_listed():
    with pytest.raises(OutputConfigError) as err:
        OutputConfig('twist_stampd', 'trajectory', ('a', 'a', ''))
    text = str(err.value)
    for part in ("base_output 'twist_stampd' is not one of ['twist', 'twist_stamped']",
                 "joint_output 'trajectory' is not one of", "names ['a'] more than once", 'must be joint names'):
        assert part in text


# -- order_joints ------------------------------------------------------------------------------------
def test_decision_joints_go_in_controller_order():
    out = order_joints(ARM, ('wrist', 'shoulder', 'elbow'), (0.3, 0.1, 0.2), {}, {}, {})
    assert out.publish and out.positions == (0.1, 0.2, 0.3)
    assert out.missing == () and out.unmapped == () and dict(out.latched) == {}


def test_a_joint_the_decision_lacks_takes_the_gates_last_target_before_the_measurement():
    out = order_joints(ARM, ('shoulder',), (0.1,), {'elbow': 0.7}, {'elbow': 0.65, 'wrist': -0.2}, {})
    assert out.positions == (0.1, 0.7, -0.2)
    assert dict(out.latched) == {'wrist': -0.2}          # measured once, then repeated


def test_a_measured_fill_is_latched_and_does_not_follow_a_sagging_arm():
    first = order_joints(ARM, ('shoulder', 'elbow'), (0.1, 0.2), {}, {'wrist': -0.2}, {})
    second = order_joints(ARM, ('shoulder', 'elbow'), (0.1, 0.2), {}, {'wrist': -0.25}, first.latched)
    assert second.positions == (0.1, 0.2, -0.2)
    # once the gate commands the joint, its target wins over the latch
    third = order_joints(ARM, ('shoulder', 'elbow'), (0.1, 0.2), {'wrist': 0.4}, {'wrist': -0.25}, second.latched)
    assert third.positions == (0.1, 0.2, 0.4)


def test_a_controller_joint_never_commanded_nor_measured_withholds_the_command():
    out = order_joints(ARM, ('shoulder', 'elbow'), (0.1, 0.2), {}, {'wrist': math.nan}, {'old': 1.0})
    assert not out.publish and out.positions == ()
    assert out.missing == ('wrist',)
    assert dict(out.latched) == {}                       # nothing sent: nothing latched
    # as soon as it is measured the command goes out
    out = order_joints(ARM, ('shoulder', 'elbow'), (0.1, 0.2), {}, {'wrist': 0.05}, out.latched)
    assert out.positions == (0.1, 0.2, 0.05)


def test_decision_joints_the_controller_lacks_are_left_out_and_reported():
    out = order_joints(ARM, ('head', 'shoulder', 'elbow', 'wrist'), (9.0, 0.1, 0.2, 0.3), {}, {}, {})
    assert out.positions == (0.1, 0.2, 0.3) and out.unmapped == ('head',)


def test_a_decision_without_controller_joints_is_not_published():
    out = order_joints(ARM, ('head',), (0.5,), {'shoulder': 0.1}, {'elbow': 0.2, 'wrist': 0.3}, {})
    assert not out.publish and out.missing == () and out.unmapped == ('head',)
    assert order_joints(ARM, (), (), {}, {}, {}).positions == ()
