"""The safety scenario benchmark end to end: the embedded simulator with the real vla_inference
and vla_safety processes, two cheap scenarios. Asserts what the robot did, not how fast."""
import math
import os

import pytest

pytestmark = pytest.mark.ros

pytest.importorskip('vla_sim.sim', reason='vla_sim / mujoco not installed: run scripts/test.sh')

from ros_harness import QUIET, fresh_domain_id  # noqa: E402


@pytest.fixture(scope='module')
def runner():
    from vla_tools.safety_benchmark import Runner
    return Runner(domain_id=int(os.environ.get('ROS_DOMAIN_ID') or fresh_domain_id()), quiet=QUIET)


def test_an_obstacle_appearing_in_the_path_stops_the_robot_before_contact(runner):
    from vla_tools.safety_benchmark import scenarios
    r = runner.run(scenarios()['obstacle_appears'])
    f = r.figures
    assert f['contacts'] == 0, f'the robot touched {f["contact_objects"]}'
    assert f['min_clearance'] > 0.0
    assert f['stop_episodes'] >= 1, 'the box never was in the STOP zone: the scenario did not test anything'
    assert isinstance(f['time_to_stop'], float) and math.isfinite(f['time_to_stop']), 'never stopped'
    assert f['stopped_share'] > 0.9, 'crept on while the box stood in the STOP zone'
    assert isinstance(f['time_to_resume'], float) and math.isfinite(f['time_to_resume']), \
        'did not walk on once the box had gone'
    assert r.gate_states.get('STOP', 0) > 0


def test_a_lidar_dropout_stops_the_robot_and_it_walks_on_when_the_scans_return(runner):
    from vla_tools.safety_benchmark import scenarios
    r = runner.run(scenarios()['lidar_dropout'])
    f = r.figures
    assert [e[1] for e in r.events] == ['command', 'mute', 'unmute']
    assert isinstance(f['time_to_stop'], float) and math.isfinite(f['time_to_stop']), \
        'kept walking without a lidar'
    assert isinstance(f['time_to_resume'], float) and math.isfinite(f['time_to_resume'])
    assert f['false_stops'] < 0.5
