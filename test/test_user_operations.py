"""What users do to a running suite, done the way the `ros2` CLI does it, over DDS with real processes:
parameter services on every node, a default-QoS command publisher, a latched publisher across a
restart, an e-stop reset, and SIGKILL of vla_safety. (Timing is the scenario benchmark's job:
`python -m vla_tools.safety_benchmark`; these tests assert behaviour.)"""
import sys
import time

import pytest

pytestmark = pytest.mark.ros

from ros_harness import fresh_domain_id, running_suite, twist_is_zero  # noqa: E402


SAFETY = {'max_linear_decel': 5.0, 'max_angular_decel': 10.0}
#: every node executable of the suite, as `ros2 run` would start it: name -> python module
OTHER_NODES = {
    'sim_node': 'vla_sim.sim_node',
    'joint_command_relay': 'vla_bringup.joint_command_relay',
    'base_command_timeout': 'vla_bringup.base_command_timeout',
    'synthetic_camera': 'vla_tools.synthetic_camera',
    'floor_relay': 'vla_tools.floor_relay',
    'recorder': 'vla_learning.recorder_node',
}


@pytest.fixture(scope='module')
def loop():
    with running_suite({'policy': 'keyword'}, SAFETY) as suite_and_probe:
        yield suite_and_probe


def _walking(probe, t0, min_speed=0.05):
    return [m for t, m in probe.since(probe.cmd_vel, t0) if m.linear.x >= min_speed]


def _stand_still(probe):
    from std_srvs.srv import Trigger
    assert probe.call(probe.stop_srv, Trigger.Request()).success
    assert probe.wait_for(lambda: twist_is_zero(probe.latest(probe.cmd_vel)), 5)


def _still_for(probe, seconds):
    t0 = time.monotonic()
    time.sleep(seconds)
    msgs = probe.since(probe.cmd_vel, t0)
    return bool(msgs) and all(twist_is_zero(m) for _, m in msgs)


# -- parameters, as `ros2 param list/get/dump/set` ----------------------------------------------------
class ParamClient:
    """The parameter services of one node, called as ros2cli does."""

    def __init__(self, probe, node_name):
        from rcl_interfaces.srv import DescribeParameters, GetParameters, ListParameters, SetParameters
        n = probe.node
        self.probe = probe
        self.list = n.create_client(ListParameters, f'/{node_name}/list_parameters')
        self.get = n.create_client(GetParameters, f'/{node_name}/get_parameters')
        self.set = n.create_client(SetParameters, f'/{node_name}/set_parameters')
        self.describe = n.create_client(DescribeParameters, f'/{node_name}/describe_parameters')

    def _call(self, client, request, attempts=4):
        """A service call, repeated if the answer never comes: a response sent before the server has
        discovered the client's reader is lost (DDS discovery race), as a CLI user retrying would."""
        for k in range(attempts):
            try:
                return self.probe.call(client, request, timeout=30)
            except TimeoutError:
                if k == attempts - 1:
                    raise

    def names(self):
        from rcl_interfaces.srv import ListParameters
        return list(self._call(self.list, ListParameters.Request()).result.names)

    def values(self, names):
        from rcl_interfaces.srv import GetParameters
        return dict(zip(names, self._call(self.get, GetParameters.Request(names=names)).values))

    def descriptors(self, names):
        from rcl_interfaces.srv import DescribeParameters
        return dict(zip(names, self._call(self.describe, DescribeParameters.Request(names=names)).descriptors))

    def set_values(self, values: dict):
        """{name: rcl_interfaces ParameterValue} -> [SetParametersResult] (one per parameter)."""
        from rcl_interfaces.msg import Parameter
        from rcl_interfaces.srv import SetParameters
        req = SetParameters.Request(parameters=[Parameter(name=k, value=v) for k, v in values.items()])
        return list(self._call(self.set, req).results)

    def set_atomically(self, values: dict):
        from rcl_interfaces.msg import Parameter
        from rcl_interfaces.srv import SetParametersAtomically
        client = self.probe.node.create_client(SetParametersAtomically,
                                               self.set.srv_name.replace('set_parameters', 'set_parameters_atomically'))
        req = SetParametersAtomically.Request(parameters=[Parameter(name=k, value=v) for k, v in values.items()])
        return self._call(client, req).result


def _double(v):
    from rcl_interfaces.msg import ParameterType, ParameterValue
    return ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=float(v))


def _every_parameter_has_a_value_and_takes_its_own_value_back(client):
    from rcl_interfaces.msg import ParameterType
    names = client.names()
    assert names, 'no parameters listed'
    values = client.values(names)
    unset = [n for n, v in values.items() if v.type == ParameterType.PARAMETER_NOT_SET]
    assert not unset, f'parameters without a value (ros2 param get says "not set", dump drops them): {unset}'
    descriptors = client.descriptors(names)
    settable = {n: values[n] for n in names if not descriptors[n].read_only}
    results = client.set_values(settable)
    refused = {n: r.reason for n, r in zip(settable, results) if not r.successful}
    assert not refused, f'setting parameters to their own value was refused: {refused}'
    read_only = [n for n in names if descriptors[n].read_only]
    if read_only:
        r = client.set_values({read_only[0]: values[read_only[0]]})[0]
        assert not r.successful and r.reason, 'a read-only parameter was set'
    return names, values, descriptors


def test_safety_parameters_listed_got_and_set_live_without_harm(loop):
    suite, probe = loop
    client = ParamClient(probe, 'vla_safety')
    names, values, _ = _every_parameter_has_a_value_and_takes_its_own_value_back(client)
    assert 'footprint' in names and list(values['footprint'].double_array_value) == []
    _stand_still(probe)
    probe.command('walk forward')
    assert probe.wait_for(lambda: _walking(probe, time.monotonic() - 0.3), 10)
    # lower a limit mid-motion (the operation that used to kill the node): it applies, the node lives
    r = client.set_values({'max_linear_x': _double(0.1)})[0]
    assert r.successful, r.reason
    assert probe.wait_for(lambda: (m := probe.latest(probe.cmd_vel)) is not None
                          and 0.05 < m.linear.x <= 0.1 + 1e-9, 5), 'the new limit was not applied'
    t0 = time.monotonic()
    time.sleep(1.0)
    msgs = probe.since(probe.cmd_vel, t0)
    assert len(msgs) >= 8 and all(0.0 < m.linear.x <= 0.1 + 1e-9 for _, m in msgs)
    assert suite.alive('vla_safety')
    # a footprint polygon, and back to the circle
    from rcl_interfaces.msg import ParameterType, ParameterValue
    square = ParameterValue(type=ParameterType.PARAMETER_DOUBLE_ARRAY,
                            double_array_value=[0.2, 0.2, 0.2, -0.2, -0.2, -0.2, -0.2, 0.2])
    assert client.set_values({'footprint': square})[0].successful
    assert list(client.values(['footprint'])['footprint'].double_array_value) == list(square.double_array_value)
    empty = ParameterValue(type=ParameterType.PARAMETER_DOUBLE_ARRAY, double_array_value=[])
    assert client.set_values({'footprint': empty})[0].successful
    # as `ros2 param set /vla_safety footprint "[]"` and `ros2 param load` of a dump send them:
    # [] is a bool array to the CLI, [0.2, 0, ...] a string
    from rclpy.parameter import get_parameter_value
    for text in ('[0.2, 0.2, 0.2, -0.2, -0.2, -0.2, -0.2, 0]', '[]'):
        r = client.set_values({'footprint': get_parameter_value(text)})[0]
        assert r.successful, (text, r.reason)
    got = client.values(['footprint'])['footprint']
    assert got.type == ParameterType.PARAMETER_DOUBLE_ARRAY and list(got.double_array_value) == []
    # invalid values are refused with a reason and change nothing
    r = client.set_values({'max_linear_x': _double(-1.0)})[0]
    assert not r.successful and 'max_linear_x' in r.reason
    r = client.set_values({'slowdown_margin': _double(0.05)})[0]          # inside the STOP zone (0.1)
    assert not r.successful and 'slowdown_margin' in r.reason
    bad = ParameterValue(type=ParameterType.PARAMETER_DOUBLE_ARRAY, double_array_value=[0.1, 0.2, 0.3])
    r = client.set_values({'footprint': bad})[0]
    assert not r.successful and 'footprint' in r.reason
    got = client.values(['max_linear_x', 'slowdown_margin'])
    assert got['max_linear_x'].double_value == pytest.approx(0.1)
    assert got['slowdown_margin'].double_value == pytest.approx(0.4)
    # two parameters that only make sense together, set at once
    r = client.set_atomically({'stop_margin': _double(0.5), 'slowdown_margin': _double(0.6)})
    assert r.successful, r.reason
    got = client.values(['stop_margin', 'slowdown_margin'])
    assert (got['stop_margin'].double_value, got['slowdown_margin'].double_value) == (0.5, 0.6)
    assert client.set_atomically({'stop_margin': _double(0.1), 'slowdown_margin': _double(0.4)}).successful
    assert client.set_values({'max_linear_x': values['max_linear_x']})[0].successful
    assert suite.alive('vla_safety') and suite.alive('vla_inference')


def test_inference_parameters_listed_got_and_set_live(loop):
    suite, probe = loop
    client = ParamClient(probe, 'vla_inference')
    _every_parameter_has_a_value_and_takes_its_own_value_back(client)
    r = client.set_values({'stale_image_timeout': _double(1e6)})[0]
    assert not r.successful and r.reason
    assert suite.alive('vla_inference')


def test_inference_runner_settings_set_live_mid_motion(loop, tmp_path):
    """`ros2 param set /vla_inference interpolate_chunks false` (and the smoothing, together) while the
    robot walks: applied without a gap in its commands; a vocabulary that does not exist is refused
    with the reason, and nothing changes."""
    from rcl_interfaces.msg import ParameterType, ParameterValue
    suite, probe = loop
    client = ParamClient(probe, 'vla_inference')
    _stand_still(probe)
    probe.command('walk forward')
    assert probe.wait_for(lambda: _walking(probe, time.monotonic() - 0.3), 10)
    r = client.set_atomically({
        'interpolate_chunks': ParameterValue(type=ParameterType.PARAMETER_BOOL, bool_value=False),
        'smoothing': ParameterValue(type=ParameterType.PARAMETER_STRING, string_value='ema'),
        'max_inference_rate_hz': _double(5.0)})
    assert r.successful, r.reason
    t0 = time.monotonic()
    time.sleep(1.0)
    assert len(_walking(probe, t0)) >= 8, 'the walk went on at the control rate through the change'
    bad = client.set_values({'instruction_vocabulary': ParameterValue(type=ParameterType.PARAMETER_STRING,
                                                                      string_value='no_such_vocabulary')})[0]
    assert not bad.successful and 'no_such_vocabulary' in bad.reason
    broken = tmp_path / 'broken.yaml'
    broken.write_text('colours: [1, 2')                  # not YAML: refused with the reason, the node lives
    bad = client.set_values({'instruction_vocabulary': ParameterValue(type=ParameterType.PARAMETER_STRING,
                                                                      string_value=str(broken))})[0]
    assert not bad.successful and 'not a readable vocabulary YAML' in bad.reason
    assert suite.alive('vla_inference')
    values = client.values(['interpolate_chunks', 'smoothing', 'instruction_vocabulary'])
    assert values['interpolate_chunks'].bool_value is False and values['smoothing'].string_value == 'ema'
    assert values['instruction_vocabulary'].string_value == 'auto'
    client.set_atomically({'interpolate_chunks': ParameterValue(type=ParameterType.PARAMETER_BOOL, bool_value=True),
                           'smoothing': ParameterValue(type=ParameterType.PARAMETER_STRING, string_value='none'),
                           'max_inference_rate_hz': _double(0.0)})
    assert suite.alive('vla_inference')
    _stand_still(probe)


@pytest.mark.parametrize('name', sorted(OTHER_NODES))
def test_other_nodes_parameters_have_values_and_can_be_set(loop, name):
    suite, probe = loop
    proc = suite.start_process(name, [sys.executable, '-m', OTHER_NODES[name], '--ros-args', '-r', f'__node:={name}'])
    try:
        client = ParamClient(probe, name)
        assert client.list.wait_for_service(timeout_sec=60), f'{name} never offered its parameter services'
        _every_parameter_has_a_value_and_takes_its_own_value_back(client)
        assert proc.poll() is None, f'{name} exited'
    finally:
        proc.terminate()
        proc.wait(10)


def test_a_whole_number_for_a_double_parameter_at_start_and_a_bad_value_refused_in_one_line(loop):
    """`-p cmd_vel_timeout:=1` (an integer, as users type it) starts the node with 1.0; a value out of
    range exits 2 with one line naming the parameter, not a traceback."""
    import subprocess
    from rcl_interfaces.msg import ParameterType
    suite, probe = loop
    node = 'vla_bringup.base_command_timeout'
    proc = suite.start_process('timeout_int', [sys.executable, '-m', node, '--ros-args', '-r',
                                               '__node:=timeout_int', '-p', 'cmd_vel_timeout:=1'])
    try:
        client = ParamClient(probe, 'timeout_int')
        assert client.list.wait_for_service(timeout_sec=60), 'the node did not start with an integer override'
        value = client.values(['cmd_vel_timeout'])['cmd_vel_timeout']
        assert value.type == ParameterType.PARAMETER_DOUBLE and value.double_value == 1.0
    finally:
        proc.terminate()
        proc.wait(10)
    bad = subprocess.run([sys.executable, '-m', node, '--ros-args', '-p', 'cmd_vel_timeout:=1000.0'],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2
    assert 'cmd_vel_timeout' in bad.stderr and 'Traceback' not in bad.stderr


# -- commands as `ros2 topic pub` sends them -------------------------------------------------------------
def test_a_default_qos_command_once_and_at_a_rate(loop):
    """`ros2 topic pub -1 /vla/command std_msgs/msg/String "data: 'walk forward'"`: the CLI's default
    publisher is reliable + volatile (depth 1)."""
    suite, probe = loop
    from rclpy.qos import QoSProfile
    from std_msgs.msg import String
    from vla_common.qos import wait_for_subscribers
    _stand_still(probe)
    pub = probe.node.create_publisher(String, 'vla/command', QoSProfile(depth=1))
    try:
        assert wait_for_subscribers(pub, 30)
        pub.publish(String(data='walk forward'))                       # -1: once
        assert probe.wait_for(lambda: _walking(probe, time.monotonic() - 0.3), 10), 'a plain command never arrived'
        _stand_still(probe)
        for _ in range(3):                                             # --rate 1
            pub.publish(String(data='walk forward'))
            time.sleep(0.5)
        assert _walking(probe, time.monotonic() - 0.3)
    finally:
        probe.node.destroy_publisher(pub)
        _stand_still(probe)


def test_a_command_latched_before_a_restart_is_not_replayed(loop):
    """A transient-local publisher still reaches the node, but the sample it keeps is not
    delivered again to a restarted vla_inference: nothing moves until someone asks again."""
    suite, probe = loop
    from rclpy.qos import DurabilityPolicy, QoSProfile
    from std_msgs.msg import String
    from vla_common.qos import wait_for_subscribers
    _stand_still(probe)
    latched = probe.node.create_publisher(String, 'vla/command',
                                          QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL))
    try:
        assert wait_for_subscribers(latched, 30)
        latched.publish(String(data='walk forward'))
        assert probe.wait_for(lambda: _walking(probe, time.monotonic() - 0.3), 10), 'a latched publisher is not heard'
        old = suite.procs['vla_inference']
        suite.kill('vla_inference')
        # respawned (vla_launch's respawn, like launch_ros's) and publishing again
        assert probe.wait_for(lambda: suite.procs['vla_inference'] is not old and suite.alive('vla_inference'), 30)
        t_back = time.monotonic()
        assert probe.wait_for(lambda: any(t > t_back for t, _ in probe.since(probe.actions, t_back)), 60)
        assert _still_for(probe, 2.0), 'the latched command moved the robot after the restart'
        assert probe.latest(probe.actions).instruction == ''
    finally:
        probe.node.destroy_publisher(latched)


# -- a dead safety node ----------------------------------------------------------------------------------
def test_safety_killed_is_respawned_publishes_zeros_and_waits_for_a_new_instruction(loop):
    suite, probe = loop
    from vla_interfaces.msg import SafetyStatus
    _stand_still(probe)
    probe.command('walk forward')
    assert probe.wait_for(lambda: _walking(probe, time.monotonic() - 0.3), 10)
    old = suite.procs['vla_safety']
    t_kill = suite.kill('vla_safety')
    assert probe.wait_for(lambda: suite.procs['vla_safety'] is not old and suite.alive('vla_safety'), 30)
    # zeros flow again, while vla_inference still proposes the walk it was told before the restart
    assert probe.wait_for(lambda: any(twist_is_zero(m) for _, m in probe.since(probe.cmd_vel, t_kill)), 60)
    assert probe.latest(probe.actions).instruction == 'walk forward'
    assert _still_for(probe, 2.0), 'a restarted vla_safety let an instruction from before it started move the robot'
    assert 'awaiting_instruction' in probe.latest(probe.status).reasons
    assert probe.latest(probe.status).state == SafetyStatus.STOP
    probe.command('walk forward')
    assert probe.wait_for(lambda: _walking(probe, time.monotonic() - 0.3), 10), 'a new command did not move it'
    _stand_still(probe)


def test_action_goal_after_an_estop_reset_moves_and_the_reset_alone_does_not(loop):
    """The action path and the topic path alike: after the reset, only a new goal moves the robot."""
    suite, probe = loop
    from std_msgs.msg import Bool
    from std_srvs.srv import Trigger
    from vla_interfaces.action import ExecuteInstruction
    _stand_still(probe)
    assert probe.execute.wait_for_server(timeout_sec=10)
    fut = probe.execute.send_goal_async(ExecuteInstruction.Goal(instruction='walk forward', timeout=0.0))
    assert probe.wait_for(fut.done, 5) and fut.result().accepted
    assert probe.wait_for(lambda: _walking(probe, time.monotonic() - 0.3), 10)
    result = fut.result().get_result_async()
    probe.estop_pub.publish(Bool(data=True))
    assert probe.wait_for(result.done, 5)
    assert not result.result().result.success and 'emergency' in result.result().result.message
    assert probe.call(probe.reset_estop, Trigger.Request()).success
    assert _still_for(probe, 1.5)
    fut = probe.execute.send_goal_async(ExecuteInstruction.Goal(instruction='walk forward', timeout=1.0))
    assert probe.wait_for(fut.done, 5) and fut.result().accepted
    assert probe.wait_for(lambda: _walking(probe, time.monotonic() - 0.3), 10)
    assert probe.wait_for(fut.result().get_result_async().done, 10)
    _stand_still(probe)


def test_the_gazebo_base_relay_zeros_the_base_when_gated_commands_stop(loop):
    """Gazebo holds the last twist: base_command_timeout forwards commands and sends zeros once they stop."""
    suite, probe = loop
    from geometry_msgs.msg import Twist
    from vla_common.qos import RELIABLE_QOS, wait_for_subscribers
    proc = suite.start_process('base_command_timeout', [
        sys.executable, '-m', 'vla_bringup.base_command_timeout', '--ros-args', '-p', 'cmd_vel_timeout:=0.3',
        '-r', 'cmd_vel:=relay_in', '-r', 'cmd_vel_out:=relay_out'])
    out = []
    sub = probe.node.create_subscription(Twist, 'relay_out', lambda m: out.append((time.monotonic(), m)), RELIABLE_QOS)
    pub = probe.node.create_publisher(Twist, 'relay_in', RELIABLE_QOS)
    try:
        assert wait_for_subscribers(pub, 60)
        assert probe.wait_for(lambda: probe.node.count_publishers('relay_out') > 0, 60)
        cmd = Twist()
        cmd.linear.x = 0.3

        def forwarded():
            # commands keep coming, as vla_safety's do: the relay's publisher may match the probe's
            # subscription only after the first ones were forwarded (volatile: those are not resent)
            pub.publish(cmd)
            return any(m.linear.x == pytest.approx(0.3) for _, m in out)
        assert probe.wait_for(forwarded, 10), 'not forwarded'
        for _ in range(5):
            pub.publish(cmd)
            time.sleep(0.05)
        t_last = time.monotonic()
        assert probe.wait_for(lambda: sum(1 for t, m in out if t > t_last and twist_is_zero(m)) >= 5, 10), \
            'no zeros after the commands stopped'
        first_zero = next(i for i, (t, m) in enumerate(out) if t > t_last and twist_is_zero(m))
        assert all(twist_is_zero(m) for _, m in out[first_zero:]), 'motion after the stale zeros began'
        t_back = time.monotonic()
        pub.publish(cmd)                                              # commands come back
        assert probe.wait_for(lambda: any(t > t_back and m.linear.x == pytest.approx(0.3) for t, m in out), 5)
    finally:
        probe.node.destroy_subscription(sub)
        probe.node.destroy_publisher(pub)
        proc.terminate()
        proc.wait(10)


# -- an exception inside vla_safety --------------------------------------------------------------------
def test_an_exception_in_a_safety_callback_stops_the_robot_and_latches_until_reset():
    """A bug (here: a callback handed something that is not a message) must not silence cmd_vel."""
    import rclpy
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor
    from geometry_msgs.msg import Twist
    from std_srvs.srv import Trigger
    from vla_common.qos import RELIABLE_QOS
    from vla_interfaces.msg import SafetyStatus
    from vla_safety.safety_node import SafetyNode

    domain = fresh_domain_id()
    ctx = Context()
    rclpy.init(context=ctx, domain_id=domain)
    try:
        node = SafetyNode(context=ctx)
        seen = {'cmd': [], 'status': []}
        listener = rclpy.create_node('listener', context=ctx)
        listener.create_subscription(Twist, 'cmd_vel', seen['cmd'].append, RELIABLE_QOS)
        listener.create_subscription(SafetyStatus, 'vla/safety_status', seen['status'].append, RELIABLE_QOS)
        ex = SingleThreadedExecutor(context=ctx)
        ex.add_node(node)
        ex.add_node(listener)

        def spin(seconds):
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                ex.spin_once(timeout_sec=0.02)

        spin(0.5)
        node._on_scan(None)                      # AttributeError inside the callback
        node._on_joint_states(None)
        spin(1.0)
        assert seen['status'] and seen['status'][-1].reasons == ['internal_error']
        assert seen['status'][-1].state == SafetyStatus.STOP and 'reset_estop' in seen['status'][-1].message
        n = len(seen['cmd'])
        spin(1.0)
        assert len(seen['cmd']) - n >= 8 and all(twist_is_zero(m) for m in seen['cmd'][n:]), 'silent or moving'
        response = node._on_reset_estop(Trigger.Request(), Trigger.Response())
        assert response.success and 'new instruction' in response.message
        spin(0.5)
        assert 'internal_error' not in seen['status'][-1].reasons
        assert 'awaiting_instruction' in seen['status'][-1].reasons
        ex.shutdown()
        node.destroy_node()
        listener.destroy_node()
    finally:
        rclpy.shutdown(context=ctx)
