"""How the scenario benchmark judges what was required (pure: no ROS, no simulator)."""
import math

from vla_tools.safety_report import aggregate, kill_lines, repeat_table, table
from vla_tools.safety_scenarios import Event, Geometry, Window, command_level_at, judge, scenarios, windows

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


def _result(name='x', **fig):
    from vla_tools.safety_benchmark import ScenarioResult
    from vla_tools.stop_metrics import Targets
    figures = {'time_to_stop': 0.5, 'time_to_still': 0.6, 'stopped_share': 1.0, 'time_to_resume': None,
               'false_stops': 0.0, 'contacts': 1, 'min_clearance': 0.0, **fig}
    t = Targets()
    passes = {'time_to_stop': None if figures['time_to_stop'] is None else
              (figures['time_to_stop'] != 'inf' and figures['time_to_stop'] <= t.time_to_stop),
              'time_to_still': None, 'stopped_share': figures['stopped_share'] >= t.stopped_share,
              'time_to_resume': None, 'false_stops': True, 'contacts': figures['contacts'] <= t.contacts}
    return ScenarioResult(name, '', figures, passes)


def test_the_table_marks_each_figure_against_its_target_and_reports_time_to_still_beside_it():
    r = _result()
    head, target, row = table([r]).splitlines()
    assert 'time to stop, command (s)' in head and 'time to still, base (s)' in head
    assert row.split() == ['x', '0.50', 'MISS', '0.60', '100.0%', 'PASS', '-', '0.0%', 'PASS', '1', 'MISS',
                           '0.00', 'MISS']
    assert '| x | 0.50 MISS | 0.60 |' in table([r], markdown=True)


def test_repeated_runs_show_median_worst_and_how_many_met_each_target():
    runs = [_result(time_to_stop=0.1, contacts=0, min_clearance=0.5),
            _result(time_to_stop=0.2, contacts=0, min_clearance=0.3),
            _result(time_to_stop='inf', stopped_share=0.9, contacts=0, min_clearance=0.4)]
    agg = aggregate(runs)
    assert (agg['time_to_stop'].median, agg['time_to_stop'].worst, agg['time_to_stop'].met) == (0.2, math.inf, 2)
    assert agg['stopped_share'].worst == 0.9 and agg['stopped_share'].met == 2     # worst = lowest
    assert agg['min_clearance'].worst == 0.3 and agg['min_clearance'].met == 3
    assert agg['time_to_resume'] is None and agg['time_to_still'].met is None
    row = repeat_table({'x': runs}).splitlines()[-1]
    assert row.startswith('x (x3)') and '0.20 / never (2/3)' in row and '0.60 / 0.60 ' in row


def test_the_kill_measures_are_judged_over_runs_against_the_issue():
    rs = [_result(), _result(), _result()]
    rs[0].kills = {'vla_safety': {'still_s': 0.38, 'zeros_again_s': 2.4, 'zero': True, 'respawned_s': 0.55}}
    rs[1].kills = {'vla_safety': {'still_s': 0.6, 'zeros_again_s': 3.2, 'zero': True}}
    rs[2].kills = {'vla_inference': {'still_s': 0.44}}
    safety, inference = kill_lines(rs)
    assert 'median 0.49, max 0.60, 1/2 within 0.5 s' in safety
    assert 'median 2.80, max 3.20, 1/2 within 3 s' in safety
    assert 'started again after (wall s) median 0.55' in safety
    rs[0].kills['vla_safety']['zero'] = False          # a first command that moves is no stop
    assert '0/2 within 3 s' in kill_lines(rs)[0]
    assert inference.startswith('vla_inference SIGKILL (1 run)') and 'within' not in inference


def test_a_sample_is_added_at_each_requirements_exact_start():
    from vla_tools.safety_benchmark import Raw, with_window_starts
    raws = [Raw(round(0.01 * k, 3), 0.25, 2.0, frozenset(), 0) for k in range(0, 300, 3)]   # every 30 ms
    wins = windows([(0.0, Event(0.0, 'command', 'x')), (1.005, Event(1.0, 'estop', stop_after=0.0)),
                    (2.0, Event(2.0, 'command', 'x', clears=True))])
    out = with_window_starts(raws, wins)
    assert [r.t for r in out if 0.99 <= r.t <= 1.02] == [0.99, 1.005, 1.02]
    assert next(r for r in out if r.t == 1.005).speed == 0.25
    assert len(out) == len(raws) + 1


def test_with_vla_safety_killed_the_command_level_does_not_apply():
    sc = scenarios()['safety_killed']
    log = [(0.0, Event(0.0, 'command', 'x'))] + list(zip((3.0, 5.4, 5.4, 6.9), sc.events))
    wins = windows(log)
    assert not command_level_at(3.5, wins) and command_level_at(7.0, wins)
    lidar = windows([(0.0, Event(0.0, 'command', 'x'))] + [(3.0, e) for e in scenarios()['lidar_dropout'].events[:1]])
    assert command_level_at(5.0, lidar) and command_level_at(1.0, wins)


def test_false_stops_are_explained_by_the_gates_status_in_force():
    from vla_tools.safety_benchmark import false_stop_reasons
    from vla_tools.stop_metrics import Sample
    # moving until 2 s, standing still from 2 s to 3 s although motion is expected
    samples = [Sample(round(0.01 * k, 3), 0.25 if k < 200 else 0.0, None, True) for k in range(300)]
    statuses = [(0.0, ()), (2.0, ('proposal_timeout',)), (2.5, ('proposal_timeout', 'scan_timeout'))]
    out = false_stop_reasons(samples, statuses, allowance=0.6)
    assert out['proposal_timeout'] == 1.0 and 0.45 < out['scan_timeout'] < 0.55
    assert false_stop_reasons(samples[:200], statuses, 0.6) == {}                 # it never stood still
    early = [Sample(round(0.01 * k, 3), 0.0, None, True) for k in range(50)]   # within the allowance
    assert false_stop_reasons(early, statuses, 0.6) == {}
