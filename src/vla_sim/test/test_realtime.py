"""The node's pure helpers: real-time pacing, sensor schedules, cmd_vel timeout."""
import pytest

from vla_common.command_timeout import TwistCommand
from vla_sim.realtime import RateSchedule, RealTimePacer


def test_pacer_keeps_simulated_time_level_with_wall_time():
    p = RealTimePacer(0.005, real_time_factor=1.0)
    assert p.steps_due(wall_now=100.0, sim_time=0.0) == 0          # first call starts the clock
    assert p.steps_due(100.1, 0.0) == 20
    assert p.steps_due(100.1, 0.1) == 0
    assert p.steps_due(100.1024, 0.1) == 0                         # less than one step due
    p.set_real_time_factor(2.0, 100.1, 0.1)
    assert p.steps_due(100.2, 0.1) == 40


def test_pacer_drops_backlog_it_cannot_catch_up():
    p = RealTimePacer(0.005, max_lag=0.25)
    p.steps_due(0.0, 0.0)
    assert p.steps_due(5.0, 0.0) == 50                             # not 1000: at most max_lag
    assert p.slips == 1
    assert p.steps_due(5.01, 0.25) == 2


def test_pacer_validates():
    with pytest.raises(ValueError):
        RealTimePacer(0.0)


def test_rate_schedule_fires_once_per_period_without_bursts():
    s = RateSchedule(10.0)
    fired = [t for t in [i * 0.01 for i in range(101)] if s.due(t)]
    assert len(fired) == 11 and fired[1] == pytest.approx(0.1)
    s = RateSchedule(10.0)
    assert s.due(0.0) and s.due(1.0) and not s.due(1.05)           # a late tick fires once, not ten times
    assert s.due(1.1)


def test_twist_goes_stale():
    t = TwistCommand(0.3, 0.0, 0.5, received=10.0)
    assert t.current(10.4, timeout=0.5) == (0.3, 0.0, 0.5)
    assert t.current(10.6, timeout=0.5) == (0.0, 0.0, 0.0)
    assert t.current(99.0, timeout=0.0) == (0.3, 0.0, 0.5)         # 0 = never stale
    assert TwistCommand().current(0.0, 0.5) == (0.0, 0.0, 0.0)
