"""vla_safety's output adapters over DDS: real vla_inference + vla_safety processes (keyword policy),
configured through the launch arguments base_output, joint_output and controller_joints.

"walk forward" moves the base, "raise your left arm" the left arm (shoulder pitch -2.6 rad, roll
0.2, elbow 0.1); each test checks the message type, stamp/frame, joint order and values.
"""
import math
import time

import pytest

pytestmark = pytest.mark.ros

from ros_harness import QUIET, Probe, fresh_domain_id  # noqa: E402

from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from geometry_msgs.msg import Twist, TwistStamped  # noqa: E402
from sensor_msgs.msg import JointState  # noqa: E402
from std_msgs.msg import Float64MultiArray  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402
from trajectory_msgs.msg import JointTrajectory  # noqa: E402

from vla_bringup.launcher import Suite  # noqa: E402
from vla_interfaces.msg import SafetyStatus  # noqa: E402

SAFETY = {'max_linear_decel': 5.0, 'max_angular_decel': 10.0, 'command_timeout': 0.3}
#: the joints of the vla_humanoid embodiment, all measured at 0 by the probe
HUMANOID = ('head_pan_joint', 'head_tilt_joint', 'left_shoulder_pitch_joint', 'left_shoulder_roll_joint',
            'left_elbow_joint', 'right_shoulder_pitch_joint', 'right_shoulder_roll_joint', 'right_elbow_joint')
#: the raised pose of the keyword policy (after the embodiment's normalisation: within 0.05 rad)
RAISED = {'left_shoulder_pitch_joint': -2.6, 'left_shoulder_roll_joint': 0.2, 'left_elbow_joint': 0.1}


def _start(args, cmd_vel_type, joint_commands_type, joints, record=None):
    domain = fresh_domain_id()
    suite = Suite({'policy': 'keyword', **args}, safety=SAFETY, domain_id=domain, quiet=QUIET)
    probe = Probe(domain, cmd_vel_type=cmd_vel_type, joint_commands_type=joint_commands_type, record=record)
    probe.joints = dict(joints)
    suite.start()
    assert probe.wait_for(lambda: probe.latest(probe.status) is not None, 60), 'safety node never published'
    assert probe.wait_for(lambda: probe.latest(probe.actions) is not None, 60), 'inference node never published'
    return suite, probe


def _stop(suite, probe):
    probe.close()
    suite.stop()


def _rest(probe):
    assert probe.call(probe.stop_srv, Trigger.Request()).success


def _sec(stamp) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def _raised(probe, command_of, joints=tuple(RAISED)) -> bool:
    """The newest joint command ({joint: target}, by ``command_of(msg)``) is the arm raised, and
    passes the newest proposal's targets unchanged (the pose is reached within the speed limits)."""
    msg, action = probe.latest(probe.joint_cmds), probe.latest(probe.actions)
    if msg is None or action is None:
        return False
    cmd, proposed = command_of(msg), dict(zip(action.joint_targets.name, action.joint_targets.position))
    return all(j in cmd and j in proposed and cmd[j] == proposed[j] and abs(cmd[j] - t) < 0.05
               for j, t in RAISED.items() if j in joints)


def _walk_forward(probe, twist_of):
    """Send 'walk forward'; the cmd_vel messages from then until the robot walks, and the wall time sent."""
    _rest(probe)
    t0, wall0 = time.monotonic(), time.time()
    probe.command('walk forward')
    assert probe.wait_for(lambda: any(twist_of(m).linear.x > 0.05 for _, m in probe.since(probe.cmd_vel, t0)), 10), \
        'the base never moved'
    return probe.since(probe.cmd_vel, t0), wall0


# -- base_output twist_stamped + joint_output joint_trajectory ----------------------------------------------
TRAJ_ORDER = ['left_elbow_joint', 'left_wrist_joint', 'left_shoulder_roll_joint', 'left_shoulder_pitch_joint']


@pytest.fixture(scope='module')
def stamped_trajectory():
    # left_wrist_joint: a controller joint the policy never names, measured at 0.25
    suite, probe = _start({'base_output': 'twist_stamped', 'joint_output': 'joint_trajectory',
                           'controller_joints': ','.join(TRAJ_ORDER)},
                          TwistStamped, JointTrajectory, {**dict.fromkeys(HUMANOID, 0.0), 'left_wrist_joint': 0.25})
    yield suite, probe
    _stop(suite, probe)


def test_twist_stamped_carries_the_node_clock_and_base_link(stamped_trajectory):
    suite, probe = stamped_trajectory
    msgs, wall0 = _walk_forward(probe, lambda m: m.twist)
    wall1 = time.time()
    assert all(type(m) is TwistStamped for _, m in msgs)
    assert all(m.header.frame_id == 'base_link' for _, m in msgs)
    stamps = [_sec(m.header.stamp) for _, m in msgs]
    # stamped by vla_safety's (system) clock when it published: after the command, before receipt
    assert all(wall0 - 1e-3 <= s <= wall1 for s in stamps), (wall0, stamps[:3], wall1)
    assert stamps == sorted(stamps)
    # a stop goes out as a zero TwistStamped too (the one publish path of the base)
    _rest(probe)
    assert probe.wait_for(lambda: (m := probe.latest(probe.cmd_vel)).twist.linear.x == 0.0
                          and m.header.frame_id == 'base_link', 5)


def test_joint_trajectory_in_controller_order_with_one_point(stamped_trajectory):
    suite, probe = stamped_trajectory
    _rest(probe)
    t0 = time.monotonic()
    probe.command('raise your left arm')
    assert probe.wait_for(lambda: _raised(probe, lambda m: dict(zip(m.joint_names, m.points[0].positions))), 15), \
        'the arm was never raised'
    msgs = [m for _, m in probe.since(probe.joint_cmds, t0)]
    for m in msgs:
        assert type(m) is JointTrajectory
        assert list(m.joint_names) == TRAJ_ORDER              # the head and right arm are left out
        assert (m.header.stamp.sec, m.header.stamp.nanosec) == (0, 0)   # start on receipt
        (point,) = m.points
        assert (point.time_from_start.sec, point.time_from_start.nanosec) == (0, 100_000_000)   # 1 / 10 Hz
        assert len(point.positions) == 4 and point.positions[1] == 0.25   # wrist: its measured position
    # the wrist's fill was latched: the measurement sagging does not pull the command down
    probe.joints['left_wrist_joint'] = 0.1
    t1 = time.monotonic()
    assert probe.wait_for(lambda: len(probe.since(probe.joint_cmds, t1)) >= 10, 5)
    assert all(m.points[0].positions[1] == 0.25 for _, m in probe.since(probe.joint_cmds, t1))


# -- base_output twist + joint_output float64_multi_array ---------------------------------------------------
ARRAY_ORDER = ['left_shoulder_pitch_joint', 'left_elbow_joint', 'gripper_joint']


@pytest.fixture(scope='module')
def twist_array():
    # gripper_joint: a controller joint never commanded and, at first, never measured
    suite, probe = _start({'joint_output': 'float64_multi_array', 'controller_joints': '[' + ', '.join(ARRAY_ORDER) + ']'},
                          Twist, Float64MultiArray, dict.fromkeys(HUMANOID, 0.0),
                          record={'/diagnostics': DiagnosticArray})
    yield suite, probe
    _stop(suite, probe)


def _withheld(probe) -> int:
    for _, arr in reversed(list(probe.recorded['/diagnostics'])):
        for st in arr.status:
            if st.name == 'vla_safety: safety gate':
                return int({kv.key: kv.value for kv in st.values}['joint_commands_withheld'])
    return 0


def test_twist_base_output(twist_array):
    suite, probe = twist_array
    msgs, _ = _walk_forward(probe, lambda m: m)
    assert all(type(m) is Twist for _, m in msgs)


def test_float64_multi_array_withheld_until_every_controller_joint_is_known(twist_array):
    suite, probe = twist_array
    _rest(probe)
    probe.command('raise your left arm')
    # the gate passes the arm, but the gripper has no value: nothing made up is sent
    assert probe.wait_for(lambda: _withheld(probe) >= 5, 15), 'no joint command was withheld'
    assert probe.latest(probe.status).state in (SafetyStatus.PASS, SafetyStatus.LIMITED)
    assert len(probe.joint_cmds) == 0
    probe.joints['gripper_joint'] = 0.02                     # now measured: the commands go out
    assert probe.wait_for(lambda: _raised(probe, lambda m: dict(zip(ARRAY_ORDER, m.data)), ARRAY_ORDER[:2]), 15)
    for _, m in probe.since(probe.joint_cmds, 0.0):
        assert type(m) is Float64MultiArray and len(m.data) == 3 and m.data[2] == 0.02
        assert all(math.isfinite(v) for v in m.data) and not m.layout.dim


# -- defaults: twist + joint_state -----------------------------------------------------------------------
def test_joint_state_default_names_the_decisions_joints():
    suite, probe = _start({}, Twist, JointState, dict.fromkeys(HUMANOID, 0.0))
    try:
        _rest(probe)
        t0, wall0 = time.monotonic(), time.time()
        probe.command('raise your left arm')
        assert probe.wait_for(lambda: _raised(probe, lambda m: dict(zip(m.name, m.position))), 15)
        wall1 = time.time()
        msgs = [m for _, m in probe.since(probe.joint_cmds, t0)]
        assert all(type(m) is JointState and set(m.name) == set(HUMANOID) for m in msgs)
        assert all(wall0 - 1e-3 <= _sec(m.header.stamp) <= wall1 for m in msgs)
    finally:
        _stop(suite, probe)
