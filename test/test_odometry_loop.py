"""A policy that reads odometry, in the real loop: vla_inference subscribes to odom
(nav_msgs/Odometry, as a base driver publishes it) and is refused (confidence 0: vla_safety holds
the robot) while no odometry arrives, once the newest is older than odometry_timeout, and while
it arrives measured (stamped) longer ago than that.

The policy is a small seed_vla checkpoint written by the test (odometry_input on, untrained: its
actions mean nothing, its confidence is some fixed value above 0).
"""
import time

import pytest

pytestmark = pytest.mark.ros

from ros_harness import running_suite, twist_is_zero  # noqa: E402

from vla_interfaces.msg import SafetyStatus  # noqa: E402


@pytest.fixture(scope='module')
def odometry_checkpoint(tmp_path_factory):
    from vla_core.embodiment import load_embodiment
    from vla_policy.checkpoint import save_checkpoint
    from vla_policy.policies.seed_vla import SeedVLAPolicy
    emb = load_embodiment('vla_humanoid')
    policy = SeedVLAPolicy.untrained(emb, config={
        'odometry_input': True, 'n_action_steps': 1, 'chunk_size': 4,
        'vision': {'image_size': 32, 'channels': [8, 8], 'strides': [2, 2]},
        'fusion': {'hidden_dim': 32, 'layers': 1}, 'language': {'dim': 16}})
    return save_checkpoint(policy, tmp_path_factory.mktemp('ckpt') / 'odometry_policy', trained=True)


def _confidences(probe, t0):
    return [a.confidence for _, a in probe.since(probe.actions, t0) if a.instruction == 'turn left']


def test_no_odometry_refuses_and_odometry_lets_the_policy_act(odometry_checkpoint):
    with running_suite({'policy': str(odometry_checkpoint), 'policy_backend': 'torch'},
                       {'command_timeout': 0.3}) as (suite, probe):
        probe.base_pose = None                       # the base driver is silent
        time.sleep(0.8)                              # longer than odometry_timeout: any earlier pose is forgotten
        probe.command('turn left')
        assert probe.wait_for(lambda: _confidences(probe, time.monotonic() - 0.2), 5)
        t0 = time.monotonic()
        time.sleep(1.0)
        refused = _confidences(probe, t0)
        assert refused and all(c == 0.0 for c in refused), f'confidences without odometry: {refused[:5]}'
        assert all(twist_is_zero(m) for _, m in probe.since(probe.cmd_vel, t0))
        assert probe.latest(probe.status).state == SafetyStatus.STOP

        probe.base_pose = (0.0, 0.0, 0.0)            # odometry arrives: the policy's own confidence
        assert probe.wait_for(lambda: any(c > 0.0 for c in _confidences(probe, time.monotonic() - 0.3)), 5), \
            'odometry arrived but the policy stayed refused'

        probe.base_pose = None                       # lost again: refused within odometry_timeout (0.5 s)
        t_lost = time.monotonic()
        assert probe.wait_for(lambda: (c := _confidences(probe, time.monotonic() - 0.25)) and max(c) == 0.0, 5), \
            'odometry lost but the policy kept acting'
        assert time.monotonic() - t_lost < 2.0

        probe.odom_age = 1.0                         # streaming again, but each pose measured 1 s ago: ignored
        probe.base_pose = (0.0, 0.0, 0.0)
        t0 = time.monotonic()
        time.sleep(1.0)
        late = _confidences(probe, t0)
        assert late and max(late) == 0.0, f'acted on odometry 1 s old: {late[:5]}'
        probe.odom_age = 0.0
        assert probe.wait_for(lambda: any(c > 0.0 for c in _confidences(probe, time.monotonic() - 0.3)), 5)


@pytest.fixture(scope='module')
def scan_checkpoint(tmp_path_factory):
    from vla_core.embodiment import load_embodiment
    from vla_policy.checkpoint import save_checkpoint
    from vla_policy.policies.seed_vla import SeedVLAPolicy
    emb = load_embodiment('vla_humanoid')
    policy = SeedVLAPolicy.untrained(emb, config={
        'range_sectors': 8, 'range_max_m': 1.5, 'n_action_steps': 1, 'chunk_size': 4,
        'vision': {'image_size': 32, 'channels': [8, 8], 'strides': [2, 2]},
        'fusion': {'hidden_dim': 32, 'layers': 1}, 'language': {'dim': 16}})
    return save_checkpoint(policy, tmp_path_factory.mktemp('ckpt') / 'scan_policy', trained=True)


def _answers(probe, t0, instruction):
    return [(a.confidence, round(a.twist.linear.x, 6), round(a.twist.angular.z, 6))
            for _, a in probe.since(probe.actions, t0) if a.instruction == instruction]


def test_a_policy_that_reads_the_scan_gets_it_from_the_lidar_topic(scan_checkpoint):
    """model.range_sectors: vla_inference subscribes to scan (sensor_msgs/LaserScan, sensor-data QoS,
    as a lidar driver publishes it), refuses the policy while no scan arrives and once the newest is
    older than scan_timeout, and the ranges it reads are the lidar's: an obstacle ahead changes the
    proposal (the policy is untrained: any change shows the input arrives)."""
    with running_suite({'policy': str(scan_checkpoint), 'policy_backend': 'torch'},
                       {'command_timeout': 0.3}) as (suite, probe):
        probe.scan_ranges = None                     # the lidar is silent
        time.sleep(0.8)
        probe.command('walk forward')
        assert probe.wait_for(lambda: _answers(probe, time.monotonic() - 0.2, 'walk forward'), 5)
        t0 = time.monotonic()
        time.sleep(1.0)
        refused = [c for c, *_ in _answers(probe, t0, 'walk forward')]
        assert refused and max(refused) == 0.0, f'confidences without a scan: {refused[:5]}'

        probe.scan_ranges = float('inf')             # the lidar sees nothing near: the policy's own answer
        assert probe.wait_for(lambda: any(c > 0.0 for c, *_ in _answers(probe, time.monotonic() - 0.3,
                                                                             'walk forward')), 5), \
            'a scan arrived but the policy stayed refused'
        time.sleep(0.5)
        clear = set(_answers(probe, time.monotonic() - 0.4, 'walk forward'))
        probe.obstacle_ahead(0.4, width_deg=60)
        time.sleep(0.8)
        near = set(_answers(probe, time.monotonic() - 0.4, 'walk forward'))
        assert clear and near and not clear & near, f'the same proposals with and without an obstacle: {clear}'

        probe.scan_ranges = None                     # lost again: refused within scan_timeout (0.5 s)
        assert probe.wait_for(lambda: (c := _answers(probe, time.monotonic() - 0.25, 'walk forward'))
                              and max(a[0] for a in c) == 0.0, 5), 'the scan was lost but the policy kept acting'


# -- the progress check (vla_core.progress) ---------------------------------------------------------
def _walk_confidences(probe, t0):
    return [(t, a.confidence) for t, a in probe.since(probe.actions, t0) if a.instruction == 'walk forward']


def _stalls(probe) -> int:
    for _, arr in reversed(list(probe.recorded['/diagnostics'])):
        for st in arr.status:
            if st.name.startswith('vla_inference'):
                return int({kv.key: kv.value for kv in st.values}['stalls'])
    return -1


def test_a_walk_the_base_does_not_carry_out_is_refused_for_a_window_then_walks_on():
    """The probe is the base: its odometry integrates the gated cmd_vel, unless it is blocked. A
    blocked base stalls the walk (confidence 0, vla_safety holds, `stalls` in /diagnostics) after
    progress_window (3 s); once the base moves again the walk goes on and stalls no more."""
    from diagnostic_msgs.msg import DiagnosticArray
    with running_suite({'policy': 'keyword'}, {'command_timeout': 0.3},
                       record={'/diagnostics': DiagnosticArray}) as (suite, probe):
        probe.base_moves = False                     # cmd_vel says walk; the odometry says it stays put
        probe.command('walk forward')
        t0 = time.monotonic()
        assert probe.wait_for(lambda: any(m.linear.x > 0.05 for _, m in probe.since(probe.cmd_vel, t0)), 10)
        assert probe.wait_for(lambda: any(c == 0.0 for _, c in _walk_confidences(probe, t0)), 10), \
            'a walk the base never carried out was never refused'
        confs = _walk_confidences(probe, t0)
        t_zero = next(t for t, c in confs if c == 0.0)
        before = [(t, c) for t, c in confs if t < t_zero]
        assert before and all(c == 1.0 for _, c in before)
        assert t_zero - before[0][0] > 2.5, 'refused before a 3 s window of record'
        assert probe.wait_for(lambda: _stalls(probe) >= 1, 5), '/diagnostics does not count the stall'
        time.sleep(1.0)
        held = probe.since(probe.cmd_vel, t_zero + 0.5)
        assert held and all(twist_is_zero(m) for _, m in held), 'vla_safety let a stalled walk move'

        probe.base_moves = True                      # the way is clear: the base carries out cmd_vel
        t_clear = time.monotonic()
        assert probe.wait_for(lambda: any(c == 1.0 for _, c in _walk_confidences(probe, t_clear)), 6), \
            'the walk stayed refused after its window'
        t_back = next(t for t, c in _walk_confidences(probe, t_clear) if c == 1.0)
        time.sleep(4.5)                              # longer than a window: walking, it must not stall again
        after = _walk_confidences(probe, t_back)
        assert after and all(c == 1.0 for _, c in after), 'a base that moves as asked stalled'
        assert any(m.linear.x > 0.05 for _, m in probe.since(probe.cmd_vel, t_back + 1.0))
        assert probe.base_pose[0] > 0.3


def test_a_goal_whose_base_stalls_is_aborted_and_the_robot_stands_still():
    """vla/execute: a walk the base does not carry out is aborted at its stall (after
    progress_window, 3 s) with a message that says so, and the robot is told to stand still: it
    does not walk on once the way clears, until a person sends a new goal."""
    from vla_interfaces.action import ExecuteInstruction
    with running_suite({'policy': 'keyword'}, {'command_timeout': 0.3}) as (suite, probe):
        assert probe.execute.wait_for_server(timeout_sec=10)
        probe.base_moves = False                     # cmd_vel says walk; the odometry says it stays put
        t0 = time.monotonic()
        fut = probe.execute.send_goal_async(ExecuteInstruction.Goal(instruction='walk forward', timeout=0.0))
        assert probe.wait_for(fut.done, 5) and fut.result().accepted
        assert probe.wait_for(lambda: any(m.linear.x > 0.05 for _, m in probe.since(probe.cmd_vel, t0)), 10)
        res_fut = fut.result().get_result_async()
        assert probe.wait_for(res_fut.done, 15), 'a goal whose base never moved was not ended'
        result = res_fut.result().result
        assert not result.success and result.message.startswith('stalled, no progress'), result.message
        assert time.monotonic() - t0 > 2.5, 'aborted before a 3 s window of record'

        probe.base_moves = True                      # the way clears: nothing moves until asked again
        assert probe.wait_for(lambda: twist_is_zero(probe.latest(probe.cmd_vel)), 3)
        t_clear = time.monotonic()
        time.sleep(4.0)                              # longer than the stall's window
        after = probe.since(probe.cmd_vel, t_clear)
        assert after and all(twist_is_zero(m) for _, m in after), 'the robot moved after its goal was aborted'

        probe.command('walk forward')                # a person asks again
        assert probe.wait_for(lambda: any(m.linear.x > 0.05 for _, m in probe.since(probe.cmd_vel, t_clear)), 10)
