"""Flood both nodes with malformed input: they must stay up and keep the robot stopped,
then recover when good input returns."""
import math
import time

import pytest

pytestmark = pytest.mark.ros

from ros_harness import QUIET, Probe, fresh_domain_id, twist_is_zero  # noqa: E402

from vla_bringup.launcher import Suite  # noqa: E402


def _bad_images():
    from sensor_msgs.msg import Image
    good = bytes(160 * 120 * 3)
    return [
        Image(height=120, width=160, encoding='rgb8', step=160 * 3, data=good[:1000]),       # short data
        Image(height=120, width=160, encoding='rgb8', step=100, data=good),                  # step < width*3
        Image(height=0, width=0, encoding='rgb8', step=0, data=b''),                         # empty
        Image(height=120, width=160, encoding='yuv_mystery', step=160 * 3, data=good),       # unknown encoding
        Image(height=100000, width=100000, encoding='mono8', step=100000, data=b'\x00' * 10),  # absurd size
        Image(height=120, width=160, encoding='', step=160 * 3, data=good),                  # no encoding
        Image(height=120, width=160, encoding='16UC1', step=160 * 2 + 1, data=bytes(120 * 321)),  # odd step
    ]


def _bad_actions():
    from vla_interfaces.msg import VlaAction
    out = []
    for v in (math.nan, math.inf, -math.inf, 1e300):
        a = VlaAction(confidence=1.0, instruction='walk forward', policy_name='attacker', sequence=10**6)
        a.twist.linear.x = v
        out.append(a)
    a = VlaAction(confidence=math.nan)
    out.append(a)
    a = VlaAction(confidence=1.0)
    a.joint_targets.name = ['left_elbow_joint', 'no_such_joint']
    a.joint_targets.position = [math.nan, 1e9]
    out.append(a)
    a = VlaAction(confidence=1.0)
    a.joint_targets.name = ['left_elbow_joint']
    a.joint_targets.position = []        # name/position length mismatch
    out.append(a)
    return out


def test_flood_of_malformed_input_keeps_robot_stopped_and_nodes_up():
    from sensor_msgs.msg import JointState
    domain = fresh_domain_id()
    suite = Suite({'policy': 'keyword'}, domain_id=domain, quiet=QUIET)
    probe = Probe(domain)
    try:
        suite.start()
        assert probe.wait_for(lambda: probe.latest(probe.status) is not None, 60)
        probe.camera_on = False
        images, actions = _bad_images(), _bad_actions()
        commands = ['', ' ', 'x' * 1_000_000, '\x00\x01\x02', 'walk forward' * 1000, '🤖 walk ⟶ forward',
                    'walk forward']   # a valid command: still no valid image, so still no motion
        t_end = time.monotonic() + 4.0
        i = 0
        t0 = time.monotonic()
        while time.monotonic() < t_end:
            probe.image_pub.publish(images[i % len(images)])
            probe.action_pub.publish(actions[i % len(actions)])
            if i % 5 == 0:
                probe.command(commands[(i // 5) % len(commands)])
                probe.joint_pub.publish(JointState(name=['a', 'b'], position=[math.nan]))
            i += 1
            time.sleep(0.005)
        msgs = probe.since(probe.cmd_vel, t0)
        assert len(msgs) >= 30, 'the safety node must keep publishing'
        # nothing but a stopped robot (the gate may pass nothing non-zero from bad input)
        assert all(twist_is_zero(m) for _, m in msgs)
        for _, jc in probe.since(probe.joint_cmds, t0):
            assert all(math.isfinite(p) for p in jc.position)
        assert suite.alive('vla_inference') and suite.alive('vla_safety')

        # good input again: the loop recovers
        probe.camera_on = True
        probe.command('walk forward')
        assert probe.wait_for(lambda: (m := probe.latest(probe.cmd_vel)) is not None and m.linear.x > 0.05, 10)
    finally:
        probe.close()
        suite.stop()
