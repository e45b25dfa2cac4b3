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
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from vla_core.embodiment import load_embodiment
from vla_core.policy import Observation, Policy, PolicyOutput
from vla_core.runner import CallResult, PolicyRunner, RunnerConfig
from vla_core.runner_thread import Frame, LatestSlot, RunnerThread
from vla_core.scheduler import mean_abs_jerk
from vla_policy.remote import make_remote_policy
from vla_policy.remote.server import PolicyServer

EMBODIMENT = 'diff_drive'
INSTRUCTION = 'follow the reference'
LOOP_KINDS = ('async', 'async_interp', 'act', 'blocking', 'chunk_queue', 'async_stamp_ignored')


# ---------------------------------------------------------------------------------------------
# the task: a smooth reference and a policy that predicts it
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Reference:
    """a(t)_d = amplitude_d * sin(2 pi freq_d (t - origin) + phase_d), normalised action units."""

    amplitude: tuple[float, ...] = (0.6, 0.5)
    freq_hz: tuple[float, ...] = (0.2, 0.31)
    phase: tuple[float, ...] = (0.0, 1.0)
    origin: float = 0.0

    def __call__(self, t: Any) -> np.ndarray:
        """(..., D) for times ``t`` (s, any shape)."""
        t = np.asarray(t, dtype=np.float64)[..., None] - self.origin
        return np.asarray(self.amplitude) * np.sin(2 * np.pi * np.asarray(self.freq_hz) * t + np.asarray(self.phase))

    @property
    def dim(self) -> int:
        return len(self.amplitude)

    def max_step(self, dt: float) -> float:
        """Largest change of any dimension within ``dt`` seconds (bound: amplitude * omega * dt)."""
        return float(max(a * 2 * np.pi * f for a, f in zip(self.amplitude, self.freq_hz)) * dt)


class TrackingPolicy(Policy):
    """A stand-in for a VLA that predicts future motion: the correct action is ``reference(t)``.

    For an observation stamped ``t_obs`` it returns T = ``horizon`` steps, step k =
    reference(t_obs + k * step_dt) + error_k, where error_k = b + c * k / (T - 1) with b, c drawn
    from N(0, noise) per dimension for every call: smooth along the chunk, different from chunk
    to chunk (what stitching chunks turns into steps and ensembling averages out). The image is
    not looked at; only the stamp matters, so the task needs no rendering.
    """

    name = 'tracking'

    def __init__(self, reference: Reference, horizon: int = 10, step_dt: float = 0.1, noise: float = 0.02,
                 seed: int = 0) -> None:
        if horizon < 1 or not step_dt > 0 or noise < 0:
            raise ValueError(f'TrackingPolicy needs horizon >= 1, step_dt > 0, noise >= 0; got {horizon}, '
                             f'{step_dt}, {noise}')
        self.reference, self.horizon, self.step_dt, self.noise = reference, horizon, step_dt, noise
        self._rng = np.random.default_rng(seed)

    def infer(self, obs: Observation) -> PolicyOutput:
        k = np.arange(self.horizon)
        actions = self.reference(obs.stamp + k * self.step_dt)
        if self.noise > 0:
            b, c = self._rng.normal(0.0, self.noise, (2, self.reference.dim))
            actions = actions + b + np.outer(k / max(1, self.horizon - 1), c)
        return PolicyOutput(np.clip(actions, -1.0, 1.0).astype(np.float32), 1.0, self.step_dt)


# ---------------------------------------------------------------------------------------------
# plumbing: camera, timer, recording
# ---------------------------------------------------------------------------------------------
class Camera:
    """A thread that puts a stamped tiny frame into a :class:`LatestSlot` at ``rate_hz``."""

    def __init__(self, rate_hz: float = 30.0, size: int = 8) -> None:
        self.slot = LatestSlot()
        self.latest: Frame | None = None
        self.frames = 0
        self._period = 1.0 / rate_hz
        self._image = np.full((size, size, 3), 128, dtype=np.uint8)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name='chunk_benchmark_camera', daemon=True)
        self._first = threading.Event()

    def start(self) -> 'Camera':
        self._thread.start()
        self._first.wait(1.0)
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2.0)

    def _run(self) -> None:
        next_t = time.monotonic()
        while not self._stop.is_set():
            now = time.monotonic()
            self.latest = Frame(self._image, now, now)
            self.slot.put(self.latest)
            self.frames += 1
            self._first.set()
            next_t += self._period
            if next_t < now:  # fell behind (loaded machine): no burst to catch up
                next_t = now + self._period
            self._stop.wait(max(0.0, next_t - time.monotonic()))


def run_timer(period: float, duration: float, tick: Callable[[float], None]) -> None:
    """Call ``tick(now)`` every ``period`` s for ``duration`` s, paced by time.monotonic like an rcl
    timer: a tick that is due runs at once, and periods missed entirely are skipped, not made up."""
    start = time.monotonic()
    end, next_call = start + duration, start
    while True:
        now = time.monotonic()
        if now >= end:
            return
        if now < next_call:
            time.sleep(min(next_call, end) - now)
            continue
        next_call += period
        if now >= next_call:
            next_call += (math.floor((now - next_call) / period) + 1) * period
        tick(now)


@dataclass
class Recording:
    """What one loop did: ticks, and the (time, action) pairs it published."""

    start: float
    tick_times: list[float] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    actions: list[np.ndarray] = field(default_factory=list)
    policy_calls: int = 0
    policy_errors: int = 0
    call_seconds: list[float] = field(default_factory=list)

    def publish(self, t: float, action: np.ndarray) -> None:
        self.times.append(t)
        self.actions.append(np.asarray(action, dtype=np.float64))


# ---------------------------------------------------------------------------------------------
# the loops
# ---------------------------------------------------------------------------------------------
class _ArrivalStamped(PolicyRunner):
    """The async_stamp_ignored baseline: each chunk stamped with its arrival, not its image's time."""

    def accept(self, result: CallResult | None) -> str | None:
        if result is not None and not result.error_kind:
            result = replace(result, frame_stamp=time.monotonic())
        return super().accept(result)


def run_async(policy: Policy, config: RunnerConfig, duration: float, period: float, camera_hz: float,
              ignore_stamp: bool = False) -> Recording:
    """The inference node's design: a PolicyRunner driven by a RunnerThread on the newest frame, a
    timer publishing its ``tick(now)``. ``ignore_stamp`` stamps each chunk with its arrival time
    instead of its image's, so it runs from step 0 when it arrives."""
    rec = Recording(time.monotonic())
    lock = threading.Lock()

    def on_result(r: CallResult, problem: str | None) -> None:
        with lock:
            rec.policy_calls += 1
            if r.error_kind or problem:
                rec.policy_errors += 1
            else:
                rec.call_seconds.append(r.inference_time)

    def tick(now: float) -> None:
        rec.tick_times.append(now)
        t = worker.tick(now)
        if t.command is not None:
            rec.publish(now, t.command.action)

    camera = Camera(camera_hz)
    runner = (_ArrivalStamped if ignore_stamp else PolicyRunner)(policy, load_embodiment(EMBODIMENT), config)
    worker = RunnerThread(runner, lambda f: f.msg, on_result)
    camera.slot = worker.slot
    camera.start()
    worker.set_instruction(INSTRUCTION, time.monotonic())
    worker.start()
    rec.start = time.monotonic()
    try:
        run_timer(period, duration, tick)
    finally:
        worker.stop()
        camera.stop()
    return rec


def _infer_newest(policy: Policy, camera: Camera, rec: Recording) -> PolicyOutput | None:
    frame = camera.latest
    t0 = time.monotonic()
    rec.policy_calls += 1
    try:
        out = policy.infer(Observation(frame.msg, INSTRUCTION, {}, frame.stamp))
    except Exception:  # noqa: BLE001 - counted; the tick publishes nothing, as a node would
        rec.policy_errors += 1
        return None
    rec.call_seconds.append(time.monotonic() - t0)
    return out


def run_blocking(policy: Policy, duration: float, period: float, camera_hz: float) -> Recording:
    """What a simple node does: infer in the timer callback, publish step 0."""
    camera = Camera(camera_hz).start()
    rec = Recording(time.monotonic())

    def tick(now: float) -> None:
        rec.tick_times.append(now)
        out = _infer_newest(policy, camera, rec)
        if out is not None:
            rec.publish(time.monotonic(), out.actions[0])

    try:
        run_timer(period, duration, tick)
    finally:
        camera.stop()
    return rec


def run_chunk_queue(policy: Policy, duration: float, period: float, camera_hz: float,
                    n_action_steps: int | None = None) -> Recording:
    """LeRobot's ``select_action``: pop one queued action per tick; refill (blocking) when empty,
    with the first ``n_action_steps`` steps (all by default) from step 0."""
    camera = Camera(camera_hz).start()
    rec = Recording(time.monotonic())
    queue: deque[np.ndarray] = deque()

    def tick(now: float) -> None:
        rec.tick_times.append(now)
        if not queue:
            out = _infer_newest(policy, camera, rec)
            if out is None:
                return
            queue.extend(out.actions[:n_action_steps])
        rec.publish(time.monotonic(), queue.popleft())

    try:
        run_timer(period, duration, tick)
    finally:
        camera.stop()
    return rec


# ---------------------------------------------------------------------------------------------
# figures
# ---------------------------------------------------------------------------------------------
def held_command(times: Any, actions: Any, period: float) -> tuple[np.ndarray, np.ndarray]:
    """The last published action at each tick of a ``period`` grid, sampled mid-period
    (t_first + period/2 + j*period) so publish jitter does not move samples across ticks."""
    t = np.asarray(times, dtype=np.float64)
    a = np.asarray(actions, dtype=np.float64)
    if t.size == 0:
        return np.empty(0), np.empty((0, a.shape[-1] if a.ndim == 2 else 0))
    grid = t[0] + period / 2 + period * np.arange(max(0, int(math.floor((t[-1] - t[0]) / period)) + 1))
    idx = np.searchsorted(t, grid, side='right') - 1
    return grid, a[idx]


def loop_metrics(times: Any, actions: Any, reference: Reference, period: float, jump_threshold: float) -> dict:
    """Rate, smoothness and tracking figures of one published (time, action) sequence."""
    t = np.asarray(times, dtype=np.float64)
    a = np.asarray(actions, dtype=np.float64).reshape(len(t), -1)
    nan = math.nan
    m: dict[str, Any] = {'published': int(len(t))}
    periods = np.diff(t)
    span = t[-1] - t[0] if len(t) > 1 else 0.0
    m['rate_hz'] = (len(t) - 1) / span if span > 0 else nan
    m['period_p50_ms'] = float(np.percentile(periods, 50) * 1e3) if periods.size else nan
    m['period_p99_ms'] = float(np.percentile(periods, 99) * 1e3) if periods.size else nan
    m['period_max_ms'] = float(periods.max() * 1e3) if periods.size else nan
    m['jerk_published'] = mean_abs_jerk(a, period) if len(t) >= 4 else nan
    grid, held = held_command(t, a, period)
    m['jerk_held'] = mean_abs_jerk(held, period) if len(grid) >= 4 else nan
    m['track_err'] = float(np.mean(np.abs(a - reference(t)))) if len(t) else nan
    m['track_err_held'] = float(np.mean(np.abs(held - reference(grid)))) if len(grid) else nan
    steps = np.abs(np.diff(a, axis=0)).max(axis=1) if len(t) > 1 else np.empty(0)
    m['jumps'] = int(np.sum(steps > jump_threshold))
    m['max_step'] = float(steps.max()) if steps.size else nan
    return m


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


def format_table(result: dict) -> str:
    cfg = result['config']
    head = (f"chunk benchmark: server latency {cfg['latency_s'] * 1e3:g} ms, chunks of {cfg['horizon']} x "
            f"{cfg['step_dt']:g} s, control {cfg['control_rate_hz']:g} Hz, {cfg['duration']:g} s per loop, "
            f"jump threshold {cfg['jump_threshold']:.3f}")
    cols = f"{'loop':<22}{'rate Hz':>8}{'p99 period ms':>15}{'jerk pub':>10}{'jerk held':>11}" \
           f"{'track err':>11}{'jumps':>7}{'no-action ticks':>17}"
    lines = [head, cols, '-' * len(cols)]
    ref = result['reference']
    lines.append(f"{'reference a(t)':<22}{ref['rate_hz']:>8.1f}{'':>15}{ref['jerk_published']:>10.2f}"
                 f"{ref['jerk_published']:>11.2f}{0.0:>11.4f}{0:>7d}{'':>17}")
    for name, m in result['loops'].items():
        lines.append(f"{name:<22}{m['rate_hz']:>8.2f}{m['period_p99_ms']:>15.1f}{m['jerk_published']:>10.2f}"
                     f"{m['jerk_held']:>11.2f}{m['track_err']:>11.4f}{m['jumps']:>7d}"
                     f"{m['ticks_without_action']:>17d}")
    return '\n'.join(lines)


def _json_safe(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    return obj


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
    out.write_text(json.dumps(_json_safe(result), indent=2) + '\n')
    print(f'results: {out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
