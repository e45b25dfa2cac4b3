"""Action chunks from a slow remote policy: the inference node's loop against naive loops (not a test).

    python -m vla_tools.chunk_benchmark                        # every loop, 20 s each (about 2.5 min)
    python -m vla_tools.chunk_benchmark --duration 5 --loops async,blocking
    python -m vla_tools.chunk_benchmark --latency-ms 150 --ensemble-coeffs 0,0.5,2

A real ``vla-serve`` (:class:`~vla_policy.remote.server.PolicyServer`) listens on 127.0.0.1
with an artificial reply latency (300 ms by default) and serves a :class:`TrackingPolicy`: a
stand-in for a VLA that predicts future motion. Its correct action is a known smooth
reference a(t) (sines, one per action dimension of the ``diff_drive`` embodiment); for an
observation stamped ``t_obs`` it answers a chunk of T = 10 steps, step k = a(t_obs + k*0.1 s)
plus a prediction error that is smooth along the chunk and new for every chunk, as a learned
policy's is. The client is :class:`~vla_policy.remote.openpi_client.RemotePolicy`. Everything
runs on time.monotonic(): camera stamps, the server's policy and the control loops share it.

Loops, each with its own connection, camera thread (8x8 frames at 30 Hz) and 10 Hz control
timer (rcl semantics: a late tick runs at once, missed periods are skipped):

  async                 ours, as in the inference node: vla_core.runner's PolicyRunner driven by
                        a RunnerThread computes chunks on the newest frame while the timer
                        publishes its tick(now); chunk steps whose time has passed are skipped
                        (latency compensation), no ensembling, no interpolation.
  async_act_m<m>        the same with ACT temporal ensembling, ensemble_coeff = m.
  blocking              each tick calls policy.infer and publishes step 0 of the chunk.
  chunk_queue           LeRobot's default select_action: pop one action per tick; when the
                        queue is empty, infer (blocking) and queue the whole chunk, step 0 first,
                        whatever time passed during inference.
  async_stamp_ignored   async inference, but each chunk is executed from step 0 when it arrives
                        (its observation stamp ignored): no latency compensation.

Figures per loop, from the published (time, action) pairs:

  rate_hz            (published - 1) / (last - first publish time)
  period_p99_ms      99th percentile of the time between two publishes
  jerk_published     mean_abs_jerk of the published sequence, dt = control period
  jerk_held          mean_abs_jerk of the command the robot holds at each 10 Hz tick (the last
                     one published): the same as jerk_published at 10 Hz, a staircase otherwise
  track_err          mean |action - a(publish time)| over steps and dimensions
  jumps              consecutive publishes differing by more than --jump-threshold in some
                     dimension (default: twice the reference's largest change in one control
                     period, so a command following a(t) at 10 Hz never counts)
  no-action ticks    ticks after the first published action that published nothing

Results go to stdout as a table and, as JSON, to --out.
"""
from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from vla_core.embodiment import load_embodiment
from vla_core.policy import Observation, Policy
from vla_core.runner import RunnerConfig
from vla_core.scheduler import mean_abs_jerk
from vla_policy.remote import make_remote_policy
from vla_policy.remote.server import PolicyServer
from vla_tools.chunk_figures import format_table, json_safe, loop_metrics
from vla_tools.chunk_loops import Recording, run_async, run_blocking, run_chunk_queue
from vla_tools.chunk_task import EMBODIMENT, INSTRUCTION, Reference, TrackingPolicy

LOOP_KINDS = ('async', 'async_interp', 'act', 'blocking', 'chunk_queue', 'async_stamp_ignored')


# ---------------------------------------------------------------------------------------------
# the benchmark
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BenchmarkConfig:
    """What :func:`run_benchmark` runs (seconds unless named otherwise)."""

    duration: float = 20.0            # per loop
    latency_s: float = 0.3            # added by the server to every reply
    control_rate_hz: float = 10.0
    camera_rate_hz: float = 30.0
    horizon: int = 10                 # chunk steps T
    step_dt: float = 0.1
    noise: float = 0.02               # prediction error scale of TrackingPolicy (normalised units)
    ensemble_coeffs: tuple[float, ...] = (0.01, 1.0)
    max_action_age: float = 1.0       # as the node's default
    jump_threshold: float | None = None   # None: 2 x the reference's largest change per control period
    loops: tuple[str, ...] = LOOP_KINDS
    seed: int = 0

    def __post_init__(self) -> None:
        unknown = [k for k in self.loops if k not in LOOP_KINDS]
        if unknown:
            raise ValueError(f'unknown loop(s) {unknown}; choose from {", ".join(LOOP_KINDS)}')
        if not (self.duration > 0 and self.latency_s >= 0 and self.control_rate_hz > 0 and self.camera_rate_hz > 0):
            raise ValueError('duration, control_rate_hz and camera_rate_hz must be > 0, latency_s >= 0')


def _loop_plan(cfg: BenchmarkConfig) -> list[tuple[str, str, Callable[[Policy], Recording]]]:
    period = 1.0 / cfg.control_rate_hz
    d, cam = cfg.duration, cfg.camera_rate_hz

    def params(ensembling: bool = False, coeff: float = 0.01, interpolate: bool = False) -> RunnerConfig:
        return RunnerConfig(control_rate_hz=cfg.control_rate_hz, max_action_age=cfg.max_action_age,
                            temporal_ensembling=ensembling, ensemble_coeff=coeff, interpolate=interpolate)
    plan = []
    for kind in cfg.loops:
        if kind == 'async':
            plan.append(('async', 'ours: worker thread + scheduler, latency compensation',
                         lambda p: run_async(p, params(), d, period, cam)))
        elif kind == 'async_interp':
            plan.append(('async_interp', 'ours + linear interpolation between chunk steps (node default)',
                         lambda p: run_async(p, params(interpolate=True), d, period, cam)))
        elif kind == 'act':
            for m in cfg.ensemble_coeffs:
                plan.append((f'async_act_m{m:g}', f'ours + ACT temporal ensembling, ensemble_coeff={m:g}',
                             lambda p, m=m: run_async(p, params(True, m), d, period, cam)))
                plan.append((f'async_act_m{m:g}_interp', f'ours + ACT ensembling m={m:g} + interpolation',
                             lambda p, m=m: run_async(p, params(True, m, True), d, period, cam)))
        elif kind == 'blocking':
            plan.append(('blocking', 'naive: infer in the timer callback, publish step 0',
                         lambda p: run_blocking(p, d, period, cam)))
        elif kind == 'chunk_queue':
            plan.append(('chunk_queue', "LeRobot select_action: pop per tick, blocking refill, step 0 first",
                         lambda p: run_chunk_queue(p, d, period, cam)))
        elif kind == 'async_stamp_ignored':
            plan.append(('async_stamp_ignored', 'async, chunk run from step 0 on arrival (no compensation)',
                         lambda p: run_async(p, params(), d, period, cam, ignore_stamp=True)))
    return plan


def run_benchmark(cfg: BenchmarkConfig = BenchmarkConfig(), log: Callable[[str], None] | None = None) -> dict:
    """Run every loop of ``cfg`` against one local vla-serve; returns the JSON-ready results."""
    embodiment = load_embodiment(EMBODIMENT)
    period = 1.0 / cfg.control_rate_hz
    reference = Reference(origin=time.monotonic())
    if reference.dim != embodiment.action_dim:
        raise ValueError(f'the reference has {reference.dim} dims, embodiment {EMBODIMENT} {embodiment.action_dim}')
    threshold = cfg.jump_threshold if cfg.jump_threshold is not None else 2.0 * reference.max_step(period)
    policy = TrackingPolicy(reference, cfg.horizon, cfg.step_dt, cfg.noise, cfg.seed)
    results: dict[str, Any] = {}
    with PolicyServer(policy, '127.0.0.1', 0, embodiment=embodiment, latency_s=cfg.latency_s) as server:
        for name, description, run in _loop_plan(cfg):
            if log:
                log(f'{name}: {description} ({cfg.duration:g} s)')
            client = make_remote_policy(server.url, embodiment, timeout_s=max(1.0, 3 * cfg.latency_s))
            try:
                now = time.monotonic()   # connect and warm up outside the measured window
                client.infer(Observation(np.zeros((8, 8, 3), np.uint8), INSTRUCTION, {}, now))
                rec = run(client)
            finally:
                client.close()
            m = loop_metrics(rec.times, rec.actions, reference, period, threshold)
            ticks = np.asarray(rec.tick_times)
            first = rec.times[0] if rec.times else math.inf
            m.update(description=description, ticks=int(ticks.size),
                     first_action_s=first - rec.start if rec.times else math.nan,
                     # ticks that published nothing once actions had started (waiting for the first
                     # chunk is not counted); in the blocking loops every tick publishes or fails
                     ticks_without_action=int(np.sum(ticks > first)) - (m['published'] - 1 if rec.times else 0),
                     policy_calls=rec.policy_calls, policy_errors=rec.policy_errors,
                     policy_call_p50_ms=float(np.percentile(rec.call_seconds, 50) * 1e3) if rec.call_seconds
                     else math.nan)
            results[name] = m
    grid = reference.origin + period * np.arange(int(cfg.duration / period))
    ref_row = {'rate_hz': cfg.control_rate_hz, 'jerk_published': mean_abs_jerk(reference(grid), period),
               'max_step': reference.max_step(period)}
    return {
        'config': {**asdict(cfg), 'jump_threshold': threshold, 'embodiment': EMBODIMENT},
        'reference': {'amplitude': list(reference.amplitude), 'freq_hz': list(reference.freq_hz),
                      'phase': list(reference.phase), **ref_row},
        'loops': results,
        'machine': {'python': platform.python_version(), 'machine': platform.machine(),
                    'processor': platform.processor() or platform.machine()},
    }


def _floats(text: str) -> tuple[float, ...]:
    return tuple(float(x) for x in text.split(',') if x.strip())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog='python -m vla_tools.chunk_benchmark', description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    d = BenchmarkConfig()
    ap.add_argument('--duration', type=float, default=d.duration, help='seconds per loop (default: %(default)s)')
    ap.add_argument('--latency-ms', type=float, default=d.latency_s * 1e3,
                    help='artificial server latency, ms (default: %(default)s)')
    ap.add_argument('--loops', default=','.join(d.loops),
                    help=f'comma-separated, from {",".join(LOOP_KINDS)}; act = one loop per ensemble coefficient '
                         '(default: all)')
    ap.add_argument('--ensemble-coeffs', type=_floats, default=d.ensemble_coeffs,
                    help='ACT ensemble_coeff values, comma-separated (default: 0.01,1)')
    ap.add_argument('--noise', type=float, default=d.noise,
                    help="TrackingPolicy's prediction error scale, normalised units (default: %(default)s)")
    ap.add_argument('--jump-threshold', type=float, default=None,
                    help="|delta action| counted as a jump (default: 2 x the reference's largest change per "
                         'control period)')
    ap.add_argument('--out', default='out/chunk_benchmark.json', help='JSON results (default: %(default)s)')
    args = ap.parse_args(argv)
    try:
        cfg = BenchmarkConfig(duration=args.duration, latency_s=args.latency_ms / 1e3,
                              loops=tuple(k.strip() for k in args.loops.split(',') if k.strip()),
                              ensemble_coeffs=args.ensemble_coeffs, noise=args.noise,
                              jump_threshold=args.jump_threshold)
    except ValueError as exc:
        ap.error(str(exc))
    result = run_benchmark(cfg, log=lambda s: print(s, file=sys.stderr, flush=True))
    print(format_table(result))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(json_safe(result), indent=2) + '\n')
    print(f'results: {out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
