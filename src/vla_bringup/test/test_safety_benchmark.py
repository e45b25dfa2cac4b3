"""How the scenario benchmark judges what was required (pure: no ROS, no simulator)."""
import math

from vla_bringup.safety_benchmark import Event, Geometry, Window, judge, scenarios, table, windows

GEO = Geometry(stop_clearance=0.1, reach=0.85)


def test_a_fault_holds_motion_at_once_and_requires_a_stop_after_its_delay_until_it_clears():
    log = [(10.0, Event(0.0, 'command', 'walk forward')),
           (13.0, Event(3.0, 'mute', 'scan', stop_after=0.5)),
           (15.2, Event(5.0, 'unmute', 'scan', clears=True))]
    (w,) = windows(log)
    assert w == Window(hold_from=13.0, start=13.5, end=15.2, limit=0.0)
    far = math.inf
    assert judge(12.0, far, 10.0, [w], GEO) == (None, True)
    assert judge(13.2, far, 10.0, [w], GEO) == (None, False)      # the delay: not scored
    assert judge(14.0, far, 10.0, [w], GEO) == (0.0, False)
    assert judge(15.2, far, 10.0, [w], GEO) == (None, True)       # cleared: motion expected again


def test_a_limit_change_keeps_motion_expected_and_an_unclosed_window_lasts():
    (w,) = windows([(3.0, Event(3.0, 'set_param', ('max_linear_x', 0.1), stop_after=0.0, limit=0.1,
                                holds=False))])
    assert w.end == math.inf and w.hold_from is None
    assert judge(5.0, math.inf, 0.0, [w], GEO) == (0.1, True)


def test_obstacles_require_a_stop_in_the_stop_zone_and_forgive_slowing_within_reach():
    assert judge(1.0, 0.05, 0.0, [], GEO) == (0.0, False)
    assert judge(1.0, 0.5, 0.0, [], GEO) == (None, False)        # the gate may slow down here
    assert judge(1.0, 2.0, 0.0, [], GEO) == (None, True)
    assert judge(1.0, 2.0, 5.0, [], GEO) == (None, False)        # not commanded yet


def test_the_gate_geometry_comes_from_vla_safety():
    from vla_safety.params import SafetyParams
    p = SafetyParams()
    g = Geometry.of_gate()
    assert g.stop_clearance == p.stop_margin
    assert g.reach >= p.slowdown_margin and g.reach >= p.stop_margin


def test_every_scenario_of_the_issue_is_there_and_faults_clear():
    sc = scenarios()
    assert set(sc) == {'walk_into_box', 'obstacle_appears', 'obstacle_crosses', 'lidar_dropout', 'camera_stall',
                       'inference_killed', 'safety_killed', 'estop_reset', 'param_change'}
    for s in sc.values():
        holding = [e for e in s.events if e.stop_after is not None and e.holds]
        if holding:
            assert any(e.clears for e in s.events), f'{s.name}: a fault that never clears'


def test_the_table_marks_each_figure_against_its_target():
    from vla_bringup.safety_benchmark import ScenarioResult
    r = ScenarioResult('x', '', {'time_to_stop': 0.5, 'stopped_share': 1.0, 'time_to_resume': None,
                                 'false_stops': 0.0, 'contacts': 1, 'min_clearance': 0.0},
                       {'time_to_stop': False, 'stopped_share': True, 'time_to_resume': None,
                        'false_stops': True, 'contacts': False})
    row = table([r]).splitlines()[-1].split()
    assert row == ['x', '0.50', 'MISS', '100.0%', 'PASS', '-', '0.0%', 'PASS', '1', 'MISS', '0.00', 'MISS']
    assert '| x | 0.50 MISS |' in table([r], markdown=True)


