"""PolicyRunner: the one place where a policy's action chunks become commands over time.

Plain Python (no rclpy, no MuJoCo). Everything between "an image arrived" and "this twist and
these joint targets now" happens here, once, for every loop of the suite: the inference node
(threaded, :class:`RunnerThread`), lockstep episodes, collection and evaluation (synchronous:
:meth:`PolicyRunner.call_due` + :meth:`PolicyRunner.call`) and the chunk benchmark.

    runner = PolicyRunner(policy, embodiment, RunnerConfig())
    runner.set_instruction('walk to the red box', now)
    # each control tick (synchronous loop, one frame per tick):
    if runner.call_due(now):
        runner.accept(runner.call(Observation(image, runner.instruction, joints, stamp=now)))
    tick = runner.tick(now)      # tick.command.twist / joint_names / joint_positions, or None

What it owns, in order:

* instruction and generation: a new instruction (or '') starts a new generation; chunks of an
  older one are dropped, and the policy is reset before its first call for a new one.
* call schedule (:func:`call_ticks`): a call every ``call_every_ticks`` control ticks, else the
  policy's own ``n_action_steps x chunk_step_dt`` (how it was trained and evaluated), else on every
  new frame. A new instruction is called at once; a chunk used up early calls again.
* the scheduler (:class:`~vla_core.scheduler.ActionScheduler`): latency compensation (the step
  for ``now`` of a chunk stamped with its image's time), ACT ensembling, interpolation.
* smoothing (:class:`~vla_core.scheduler.ActionSmoother`), then the embodiment's decode
  (unnormalisation included) into an :class:`~vla_core.embodiment.EmbodiedAction`.
* done: a chunk that says the instruction is done ends it at the next tick (idle, stand still).

:class:`RunnerThread` adds the newest-frame slot and the worker thread the node needs, and phases
the calls against the control tick: a call starts on the newest frame just early enough to finish
``call_margin`` before the tick it serves (its duration estimated from the recent calls), so the
chunk in use at each tick comes from the newest frame before it.
"""
from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from dataclasses import dataclass, fields
from typing import Any, Callable, Mapping

import numpy as np

from vla_core.policy import Observation, Policy, PolicyOutput, declared_action_steps
from vla_core.embodiment import EmbodiedAction, Embodiment
from vla_core.scheduler import ActionScheduler, ActionSmoother, SchedulerParams

log = logging.getLogger(__name__)

_EPS = 1e-6


@dataclass(frozen=True)
class RunnerConfig:
    """How chunks become commands. The inference node's parameters of the same names map 1:1
    (``max_inference_rate_hz`` becomes ``call_every_ticks``); lockstep uses the defaults."""

    # --- timing
    #: control ticks per second (commands are asked for at this rate), Hz
    control_rate_hz: float = 10.0
    #: control ticks between two policy calls for one instruction; 0 = the policy's own
    #: (n_action_steps x chunk_step_dt), or on every new frame when it declares none
    call_every_ticks: int = 0
    #: a phased call (RunnerThread) aims to finish this long before the tick it serves, s
    call_margin: float = 0.001
    #: a tick whose phased call is still running waits up to this long for it, s, and never more
    #: than a quarter of a control period (0 = never: the tick then uses the previous chunk)
    tick_wait: float = 0.004

    # --- scheduler (see vla_core.scheduler)
    max_action_age: float = 1.0
    future_tolerance: float = 0.05
    temporal_ensembling: bool = False
    ensemble_coeff: float = 0.01
    interpolate: bool = True

    # --- smoothing of the scheduled actions
    smoothing: str = 'none'
    smoothing_window: int = 3
    smoothing_alpha: float = 0.5

    def __post_init__(self) -> None:
        if not (isinstance(self.control_rate_hz, (int, float)) and 0 < self.control_rate_hz <= 1000):
            raise ValueError(f'control_rate_hz must be in (0, 1000] Hz, got {self.control_rate_hz!r}')
        if isinstance(self.call_every_ticks, bool) or not isinstance(self.call_every_ticks, int) \
                or self.call_every_ticks < 0:
            raise ValueError(f'call_every_ticks must be an integer >= 0 (0 = the policy\'s own), '
                             f'got {self.call_every_ticks!r}')
        if not (isinstance(self.call_margin, (int, float)) and 0 <= self.call_margin < 1.0 / self.control_rate_hz):
            raise ValueError(f'call_margin must be >= 0 s and shorter than a control period, got {self.call_margin!r}')
        if not (isinstance(self.tick_wait, (int, float)) and 0 <= self.tick_wait < 1.0 / self.control_rate_hz):
            raise ValueError(f'tick_wait must be >= 0 s and shorter than a control period, got {self.tick_wait!r}')
        self.scheduler_params()                                    # raises with a fix
        ActionSmoother(self.smoothing, self.smoothing_window, self.smoothing_alpha)

    @property
    def control_period(self) -> float:
        return 1.0 / self.control_rate_hz

    def scheduler_params(self) -> SchedulerParams:
        return SchedulerParams(max_action_age=self.max_action_age, future_tolerance=self.future_tolerance,
                               temporal_ensembling=self.temporal_ensembling, ensemble_coeff=self.ensemble_coeff,
                               interpolate=self.interpolate)

    @classmethod
    def field_default(cls, name: str) -> Any:
        """The default of one field (the inference node declares its parameters with these)."""
        return next(f.default for f in fields(cls) if f.name == name)


def call_ticks(config: RunnerConfig, policy: Any) -> int | None:
    """Control ticks between policy calls; None = on every new frame. ``config.call_every_ticks``
    when set; else the policy's ``n_action_steps x chunk_step_dt`` in ticks (at least 1); else None."""
    if config.call_every_ticks > 0:
        return config.call_every_ticks
    steps = declared_action_steps(policy)
    if not steps:
        return None
    seconds = steps * float(getattr(policy, 'chunk_step_dt', 0.1))
    return max(1, int(round(seconds * config.control_rate_hz)))


def ticks_for_rate(max_rate_hz: float, control_rate_hz: float) -> int:
    """``call_every_ticks`` for "at most ``max_rate_hz`` calls per second" (0 Hz: 0, the policy's own)."""
    if max_rate_hz <= 0:
        return 0
    return max(1, math.ceil(control_rate_hz / max_rate_hz - 1e-9))


@dataclass(frozen=True)
class Context:
    """What a call follows: taken when it starts."""

    instruction: str
    generation: int
    joints: Mapping[str, float]


@dataclass(frozen=True)
class CallResult:
    """One policy call. ``error_kind`` is '' on success, else 'decode', 'policy' or 'non_finite'."""

    output: PolicyOutput | None
    frame_stamp: float
    instruction: str
    generation: int
    inference_time: float           # wall seconds of decode + policy
    error_kind: str = ''
    error: str = ''


@dataclass(frozen=True)
class RunnerCommand:
    """The command for one tick.

    command:      the embodiment's decode of ``action`` (twist, joint targets, ee twist).
    action:       (D,) float32 normalised action, as scheduled and smoothed.
    stamp:        the image stamp of the chunk in use (VlaAction.header.stamp).
    """

    command: EmbodiedAction
    action: np.ndarray
    confidence: float
    stamp: float
    chunk_index: int
    chunk_length: int
    inference_time: float
    num_blended: int


@dataclass(frozen=True)
class Tick:
    """What one control tick yields.

    instruction:  followed at this tick ('' = idle: stand still).
    command:      None while following an instruction with no usable chunk: publish nothing.
    finished:     the policy's done ended the instruction at this tick.
    """

    instruction: str
    instruction_time: float
    command: RunnerCommand | None
    finished: bool = False


class PolicyRunner:
    """Drives one policy for one embodiment; see the module docstring.

    Thread-safe: :meth:`call` runs the policy without the lock (one caller at a time); every other
    method holds an internal lock only for copies and the scheduler's arithmetic.
    """

    def __init__(self, policy: Policy, embodiment: Embodiment, config: RunnerConfig | None = None) -> None:
        self.policy = policy
        self.embodiment = embodiment
        self.config = config or RunnerConfig()
        self.call_ticks = call_ticks(self.config, policy)
        self._lock = threading.Lock()
        self._scheduler = ActionScheduler(self.config.scheduler_params())
        c = self.config
        self._smoother = ActionSmoother(c.smoothing, c.smoothing_window, c.smoothing_alpha)
        self._instruction = ''
        self._instruction_time = 0.0
        self._generation = 0
        self._done_generation = -1
        self._called_generation = -1        # generation of the newest call (its start)
        self._last_call_time = -math.inf     # ``now`` of the newest synchronous call
        self._reset_generation = -1          # generation the policy was last reset for
        self._joints: dict[str, float] = {}

    # -- instruction ---------------------------------------------------------------------------
    def set_instruction(self, text: str, now: float) -> int:
        """Follow ``text`` from ``now`` ('' = stand still); returns the new generation."""
        with self._lock:
            return self._set_instruction(text, now)

    def _set_instruction(self, text: str, now: float) -> int:
        self._instruction = text
        self._instruction_time = float(now) if text else 0.0
        self._generation += 1
        self._scheduler.reset()
        self._smoother.reset()
        self._last_call_time = -math.inf
        return self._generation

    @property
    def instruction(self) -> str:
        return self._instruction

    @property
    def instruction_time(self) -> float:
        """When the current instruction was set (the caller's clock; 0 when idle)."""
        return self._instruction_time

    @property
    def generation(self) -> int:
        return self._generation

    @property
    def done_generation(self) -> int:
        """The newest generation the policy reported done."""
        return self._done_generation

    def update_joints(self, joints: Mapping[str, float]) -> None:
        """Merge measured joint positions (the next call's Observation.joint_positions)."""
        with self._lock:
            self._joints.update(joints)

    def context(self) -> Context | None:
        """What a call starting now would follow; None when idle."""
        with self._lock:
            if not self._instruction:
                return None
            return Context(self._instruction, self._generation, dict(self._joints))

    # -- calls -----------------------------------------------------------------------------------
    def call_due(self, now: float) -> bool:
        """Synchronous loops: whether to call the policy on the frame of tick ``now``."""
        with self._lock:
            if not self._instruction:
                return False
            if self._called_generation != self._generation or self.call_ticks is None:
                return True
            if now - self._last_call_time >= self.call_ticks * self.config.control_period - _EPS:
                return True
            return self._scheduler.action_at(now) is None     # the chunk is used up early

    def call(self, obs: Observation | Callable[[Context], Observation], context: Context | None = None,
             decode_time: float = 0.0) -> CallResult | None:
        """Run the policy once (in the caller's thread); None when idle. ``obs`` is an Observation,
        or a function of the Context that makes one (its instruction and joints are the runner's).
        Policy errors are returned, never raised: no chunk means the robot stops."""
        ctx = context or self.context()
        if ctx is None:
            return None
        t0 = time.perf_counter()
        if ctx.generation != self._reset_generation:
            self.policy.reset()
            self._reset_generation = ctx.generation
        try:
            o = obs(ctx) if callable(obs) else obs
            with self._lock:
                self._called_generation = ctx.generation
                self._last_call_time = o.stamp
            out = self.policy.infer(o)
        except Exception as exc:  # noqa: BLE001 - a policy bug (or a remote server away) must not end the loop
            stamp = obs.stamp if isinstance(obs, Observation) else math.nan
            return CallResult(None, stamp, ctx.instruction, ctx.generation,
                              decode_time + time.perf_counter() - t0, 'policy', f'{type(exc).__name__}: {exc}')
        dt = decode_time + time.perf_counter() - t0
        if not out.is_finite:
            return CallResult(out, o.stamp, ctx.instruction, ctx.generation, dt, 'non_finite',
                              f'policy {self.policy.name} returned non-finite actions or confidence')
        return CallResult(out, o.stamp, ctx.instruction, ctx.generation, dt)

    def accept(self, result: CallResult | None) -> str | None:
        """Store a call's chunk; returns why it was not used (None when it was). A result of an
        older instruction is dropped silently (returns 'stale')."""
        if result is None:
            return 'idle'
        if result.error_kind:
            return result.error
        out = result.output
        with self._lock:
            if result.generation != self._generation:
                return 'stale'
            if out.actions.shape[1] != self.embodiment.action_dim:
                return (f"policy '{self.policy.name}' returned {out.actions.shape[1]}-dim actions; embodiment "
                        f"'{self.embodiment.name}' has {self.embodiment.action_dim}")
            try:
                self._scheduler.add_chunk(out.actions, out.confidence, result.frame_stamp, out.step_dt,
                                          meta=result.inference_time)
            except ValueError as exc:   # confidence outside 0..1, changed dimension, ...
                return f'policy output rejected: {exc}'
            if out.done:
                self._done_generation = result.generation
        return None

    # -- ticks -----------------------------------------------------------------------------------
    def tick(self, now: float) -> Tick:
        """The command for control tick ``now`` (the clock of the image stamps)."""
        with self._lock:
            finished = False
            if self._instruction and self._done_generation == self._generation:
                self._set_instruction('', now)    # the policy finished: stand still until the next one
                finished = True
            if not self._instruction:
                return Tick('', 0.0, None, finished)
            instruction, instruction_time = self._instruction, self._instruction_time
            a = self._scheduler.action_at(now)
            vector = self._smoother(a.action) if a is not None else None
        if a is None or vector is None:
            return Tick(instruction, instruction_time, None)
        cmd = RunnerCommand(self.embodiment.decode(vector), vector, a.confidence, a.stamp, a.chunk_index,
                            a.chunk_length, float(a.meta), a.num_blended)
        return Tick(instruction, instruction_time, cmd)

    def has_chunk(self) -> bool:
        with self._lock:
            return self._scheduler.chunk_count > 0


# ---------------------------------------------------------------------------------------------
# the threaded driver (the inference node)
# ---------------------------------------------------------------------------------------------
class LatestSlot:
    """A one-item mailbox of the newest frame: put() overwrites; take() waits for one not yet
    taken; latest() returns the newest without waiting (marking it taken)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: Any = None
        self._fresh = False
        self._closed = False

    def put(self, item: Any) -> bool:
        """Store ``item``; True if it replaced one nobody had taken."""
        with self._cond:
            replaced = self._fresh
            self._item, self._fresh = item, True
            self._cond.notify_all()
            return replaced

    def take(self, timeout: float) -> Any:
        """The newest item not yet taken, or None after ``timeout`` seconds or once closed."""
        with self._cond:
            if not self._fresh and not self._closed:
                self._cond.wait(timeout)
            if not self._fresh:
                return None
            self._fresh = False
            return self._item

    def latest(self) -> Any:
        """The newest item (taken before or not); None before the first."""
        with self._cond:
            self._fresh = False
            return self._item

    def clear(self) -> None:
        with self._cond:
            self._item, self._fresh = None, False

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


@dataclass(frozen=True)
class Frame:
    """A camera message as received: decoded by the worker, not by the callback."""

    msg: Any            # whatever ``decode`` takes (a sensor_msgs/Image in the node)
    stamp: float        # image stamp, s (the clock of ``now``)
    received: float     # when it arrived, s


class RunnerThread:
    """A worker thread that calls ``runner``'s policy on the newest frame, phased against the ticks.

    decode:    Frame -> HxWx3 uint8 RGB; raises ValueError on bad input.
    on_result: (CallResult, problem or None) from the worker thread after each call, for counters.
    clock:     monotonic seconds (the worker's sleeps); tick() records it to learn the tick phase.

    Schedule (``runner.call_ticks``): None -> a call on every new frame. n -> a call for every
    n-th tick: it starts on the newest frame ``estimate + call_margin`` before that tick, where
    estimate is the 95th percentile of the recent phased calls' time from their planned start to
    their chunk being stored (the worker's wake-up delay included). A tick whose call is still
    running waits up to ``tick_wait`` for it (``ticks_waited``); one that still finds it running
    uses the previous chunk (``ticks_missed``). A new instruction is called at once on the newest
    frame.
    """

    def __init__(self, runner: PolicyRunner, decode: Callable[[Frame], np.ndarray],
                 on_result: Callable[[CallResult, str | None], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.runner = runner
        self.slot = LatestSlot()
        self._decode = decode
        self._on_result = on_result or (lambda r, p: None)
        self._clock = clock
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name='vla_policy_runner', daemon=True)
        self._durations: deque[float] = deque(maxlen=50)
        self._tick_lock = threading.Lock()
        self._last_tick: float | None = None      # clock() of the newest tick
        self._served: float | None = None         # clock() of the tick the newest phased call served
        self._generation_seen = -1
        self._target: float | None = None
        self._inflight: float | None = None        # clock() of the tick the running phased call serves
        self._inflight_cond = threading.Condition()
        self.ticks_waited = 0                      # ticks that waited for their call (at most tick_wait)
        self.ticks_missed = 0                      # ticks whose call was still running after the wait

    # -- node side ------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        self._wake.set()
        self.slot.close()
        self._thread.join(timeout)

    def put_frame(self, frame: Frame) -> bool:
        """A new camera frame; True if it replaced one the worker never took."""
        return self.slot.put(frame)

    def set_instruction(self, text: str, now: float) -> int:
        generation = self.runner.set_instruction(text, now)
        self._wake.set()
        return generation

    def tick(self, now: float) -> Tick:
        """The control tick at ``now``; also teaches the worker the tick phase."""
        with self._tick_lock:
            self._last_tick = t = self._clock()
        self._wait_for_call(t)
        return self.runner.tick(now)

    def _wait_for_call(self, tick: float) -> None:
        """Give the phased call that serves this tick up to ``tick_wait`` to store its chunk."""
        period = self.runner.config.control_period
        with self._inflight_cond:
            if self._inflight is None or abs(self._inflight - tick) > period / 2:
                return
            self.ticks_waited += 1
            wait = min(self.runner.config.tick_wait, period / 4)
            if not self._inflight_cond.wait_for(lambda: self._inflight is None, wait):
                self.ticks_missed += 1

    def estimate(self) -> float:
        """Expected duration of a call (decode + policy), s."""
        if not self._durations:
            return 0.0
        return float(np.percentile(self._durations, 95))

    # -- worker ---------------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._once()
            except Exception as exc:  # noqa: BLE001 - the thread must outlive any bug; no chunk = robot stops
                log.exception('policy runner worker error')
                self._on_result(CallResult(None, 0.0, '', -1, 0.0, 'internal', f'{type(exc).__name__}: {exc}'),
                                f'internal: {type(exc).__name__}: {exc}')
                self._stop.wait(0.05)

    def _once(self) -> None:
        ctx = self.runner.context()
        if ctx is None:
            self._wake.wait(0.05)
            self._wake.clear()
            return
        new_instruction = ctx.generation != self._generation_seen
        planned = None                                    # a phased call's planned start
        if self.runner.call_ticks is None:
            frame = self.slot.take(timeout=0.05)          # every new frame
        elif new_instruction:
            frame = self.slot.latest() or self.slot.take(timeout=0.05)
            self._served = None
        else:
            start = self._next_start()
            if start is None:
                self._wake.wait(0.01)
                self._wake.clear()
                return
            wait = start - self._clock()
            if wait > 0:
                self._wake.wait(min(wait, 0.05))
                self._wake.clear()
                if wait > 0.05 or self.runner.generation != ctx.generation:
                    return                                # not yet (or a new instruction): look again
            frame = self.slot.latest()
            self._served = self._target
            planned = start
        if frame is None:
            return
        ctx = self.runner.context()
        if ctx is None:
            return
        self._generation_seen = ctx.generation
        phased = planned is not None and self._target is not None
        if phased:
            with self._inflight_cond:
                self._inflight = self._target
        try:
            result = self._call(frame, ctx)
            problem = self.runner.accept(result)
        finally:
            if phased:
                with self._inflight_cond:
                    self._inflight = None
                    self._inflight_cond.notify_all()
        self._durations.append(self._clock() - planned if phased else result.inference_time)
        if new_instruction and self.runner.call_ticks is not None:
            self._served = self._tick_after(self._clock())
        self._on_result(result, problem)

    def _call(self, frame: Frame, ctx: Context) -> CallResult:
        t0 = time.perf_counter()
        try:
            rgb = self._decode(frame)
        except ValueError as exc:
            return CallResult(None, frame.stamp, ctx.instruction, ctx.generation, time.perf_counter() - t0,
                              'decode', str(exc))
        obs = Observation(image=rgb, instruction=ctx.instruction, joint_positions=dict(ctx.joints),
                          stamp=frame.stamp)
        return self.runner.call(obs, context=ctx, decode_time=time.perf_counter() - t0)

    def _tick_after(self, t: float) -> float | None:
        """The first tick of the grid at or after clock time ``t`` (None before the first tick)."""
        with self._tick_lock:
            last = self._last_tick
        if last is None:
            return None
        period = self.runner.config.control_period
        return last + max(0, math.ceil((t - last) / period - 1e-9)) * period

    def _next_start(self) -> float | None:
        """Clock time to start the next phased call (sets ``_target``, the tick it serves)."""
        period = self.runner.config.control_period
        lead = self.estimate() + self.runner.config.call_margin
        earliest = self._tick_after(self._clock() + lead)
        if earliest is None:                  # no tick yet: call now
            self._target = None
            return self._clock()
        target = earliest
        if self._served is not None:   # not before the n-th tick after the one served last
            due = self._served + self.runner.call_ticks * period
            due_tick = self._tick_after(due - period / 2)     # the grid tick nearest to it (tick jitter)
            target = max(target, due_tick)
        self._target = target
        return target - lead
