"""The chunk benchmark: its figures on made-up sequences, and a short real run over loopback."""
import json

import numpy as np
import pytest

from vla_tools import chunk_benchmark as cb
from vla_tools.chunk_figures import loop_metrics
from vla_tools.chunk_task import Reference, TrackingPolicy

FIGURES = {'published', 'rate_hz', 'period_p50_ms', 'period_p99_ms', 'period_max_ms', 'jerk_published',
           'jerk_held', 'track_err', 'track_err_held', 'jumps', 'max_step', 'description', 'ticks',
           'first_action_s', 'ticks_without_action', 'policy_calls', 'policy_errors', 'policy_call_p50_ms'}


def test_figures_of_a_perfect_follower_and_of_a_staircase():
    ref = Reference()
    threshold = 2 * ref.max_step(0.1)
    t = np.arange(100) * 0.1
    m = loop_metrics(t, ref(t), ref, 0.1, threshold)
    assert m['published'] == 100 and m['rate_hz'] == pytest.approx(10.0)
    assert m['track_err'] == pytest.approx(0.0, abs=1e-12) and m['jumps'] == 0
    assert m['jerk_held'] == pytest.approx(m['jerk_published'], rel=0.05)

    # the same motion published every 0.5 s: slower, jerkier when held, steps that count as jumps
    t5 = t[::5]
    s = loop_metrics(t5, ref(t5), ref, 0.1, threshold)
    assert s['rate_hz'] == pytest.approx(2.0) and s['period_p99_ms'] == pytest.approx(500.0)
    assert s['jerk_held'] > 10 * m['jerk_held'] and s['jumps'] > 0


def test_tracking_policy_predicts_the_reference_from_the_stamp():
    from vla_core.policy import Observation
    ref = Reference(origin=5.0)
    out = TrackingPolicy(ref, horizon=10, step_dt=0.1, noise=0.0).infer(
        Observation(np.zeros((8, 8, 3), np.uint8), 'go', {}, stamp=7.0))
    assert out.actions.shape == (10, 2) and out.step_dt == 0.1
    np.testing.assert_allclose(out.actions, ref(7.0 + 0.1 * np.arange(10)), atol=1e-6)


def test_short_run_writes_json_and_async_publishes_more_often_than_blocking(tmp_path, capsys):
    out = tmp_path / 'chunk_benchmark.json'
    assert cb.main(['--duration', '2.5', '--loops', 'async,blocking', '--out', str(out)]) == 0
    table = capsys.readouterr().out
    assert 'async' in table and 'blocking' in table and 'jerk' in table

    result = json.loads(out.read_text())
    assert set(result) >= {'config', 'reference', 'loops', 'machine'}
    assert result['config']['latency_s'] == pytest.approx(0.3)
    loops = result['loops']
    assert set(loops) == {'async', 'blocking'}
    for m in loops.values():
        assert set(m) >= FIGURES
        assert m['policy_errors'] == 0 and m['published'] >= 4
        assert all(isinstance(m[k], (int, float)) for k in ('rate_hz', 'jerk_published', 'track_err'))
    # the only timing facts asserted: the async loop is not held up by the 300 ms server, the blocking one is
    assert loops['async']['published'] > loops['blocking']['published']
    assert loops['async']['rate_hz'] > loops['blocking']['rate_hz']


def test_unknown_loop_is_refused():
    with pytest.raises(ValueError, match='unknown loop'):
        cb.BenchmarkConfig(loops=('async', 'fastest'))
