"""End-effector twists (OpenVLA-style embodiments) through the real safety node over DDS:
gated onto servo_node/delta_twist_cmds (MoveIt Servo), zero when blocked, clamped to limits."""
import math
import threading
import time

import pytest

pytestmark = pytest.mark.ros

from ros_harness import QUIET, Probe, fresh_domain_id  # noqa: E402

from vla_bringup.launcher import Suite  # noqa: E402


def test_ee_twist_is_gated_onto_the_servo_topic():
    from geometry_msgs.msg import TwistStamped

    from vla_common.qos import RELIABLE_QOS
    from vla_interfaces.msg import VlaAction
    domain = fresh_domain_id()
    suite = Suite(safety={'use_ee_twist': True, 'max_ee_linear': 0.1, 'use_scan': False,
                          'allow_unknown_joints': True}, domain_id=domain, quiet=QUIET)
    probe = Probe(domain)
    got, lock = [], threading.Lock()

    def on_servo(m):
        with lock:
            got.append((time.monotonic(), m))
    probe.node.create_subscription(TwistStamped, 'servo_node/delta_twist_cmds', on_servo, RELIABLE_QOS)
    seq = [0]

    def propose(vx, confidence):
        seq[0] += 1
        a = VlaAction(confidence=confidence, sequence=seq[0], policy_name='test')
        a.header.stamp = probe.node.get_clock().now().to_msg()
        a.ee_twist.header.frame_id = 'tool0'
        a.ee_twist.twist.linear.x = vx
        a.ee_twist.twist.angular.z = 0.2
        probe.action_pub.publish(a)

    def latest_after(t0):
        with lock:
            after = [m for t, m in got if t > t0]
        return after[-1] if after else None
    try:
        suite.start('vla_safety')
        assert probe.wait_for(lambda: probe.latest(probe.status) is not None, 60)
        # confident, too fast: passed towards the servo, scaled to 0.1 m/s in tool0
        deadline = time.monotonic() + 10
        ok = False
        while time.monotonic() < deadline and not ok:
            propose(0.3, 1.0)
            time.sleep(0.1)
            m = latest_after(time.monotonic() - 0.15)
            ok = m is not None and m.header.frame_id == 'tool0' and m.twist.linear.x > 0.05
        assert ok, 'no gated ee twist arrived'
        assert m.twist.linear.x == pytest.approx(0.1 * 0.3 / math.hypot(0.3, 0.0), rel=1e-3)
        assert 'ee_velocity_limited' in probe.latest(probe.status).reasons
        # low confidence: the servo is told zero while such proposals keep coming (so not by the watchdog)
        def zero_between(t0, t1):
            with lock:
                window = [m for t, m in got if t0 < t <= t1]
            return any(m.twist.linear.x == 0.0 and m.twist.angular.z == 0.0 for m in window)

        t_low = time.monotonic()
        for _ in range(10):
            propose(0.05, 0.0)
            time.sleep(0.1)
        assert zero_between(t_low + 0.3, time.monotonic()), 'low confidence did not zero the servo command'
        # NaN: refused, zero, and the status says why
        t_nan = time.monotonic()
        for _ in range(10):
            propose(math.nan, 1.0)
            time.sleep(0.1)
        assert zero_between(t_nan + 0.3, time.monotonic()), 'a NaN proposal did not zero the servo command'
    finally:
        probe.close()
        suite.stop()
