"""The gate benchmark runs and reports one positive time per decision.

The figure itself is measured by `python -m vla_tools.gate_benchmark` (and `vla_benchmark`), never
asserted here: timing bounds in tests fail on loaded machines and prove nothing.
"""
import math

from vla_tools.gate_benchmark import benchmark_gate


def test_benchmark_reports_one_time_per_decision():
    times = benchmark_gate(50)
    assert len(times) == 50
    assert all(math.isfinite(t) and t > 0 for t in times)
