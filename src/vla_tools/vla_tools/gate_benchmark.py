"""Cost of one safety-gate decision with a 720-point scan, in process (no ROS).

    python -m vla_tools.gate_benchmark [decisions]      # prints p50 / p99 / p99.9 in ms

``benchmark_gate(decisions)`` returns the per-decision wall times (s) of :func:`vla_safety.gate.step`
in a deliberately busy case: an 8-vertex polygon footprint walking at 0.4 m/s (with a turn)
along a 0.9 m wide corridor towards a wall, so that every decision runs the zones and the
time-to-collision simulation over hundreds of nearby points, plus 8 joint targets. Each
decision gets a fresh scan (new ranges, new SourceReading), as if the lidar ran at the
control rate. ``vla_benchmark`` (vla_tools.benchmark) reports the same figure.
"""
from __future__ import annotations

import argparse
import math
import sys
import time

import numpy as np

from vla_safety.collision import laser_scan_to_points
from vla_safety.gate import GateState, Proposal, SensorSnapshot, SourceReading, step
from vla_safety.joint_limits import JointLimit
from vla_safety.params import SafetyParams

SCAN_POINTS = 720
JOINTS = ('head_pan_joint', 'head_tilt_joint', 'left_shoulder_pitch_joint', 'left_shoulder_roll_joint',
          'left_elbow_joint', 'right_shoulder_pitch_joint', 'right_shoulder_roll_joint', 'right_elbow_joint')


def corridor_ranges(rng: np.random.Generator, n: int = SCAN_POINTS, half_width: float = 0.45,
                    wall_ahead: float = 1.2) -> np.ndarray:
    """Ranges of a laser at the origin in a corridor (walls at y = +-half_width, one at x = wall_ahead)."""
    ang = -math.pi + 2 * math.pi * np.arange(n) / n
    with np.errstate(divide='ignore'):
        r_side = np.where(np.abs(np.sin(ang)) > 1e-9, half_width / np.abs(np.sin(ang)), np.inf)
        r_front = np.where(np.cos(ang) > 1e-9, wall_ahead / np.cos(ang), np.inf)
    r = np.minimum(r_side, r_front)
    return r + rng.normal(0.0, 0.01, n)


def benchmark_gate(decisions: int = 2000, seed: int = 0) -> list[float]:
    rng = np.random.default_rng(seed)
    params = SafetyParams(
        footprint=[0.2, 0.0, 0.14, 0.16, 0.0, 0.2, -0.14, 0.16, -0.2, 0.0, -0.14, -0.16, 0.0, -0.2, 0.14, -0.16],
        stop_margin=0.05, slowdown_margin=0.1, max_linear_accel=10.0, max_angular_accel=10.0,
        joint_limits={j: JointLimit(-1.0, 1.0, 3.0) for j in JOINTS})
    measured = {j: 0.0 for j in JOINTS}
    state = GateState()
    times = []
    dt = 0.1
    for i in range(decisions + 20):
        now = i * dt
        pts = laser_scan_to_points(corridor_ranges(rng), -math.pi, 2 * math.pi / SCAN_POINTS, 0.05, 20.0,
                                   (0.11, 0.0, 0.0))
        sensors = SensorSnapshot({'scan': SourceReading(pts, now)}, frozenset({'scan'}))
        proposal = Proposal(now, (0.4, 0.0, 0.0, 0.0, 0.0, 0.3), JOINTS,
                            tuple(0.5 * math.sin(0.1 * i + k) for k in range(len(JOINTS))), 0.9, i)
        t0 = time.perf_counter()
        _, state = step(state, proposal, sensors, measured, params, now)
        t1 = time.perf_counter()
        if i >= 20:   # warm-up
            times.append(t1 - t0)
    return times


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog='python -m vla_tools.gate_benchmark', description=__doc__.split('\n')[0])
    ap.add_argument('decisions', nargs='?', type=int, default=2000, help='gate decisions timed (after 20 warm-up)')
    n = ap.parse_args(argv).decisions
    if n < 1:
        ap.error('decisions must be >= 1')
    t = np.asarray(benchmark_gate(n)) * 1e3
    p50, p99, p999 = np.percentile(t, [50, 99, 99.9])
    print(f'safety gate, {SCAN_POINTS}-point scan, {n} decisions: '
          f'p50 {p50:.3f} ms  p99 {p99:.3f} ms  p99.9 {p999:.3f} ms  max {t.max():.3f} ms')
    return 0


if __name__ == '__main__':
    sys.exit(main())
