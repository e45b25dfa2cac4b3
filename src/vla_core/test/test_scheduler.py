"""Unit tests of vla_core.scheduler: times are plain floats, no clock, no ROS."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vla_core.scheduler import (
    ActionScheduler, ActionSmoother, ScheduledAction, SchedulerParams, ensemble_weights,
    mean_abs_jerk)

DT = 0.1


def ramp(start, n=10, dim=1):
    """Chunk whose step k holds start + k in every dimension: the value names the step."""
    return np.repeat((start + np.arange(n, dtype=np.float32))[:, None], dim, axis=1)


def value(sched, now):
    out = sched.action_at(now)
    return None if out is None else float(out.action[0])


# --------------------------------------------------------------------------- stepping


def test_single_step_chunks_hold_until_max_age():
    s = ActionScheduler(SchedulerParams(max_action_age=1.0))
    s.add_chunk([[7.0, -7.0]], 0.9, t_obs=10.0, step_dt=DT)
    for now in (10.0, 10.05, 10.5, 10.99, 11.0):
        out = s.action_at(now)
        assert out.action.tolist() == [7.0, -7.0] and out.chunk_index == 0 and out.chunk_length == 1
    assert s.action_at(11.0001) is None
    s.add_chunk([[8.0, -8.0]], 0.9, t_obs=10.7, step_dt=DT)   # the latest action replaces it
    assert s.action_at(11.0001).action.tolist() == [8.0, -8.0]
    assert s.action_at(11.71) is None


def test_multi_step_chunk_steps_through_at_the_right_times():
    s = ActionScheduler()
    cid = s.add_chunk(ramp(0, n=5), 0.8, t_obs=2.0, step_dt=DT, meta={'seq': 3})
    for k in range(5):
        for now in (2.0 + k * DT, 2.0 + k * DT + 0.099):
            out = s.action_at(now)
            assert (out.chunk_index, float(out.action[0])) == (k, k)
            assert out.chunk_id == cid and out.meta == {'seq': 3} and out.chunk_length == 5
            assert out.stamp == 2.0 and out.age == pytest.approx(now - 2.0)
            assert out.num_blended == 1 and out.confidence == pytest.approx(0.8)
    assert s.action_at(2.5) is None            # exhausted: now >= t_obs + T*step_dt
    assert s.action_at(3.0) is None            # and never extrapolated


def test_late_chunk_skips_passed_steps():
    s = ActionScheduler()
    s.add_chunk(ramp(0, n=8), 1.0, t_obs=5.0, step_dt=DT)   # inference took 230 ms
    out = s.action_at(5.23)
    assert out.chunk_index == 2 and out.action[0] == 2.0 and out.age == pytest.approx(0.23)


def test_exhausted_newest_chunk_gives_none_even_if_an_older_one_is_longer():
    s = ActionScheduler(SchedulerParams(temporal_ensembling=True))
    s.add_chunk(ramp(0, n=20), 1.0, t_obs=0.0, step_dt=DT)
    s.add_chunk(ramp(100, n=2), 1.0, t_obs=0.3, step_dt=DT)
    assert s.action_at(0.45) is not None
    assert s.action_at(0.5) is None


def test_max_action_age_cuts_long_chunks():
    s = ActionScheduler(SchedulerParams(max_action_age=0.5))
    s.add_chunk(ramp(0, n=30), 1.0, t_obs=0.0, step_dt=DT)
    assert value(s, 0.5) == 5.0
    assert s.action_at(0.51) is None
    assert s.chunk_count == 0                                    # dropped for good


def test_stale_chunk_is_never_used():
    s = ActionScheduler(SchedulerParams(max_action_age=0.3))
    s.add_chunk(ramp(0, n=10), 1.0, t_obs=0.0, step_dt=DT)
    assert s.action_at(0.35) is None     # arrived (or asked) too late: never used


def test_future_tolerance():
    s = ActionScheduler(SchedulerParams(future_tolerance=0.05))
    s.add_chunk(ramp(0), 1.0, t_obs=1.0, step_dt=DT)
    s.add_chunk(ramp(50), 1.0, t_obs=1.2, step_dt=DT)
    assert value(s, 1.16) == 50.0        # 40 ms in the future: serves step 0
    assert value(s, 1.14) == 1.0         # 60 ms: not yet, the older chunk still rules
    strict = ActionScheduler(SchedulerParams(future_tolerance=0.0))
    strict.add_chunk(ramp(0), 1.0, t_obs=1.0, step_dt=DT)
    assert strict.action_at(0.99) is None


def test_newest_is_by_observation_time_not_arrival():
    s = ActionScheduler()
    s.add_chunk(ramp(100), 1.0, t_obs=1.0, step_dt=DT, meta='new')
    s.add_chunk(ramp(0), 1.0, t_obs=0.5, step_dt=DT, meta='old')     # arrives late
    out = s.action_at(1.1)
    assert out.meta == 'new' and out.action[0] == 101.0


def test_ensemble_off_uses_newest_only():
    s = ActionScheduler(SchedulerParams(temporal_ensembling=False))
    s.add_chunk(ramp(0), 0.2, t_obs=0.0, step_dt=DT)
    s.add_chunk(ramp(100), 0.9, t_obs=0.2, step_dt=DT)
    out = s.action_at(0.35)
    assert out.action[0] == 101.0 and out.num_blended == 1 and out.confidence == pytest.approx(0.9)


# ------------------------------------------------------------------------- ensembling


def test_ensemble_two_chunks_by_hand():
    # now = 0.35: chunk A (t_obs 0.0) is at step 3 -> 3.0, chunk B (t_obs 0.2) at step 1 -> 101.0
    s = ActionScheduler(SchedulerParams(temporal_ensembling=True, ensemble_coeff=0.5))
    s.add_chunk(ramp(0, dim=2), 0.9, t_obs=0.0, step_dt=DT)
    s.add_chunk(ramp(100, dim=2), 0.6, t_obs=0.2, step_dt=DT, meta='B')
    out = s.action_at(0.35)
    # w = [exp(0), exp(-0.5)] = [1, 0.60653066]; (3*1 + 101*0.60653066) / 1.60653066
    assert out.action.tolist() == pytest.approx([39.998986] * 2, abs=1e-4)
    assert out.num_blended == 2 and out.meta == 'B' and out.chunk_index == 1
    assert out.confidence == pytest.approx(0.6)                  # min of 0.9, 0.6


def test_ensemble_three_chunks_by_hand():
    s = ActionScheduler(SchedulerParams(temporal_ensembling=True, ensemble_coeff=1.0))
    s.add_chunk(ramp(0), 0.5, t_obs=0.0, step_dt=DT)       # step 3 -> 3
    s.add_chunk(ramp(100), 0.9, t_obs=0.2, step_dt=DT)     # step 1 -> 101
    s.add_chunk(ramp(1000), 0.8, t_obs=0.3, step_dt=DT)    # step 0 -> 1000
    out = s.action_at(0.35)
    # w = [1, e^-1, e^-2] = [1, 0.36787944, 0.13533528], sum 1.50321472
    # (3 + 37.1558237 + 135.3352832) / 1.50321472 = 175.4911069 / 1.50321472 = 116.743872
    assert float(out.action[0]) == pytest.approx(116.743872, abs=1e-3)
    assert out.num_blended == 3 and out.confidence == pytest.approx(0.5)


def test_ensemble_uniform_and_newer_favouring_coefficients():
    for coeff, expected in ((0.0, (3 + 101 + 1000) / 3), (-50.0, 1000.0), (50.0, 3.0)):
        s = ActionScheduler(SchedulerParams(temporal_ensembling=True, ensemble_coeff=coeff))
        for start, t in ((0, 0.0), (100, 0.2), (1000, 0.3)):
            s.add_chunk(ramp(start), 1.0, t_obs=t, step_dt=DT)
        assert value(s, 0.35) == pytest.approx(expected, rel=1e-5)


def test_ensemble_weights_function():
    np.testing.assert_allclose(ensemble_weights(3, 1.0), np.exp([0, -1, -2]) / np.exp([0, -1, -2]).sum())
    np.testing.assert_allclose(ensemble_weights(4, 0.0), [0.25] * 4)
    assert np.all(np.isfinite(ensemble_weights(100, -1000.0)))   # no overflow


def test_ensemble_skips_exhausted_and_stale_chunks():
    s = ActionScheduler(SchedulerParams(temporal_ensembling=True, ensemble_coeff=0.0, max_action_age=1.0))
    s.add_chunk(ramp(0, n=2), 1.0, t_obs=0.0, step_dt=DT)     # exhausted at 0.2
    s.add_chunk(ramp(10, n=10), 1.0, t_obs=0.1, step_dt=DT)
    s.add_chunk(ramp(20, n=10), 1.0, t_obs=0.2, step_dt=DT)
    out = s.action_at(0.25)
    assert out.num_blended == 2 and float(out.action[0]) == pytest.approx((11 + 20) / 2)
    out = s.action_at(1.15)    # chunk at 0.1 now too old; chunk at 0.2 alone (step 9)
    assert out.num_blended == 1 and float(out.action[0]) == 29.0


def test_ensemble_of_single_step_chunks_holds_only_the_newest():
    s = ActionScheduler(SchedulerParams(temporal_ensembling=True, ensemble_coeff=0.0))
    s.add_chunk([[1.0]], 1.0, t_obs=0.0, step_dt=DT)
    s.add_chunk([[3.0]], 1.0, t_obs=0.05, step_dt=DT)
    assert value(s, 0.07) == pytest.approx(2.0)      # both have a real step for 0.07
    out = s.action_at(0.5)                            # only the newest, held
    assert out.num_blended == 1 and out.action[0] == 3.0


# ------------------------------------------------------------------ state & validation


def test_reset_and_memory_bound():
    s = ActionScheduler(SchedulerParams(max_chunks=3))
    ids = [s.add_chunk(ramp(i), 1.0, t_obs=0.01 * i, step_dt=DT) for i in range(5)]
    assert s.chunk_count == 3 and ids == [0, 1, 2, 3, 4]
    s.reset()
    assert s.chunk_count == 0 and s.action_at(0.05) is None
    assert s.add_chunk(ramp(0), 1.0, 0.0, DT) == 5            # ids stay unique


def test_returned_action_is_a_private_copy():
    s = ActionScheduler()
    actions = ramp(0)
    s.add_chunk(actions, 1.0, 0.0, DT)
    actions[:] = -1                                            # caller reuses its buffer
    out = s.action_at(0.0)
    assert out.action[0] == 0.0 and out.action.dtype == np.float32
    out.action[0] = 42.0
    assert value(s, 0.0) == 0.0
    assert isinstance(out, ScheduledAction)


@pytest.mark.parametrize('kwargs, words', [
    (dict(actions=[[np.nan]]), 'NaN'),
    (dict(actions=np.zeros((0, 2))), 'T, D >= 1'),
    (dict(actions=np.zeros((2, 2, 2))), 'shape'),
    (dict(actions=[['a']]), 'numbers'),
    (dict(confidence=1.5), '0..1'),
    (dict(confidence=float('nan')), '0..1'),
    (dict(t_obs=float('inf')), 't_obs'),
    (dict(step_dt=0.0), 'step_dt'),
    (dict(step_dt=-0.1), 'step_dt'),
])
def test_add_chunk_rejects_invalid(kwargs, words):
    s = ActionScheduler()
    args = dict(actions=[[0.0]], confidence=0.5, t_obs=0.0, step_dt=DT)
    args.update(kwargs)
    with pytest.raises(ValueError, match=words):
        s.add_chunk(**args)
    assert s.chunk_count == 0


def test_add_chunk_rejects_changed_dimension():
    s = ActionScheduler()
    s.add_chunk(np.zeros((3, 4)), 0.5, 0.0, DT)
    with pytest.raises(ValueError, match='call reset'):
        s.add_chunk(np.zeros((3, 5)), 0.5, 0.1, DT)
    s.reset()
    s.add_chunk(np.zeros((3, 5)), 0.5, 0.1, DT)


def test_action_at_rejects_non_finite_now():
    with pytest.raises(ValueError, match='now'):
        ActionScheduler().action_at(float('nan'))


@pytest.mark.parametrize('kwargs, words', [
    (dict(max_action_age=0.0), 'max_action_age must be a positive'),
    (dict(max_action_age=float('inf')), 'max_action_age'),
    (dict(future_tolerance=-0.1), 'future_tolerance'),
    (dict(temporal_ensembling='yes'), 'true or false'),
    (dict(ensemble_coeff=float('nan')), 'ACT uses 0.01'),
    (dict(max_chunks=0), 'max_chunks'),
])
def test_params_validation_says_how_to_fix(kwargs, words):
    with pytest.raises(ValueError, match=words):
        SchedulerParams(**kwargs)


@settings(max_examples=200, deadline=None)
@given(chunks=st.lists(st.tuples(st.floats(0, 2), st.integers(1, 6), st.floats(0.01, 0.3),
                                 st.floats(0, 1)), min_size=1, max_size=6),
       times=st.lists(st.floats(0, 3), min_size=1, max_size=10),
       ensemble=st.booleans(), coeff=st.floats(-5, 5))
def test_property_blend_is_convex_and_confidence_is_min(chunks, times, ensemble, coeff):
    s = ActionScheduler(SchedulerParams(temporal_ensembling=ensemble, ensemble_coeff=coeff))
    rng = np.random.default_rng(0)
    all_vals, confs = [], []
    for t_obs, n, dt, conf in chunks:
        a = rng.uniform(-1, 1, (n, 2)).astype(np.float32)
        all_vals.append(a)
        confs.append(conf)
        s.add_chunk(a, conf, t_obs, dt)
    lo = min(float(v.min()) for v in all_vals)
    hi = max(float(v.max()) for v in all_vals)
    for now in sorted(times):
        out = s.action_at(now)
        if out is None:
            continue
        assert np.all(out.action >= lo - 1e-5) and np.all(out.action <= hi + 1e-5)
        assert min(confs) <= out.confidence <= max(confs)
        assert 0 <= out.chunk_index < out.chunk_length
        assert -0.05 - 1e-9 <= out.age <= 1.0 + 1e-9
        if not ensemble:
            assert out.num_blended == 1


# --------------------------------------------------------------------------- smoother


def test_moving_average_by_hand():
    sm = ActionSmoother('moving_average', window=3)
    outs = [sm.update([x, -x]).tolist() for x in (0.0, 3.0, 6.0, 9.0)]
    assert outs == [[0.0, 0.0], [1.5, -1.5], [3.0, -3.0], [6.0, -6.0]]


def test_ema_by_hand():
    sm = ActionSmoother('ema', alpha=0.5)
    assert [float(sm.update([x])[0]) for x in (0.0, 4.0, 8.0)] == [0.0, 2.0, 5.0]
    sm = ActionSmoother('ema', alpha=0.25)
    assert [float(sm.update([x])[0]) for x in (4.0, 0.0, 0.0)] == [4.0, 3.0, 2.25]


def test_none_smoother_passes_through():
    sm = ActionSmoother()
    assert sm.update(np.array([1.0, 2.0])).tolist() == [1.0, 2.0]
    assert sm(np.array([3.0, 4.0])).tolist() == [3.0, 4.0]           # callable alias


@pytest.mark.parametrize('kind', ['moving_average', 'ema', 'none'])
def test_nan_input_is_skipped_and_reported(kind):
    sm = ActionSmoother(kind, window=3, alpha=0.5)
    sm.update([0.0])
    sm.update([4.0])
    assert sm.update([float('nan')]) is None
    assert sm.update([float('inf')]) is None
    assert sm.skipped == 2
    nxt = float(sm.update([8.0])[0])
    assert nxt == {'moving_average': 4.0, 'ema': 5.0, 'none': 8.0}[kind]   # no poisoning


def test_smoother_reset_and_dimension_check():
    sm = ActionSmoother('moving_average', window=4)
    sm.update([10.0, 10.0])
    with pytest.raises(ValueError, match='reset'):
        sm.update([1.0])
    sm.reset()
    assert sm.update([1.0]).tolist() == [1.0]


@pytest.mark.parametrize('kwargs, words', [
    (dict(kind='kalman'), 'moving_average'),
    (dict(kind='moving_average', window=0), 'window'),
    (dict(kind='ema', alpha=0.0), 'alpha'),
    (dict(kind='ema', alpha=1.5), 'alpha'),
])
def test_smoother_validation(kwargs, words):
    with pytest.raises(ValueError, match=words):
        ActionSmoother(**kwargs)


# ------------------------------------------------------------------------------ jerk


def test_mean_abs_jerk():
    t = np.arange(20) * 0.1
    assert mean_abs_jerk(np.full((20, 3), 2.5), 0.1) == 0.0
    assert mean_abs_jerk(np.stack([3 * t + 1, -t], axis=1), 0.1) == pytest.approx(0.0, abs=1e-6)
    assert mean_abs_jerk(t ** 2, 0.1) == pytest.approx(0.0, abs=1e-6)
    assert mean_abs_jerk(2.0 * t ** 3, 0.1) == pytest.approx(12.0, rel=1e-6)   # d3/dt3 = 6*2
    assert mean_abs_jerk(np.stack([t ** 3, -t ** 3], axis=1), 0.1) == pytest.approx(6.0, rel=1e-6)


def test_mean_abs_jerk_validation():
    with pytest.raises(ValueError, match='N >= 4'):
        mean_abs_jerk(np.zeros((3, 2)), 0.1)
    with pytest.raises(ValueError, match='dt'):
        mean_abs_jerk(np.zeros((5, 2)), 0.0)


def test_ensembling_reduces_jerk_at_chunk_boundaries():
    """Chunks that disagree: switching at each new chunk jerks, ACT blending less so."""
    def run(ensemble):
        s = ActionScheduler(SchedulerParams(temporal_ensembling=ensemble, ensemble_coeff=0.0))
        rng = np.random.default_rng(3)
        out = []
        for tick in range(200):
            now = tick * 0.02
            if tick % 5 == 0:       # a new chunk every 100 ms, each with its own offset
                s.add_chunk(ramp(0, n=25) * 0.01 + rng.normal(0, 0.2), 1.0, now, 0.02)
            out.append(s.action_at(now).action)
        return mean_abs_jerk(np.array(out), 0.02)
    assert run(True) < 0.5 * run(False)
    assert math.isfinite(run(True))


# --- interpolation between chunk steps -------------------------------------------------------
def test_interpolation_follows_the_line_between_steps():
    from vla_core.scheduler import ActionScheduler, SchedulerParams
    s = ActionScheduler(SchedulerParams(interpolate=True))
    s.add_chunk([[0.0], [1.0], [3.0]], 1.0, t_obs=10.0, step_dt=0.1)
    assert s.action_at(10.0).action[0] == pytest.approx(0.0)
    assert s.action_at(10.025).action[0] == pytest.approx(0.25)
    assert s.action_at(10.15).action[0] == pytest.approx(2.0)
    # the last step holds to the end of its window, then the chunk is exhausted
    assert s.action_at(10.25).action[0] == pytest.approx(3.0)
    assert s.action_at(10.31) is None


def test_interpolation_off_holds_each_step():
    from vla_core.scheduler import ActionScheduler, SchedulerParams
    s = ActionScheduler(SchedulerParams(interpolate=False))
    s.add_chunk([[0.0], [1.0]], 1.0, t_obs=0.0, step_dt=0.1)
    assert s.action_at(0.09).action[0] == pytest.approx(0.0)


def test_interpolation_applies_to_every_ensembled_chunk():
    from vla_core.scheduler import ActionScheduler, SchedulerParams, ensemble_weights
    s = ActionScheduler(SchedulerParams(interpolate=True, temporal_ensembling=True, ensemble_coeff=0.0))
    s.add_chunk([[0.0], [2.0], [4.0]], 1.0, t_obs=0.0, step_dt=0.1)
    s.add_chunk([[10.0], [20.0]], 1.0, t_obs=0.1, step_dt=0.1)
    # at t = 0.15: first chunk between steps 1 and 2 -> 3.0; second between 0 and 1 -> 15.0
    w = ensemble_weights(2, 0.0)
    assert s.action_at(0.15).action[0] == pytest.approx(w[0] * 3.0 + w[1] * 15.0)


def test_interpolate_must_be_bool():
    from vla_core.scheduler import SchedulerParams
    with pytest.raises(ValueError, match='interpolate'):
        SchedulerParams(interpolate='yes')
