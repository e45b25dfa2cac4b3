"""The runtime core end to end: real vla_inference and vla_safety processes over DDS.

The policy is 'keyword' (a rule-based language baseline: known phrases -> motions with
confidence 1, anything else -> confidence 0), so each test controls what is proposed.
"""
import math
import time

import pytest

pytestmark = pytest.mark.ros

from ros_harness import running_suite, twist_is_zero  # noqa: E402

from vla_interfaces.action import ExecuteInstruction  # noqa: E402
from vla_interfaces.msg import SafetyStatus  # noqa: E402

SAFETY = {'max_linear_decel': 5.0, 'max_angular_decel': 10.0, 'command_timeout': 0.3}


@pytest.fixture(scope='module')
def loop():
    with running_suite({'policy': 'keyword'}, SAFETY) as suite_and_probe:
        yield suite_and_probe


def _reset(probe):
    """Clear sensors and the instruction. The stop service, not an empty command on the topic: a
    topic message may still be in flight when the next goal arrives, and would (rightly) stop it."""
    from std_srvs.srv import Trigger
    probe.scan_ranges = math.inf
    probe.camera_on = True
    assert probe.call(probe.stop_srv, Trigger.Request()).success
    # start each test at rest: a command sent before the stop reached the safety node would
    # otherwise begin from the last test's twist (a walk ramping down while the turn ramps up)
    assert probe.wait_for(lambda: (m := probe.latest(probe.cmd_vel)) is None or twist_is_zero(m), 5), \
        'robot not at rest after the stop service'


def _walking(probe, t0, min_speed=0.05):
    return [m for t, m in probe.since(probe.cmd_vel, t0) if m.linear.x >= min_speed]


def test_command_drives_gated_twist_at_10hz(loop):
    suite, probe = loop
    _reset(probe)
    probe.command('walk forward')
    assert probe.wait_for(lambda: _walking(probe, time.monotonic() - 0.3), 10), 'robot never told to walk'
    t0 = time.monotonic()
    time.sleep(3.0)
    msgs = probe.since(probe.cmd_vel, t0)
    # a steady stream, not bursts or silence (rate precision is the benchmark's job)
    assert 24 <= len(msgs) <= 36, f'{len(msgs)} cmd_vel in 3 s'
    assert all(m.linear.x > 0.0 for _, m in msgs)
    status = probe.latest(probe.status)
    assert status.state in (SafetyStatus.PASS, SafetyStatus.LIMITED)
    action = probe.latest(probe.actions)
    assert action.instruction == 'walk forward' and action.confidence == pytest.approx(1.0)
    assert action.header.stamp.sec > 0


def test_turn_command_changes_the_twist(loop):
    suite, probe = loop
    _reset(probe)
    probe.command('turn left')
    assert probe.wait_for(lambda: (m := probe.latest(probe.cmd_vel)) is not None and m.angular.z > 0.05, 10)
    t0 = time.monotonic()
    time.sleep(0.5)
    msgs = probe.since(probe.cmd_vel, t0)
    assert msgs and all(m.angular.z > 0.05 and m.linear.x == 0.0 for _, m in msgs), 'not a turn in place'


def test_low_confidence_gives_zeros(loop):
    suite, probe = loop
    _reset(probe)
    probe.command('walk forward')
    assert probe.wait_for(lambda: _walking(probe, time.monotonic() - 0.3), 10)
    probe.command('make me a sandwich')   # out of scope: the keyword policy's confidence is 0
    assert probe.wait_for(lambda: 'low_confidence' in (probe.latest(probe.status).reasons or []), 5)
    t0 = time.monotonic()
    time.sleep(1.0)
    msgs = probe.since(probe.cmd_vel, t0)
    assert msgs and all(twist_is_zero(m) for _, m in msgs)
    assert probe.latest(probe.status).state == SafetyStatus.STOP


def test_obstacle_in_stop_zone_gives_zeros(loop):
    suite, probe = loop
    _reset(probe)
    probe.command('walk forward')
    assert probe.wait_for(lambda: _walking(probe, time.monotonic() - 0.3), 10)
    probe.obstacle_ahead(0.25)
    assert probe.wait_for(lambda: 'obstacle_stop_zone' in probe.latest(probe.status).reasons, 5)
    t0 = time.monotonic()
    time.sleep(1.0)
    msgs = probe.since(probe.cmd_vel, t0)
    assert msgs and all(m.linear.x <= 0.0 for _, m in msgs)
    assert probe.latest(probe.status).nearest_obstacle_distance < 0.3
    probe.scan_ranges = math.inf
    assert probe.wait_for(lambda: _walking(probe, time.monotonic() - 0.3), 10), 'did not resume once clear'


def test_scan_source_timeout_stops(loop):
    suite, probe = loop
    _reset(probe)
    probe.command('walk forward')
    assert probe.wait_for(lambda: _walking(probe, time.monotonic() - 0.3), 10)
    probe.scan_ranges = None   # the lidar goes silent
    try:
        assert probe.wait_for(lambda: any(r.endswith('_timeout') and 'scan' in r
                                          for r in probe.latest(probe.status).reasons), 5)
        # the stop ramps within the decel limits, and cmd_vel and status are separate topics
        assert probe.wait_for(lambda: twist_is_zero(probe.latest(probe.cmd_vel)), 2)
    finally:
        probe.scan_ranges = math.inf


def test_estop_latches_until_reset_and_the_reset_never_restarts_motion(loop):
    suite, probe = loop
    from std_msgs.msg import Bool
    from std_srvs.srv import Trigger
    _reset(probe)
    probe.command('walk forward')
    assert probe.wait_for(lambda: _walking(probe, time.monotonic() - 0.3), 10)
    probe.estop_pub.publish(Bool(data=True))
    assert probe.wait_for(lambda: probe.latest(probe.status).state == SafetyStatus.ESTOP, 5)
    probe.estop_pub.publish(Bool(data=False))   # releasing the button does not reset
    t0 = time.monotonic()
    time.sleep(1.0)
    assert all(twist_is_zero(m) for _, m in probe.since(probe.cmd_vel, t0))
    assert probe.latest(probe.status).state == SafetyStatus.ESTOP
    # the inference node dropped the instruction it followed (the topic path, like the action path)
    assert probe.wait_for(lambda: probe.latest(probe.actions).instruction == '', 3)
    assert probe.call(probe.reset_estop, Trigger.Request()).success
    t0 = time.monotonic()
    time.sleep(1.5)                              # ISO 13850: a reset does not start motion
    assert all(twist_is_zero(m) for _, m in probe.since(probe.cmd_vel, t0))
    assert probe.latest(probe.status).state < SafetyStatus.ESTOP
    probe.command('walk forward')                # a person asks again
    assert probe.wait_for(lambda: _walking(probe, time.monotonic() - 0.3), 10), 'a new command did not move it'


def test_action_goal_succeeds_and_cancel_stops(loop):
    suite, probe = loop
    _reset(probe)
    assert probe.execute.wait_for_server(timeout_sec=10)
    goal = ExecuteInstruction.Goal(instruction='turn right', timeout=1.5)
    feedback = []
    fut = probe.execute.send_goal_async(goal, feedback_callback=lambda f: feedback.append(f.feedback))
    assert probe.wait_for(fut.done, 5) and fut.result().accepted
    res_fut = fut.result().get_result_async()
    assert probe.wait_for(res_fut.done, 10)
    result = res_fut.result().result
    assert result.success, result.message
    assert feedback and max(f.elapsed for f in feedback) > 0.5
    assert any(f.confidence == pytest.approx(1.0) for f in feedback)

    # a second goal, canceled while the robot walks: the robot is told to stop
    fut = probe.execute.send_goal_async(ExecuteInstruction.Goal(instruction='walk forward', timeout=0.0))
    assert probe.wait_for(fut.done, 5) and fut.result().accepted
    assert probe.wait_for(lambda: _walking(probe, time.monotonic() - 0.3), 10)
    cancel = fut.result().cancel_goal_async()
    assert probe.wait_for(cancel.done, 5)
    assert probe.wait_for(lambda: twist_is_zero(probe.latest(probe.cmd_vel)), 3)
    t0 = time.monotonic()
    time.sleep(0.6)
    assert all(twist_is_zero(m) for _, m in probe.since(probe.cmd_vel, t0))


def test_stop_service_stops(loop):
    suite, probe = loop
    from std_srvs.srv import Trigger
    _reset(probe)
    probe.command('walk forward')
    assert probe.wait_for(lambda: _walking(probe, time.monotonic() - 0.3), 10)
    assert probe.call(probe.stop_srv, Trigger.Request()).success
    assert probe.wait_for(lambda: twist_is_zero(probe.latest(probe.cmd_vel)), 3)


def test_stale_camera_stops_and_diagnoses(loop):
    suite, probe = loop
    _reset(probe)
    probe.command('walk forward')
    assert probe.wait_for(lambda: _walking(probe, time.monotonic() - 0.3), 10)
    probe.camera_on = False
    try:
        assert probe.wait_for(lambda: 'proposal_timeout' in probe.latest(probe.status).reasons, 5)
        assert probe.wait_for(lambda: twist_is_zero(probe.latest(probe.cmd_vel)), 2)
    finally:
        probe.camera_on = True


def test_an_instruction_naming_an_unknown_colour_is_refused_and_the_robot_stands_still(loop):
    """'walk' alone would walk (keyword); the purple box is not in the arena's vocabulary, so the
    node proposes with confidence 0 and vla_safety holds the robot (vla_core.grounding)."""
    suite, probe = loop
    _reset(probe)
    probe.command('walk to the purple box')
    assert probe.wait_for(lambda: (a := probe.latest(probe.actions)) is not None
                          and a.instruction == 'walk to the purple box', 5)
    t0 = time.monotonic()
    time.sleep(1.0)
    actions = [a for _, a in probe.since(probe.actions, t0)]
    assert actions and all(a.confidence == 0.0 for a in actions)
    msgs = probe.since(probe.cmd_vel, t0)
    assert msgs and all(twist_is_zero(m) for _, m in msgs)
    assert probe.latest(probe.status).state == SafetyStatus.STOP
    probe.command('walk forward')
    assert probe.wait_for(lambda: _walking(probe, time.monotonic() - 0.3), 10), 'a known command did not move it'
    _reset(probe)
