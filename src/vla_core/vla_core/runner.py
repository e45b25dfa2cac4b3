"""PolicyRunner: the one place where a policy's action chunks become commands over time.

Plain Python (no rclpy, no MuJoCo). Everything between "an image arrived" and "this twist and
these joint targets now" happens here, once, for every loop of the suite: the inference node
(threaded, :class:`~vla_core.runner_thread.RunnerThread`), lockstep episodes, collection and evaluation (synchronous:
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
* grounding (:mod:`vla_core.grounding`): an instruction naming a colour or object outside the
  vocabulary, or asking to handle an object, is refused: its chunks get confidence 0, so
  vla_safety holds the robot. The vocabulary is the policy's own (``Policy.vocabulary``, the
  words it was trained on) unless ``RunnerConfig.vocabulary`` names another ('' = no check).
* odometry: the newest base pose (:meth:`PolicyRunner.update_base_pose`) goes into each call's
  Observation; a policy that reads it (``Policy.reads_odometry``) called without one is refused
  the same way (confidence 0) until odometry arrives.
* progress (:mod:`vla_core.progress`): each tick's proposed base twist and each call's odometry
  are recorded; an instruction whose proposals ask for base motion the odometry does not show for
  ``progress_window`` s (blocked by vla_safety, a wall) has stalled: its chunks get confidence 0
  (refusal 'no_progress') for the next ``progress_window`` s, then it gets another window.
* range scan: likewise the newest planar scan (:meth:`PolicyRunner.update_scan`, Observation.scan)
  for a policy that reads it (``Policy.reads_scan``).

:class:`~vla_core.runner_thread.RunnerThread` adds the newest-frame slot and the worker thread the node needs, and phases
the calls against the control tick: a call starts on the newest frame just early enough to finish
``call_margin`` before the tick it serves (its duration estimated from the recent calls), so the
chunk in use at each tick comes from the newest frame before it.
"""
from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass, fields, replace
from typing import Any, Callable, Mapping

import numpy as np

from vla_core.policy import Observation, PlanarScan, Policy, PolicyOutput, declared_action_steps
from vla_core.embodiment import EmbodiedAction, Embodiment
from vla_core.grounding import Vocabulary, load_vocabulary, unknown_references
from vla_core import progress as _progress
from vla_core.progress import ProgressCheck, Stall
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
    #: a tick whose phased call is still pending (planned or running) waits up to this long for
    #: it, s, and never more than a quarter of a control period (0 = never: the tick then uses
    #: the previous chunk)
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

    # --- language
    #: instructions naming what is outside this vocabulary are refused (vla_core.grounding):
    #: 'auto' = the policy's own (Policy.vocabulary; none declared: no check), '' = no check, or
    #: a bundled name ('vla_arena') or YAML path
    vocabulary: str = 'auto'

    # --- progress (vla_core.progress): an instruction whose proposed base motion the odometry does
    # not show is refused for a window (confidence 0, 'no_progress'), then gets another
    #: seconds of record judged; 0 = no check
    progress_window: float = _progress.WINDOW
    #: base motion the proposals must ask for in the window before it is judged, m (turns count
    #: vla_core.progress.TURN_RADIUS m per rad; 0.3 m in 3 s: a walk, not the creep of a policy
    #: that has arrived and nudges against vla_safety's stop zone)
    progress_min_commanded: float = _progress.MIN_COMMANDED
    #: a stall: the odometry shows less than this fraction of what was asked
    progress_min_fraction: float = _progress.MIN_FRACTION

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
        if not (isinstance(self.progress_window, (int, float)) and 0 <= self.progress_window <= 60):
            raise ValueError(f'progress_window must be in [0, 60] s (0 = no check), got {self.progress_window!r}')
        if not (isinstance(self.progress_min_commanded, (int, float)) and 0 <= self.progress_min_commanded <= 10):
            raise ValueError(f'progress_min_commanded must be in [0, 10] m, got {self.progress_min_commanded!r}')
        if not (isinstance(self.progress_min_fraction, (int, float)) and 0 <= self.progress_min_fraction <= 1):
            raise ValueError(f'progress_min_fraction must be in [0, 1], got {self.progress_min_fraction!r}')
        if not isinstance(self.vocabulary, str):
            raise ValueError(f"vocabulary must be 'auto', '' or a vocabulary name or YAML path, got {self.vocabulary!r}")
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
    base_pose: tuple[float, float, float] | None = None
    scan: PlanarScan | None = None


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
    refused: str = ''               # PolicyRunner.refusal: 'vocabulary', 'no_odometry', 'no_scan',
                                    # 'no_progress' (PolicyRunner.stall) or ''


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
        self._lock = threading.Lock()
        self._scheduler = ActionScheduler(self.config.scheduler_params())
        self._progress = ProgressCheck()        # its record is kept across a live change (reconfigure)
        self._apply(self.config)          # call_ticks, smoother, vocabulary
        self._instruction = ''
        self._instruction_time = 0.0
        self._generation = 0
        self._done_generation = -1
        self._called_generation = -1        # generation of the newest call (its start)
        self._last_call_time = -math.inf     # ``now`` of the newest synchronous call
        self._reset_generation = -1          # generation the policy was last reset for
        self._joints: dict[str, float] = {}
        self._base_pose: tuple[float, float, float] | None = None
        self._scan: PlanarScan | None = None
        self._last_tick: float | None = None

    def reconfigure(self, config: RunnerConfig) -> None:
        """Take new settings on a running runner (a live parameter change), from the next tick and
        call: the call schedule, the scheduler's rules, the smoothing (restarted) and the vocabulary.
        The chunks already computed are kept, so the robot is not left without a command. The
        control rate cannot change here (the caller's timer runs at it): ValueError, nothing changed."""
        if config.control_rate_hz != self.config.control_rate_hz:
            raise ValueError('control_rate_hz cannot change on a running PolicyRunner (restart the node)')
        with self._lock:
            self._apply(config)

    def parts(self, config: RunnerConfig) -> tuple[Vocabulary | None, ActionSmoother]:
        """The vocabulary ('auto' = the policy's own) and smoother ``config`` makes for this runner;
        ValueError (naming the file or name) when they cannot be made. Callers check a live
        setting with it before :meth:`reconfigure`."""
        name = getattr(self.policy, 'vocabulary', None) if config.vocabulary == 'auto' else config.vocabulary
        vocabulary = load_vocabulary(name) if name else None
        return vocabulary, ActionSmoother(config.smoothing, config.smoothing_window, config.smoothing_alpha)

    def _apply(self, config: RunnerConfig) -> None:
        """Everything ``config`` sets but the control rate; builds the parts first, so a bad
        vocabulary raises before anything changes."""
        vocabulary, smoother = self.parts(config)
        self.config = config
        self.call_ticks = call_ticks(config, self.policy)
        self._scheduler.params = config.scheduler_params()
        self._smoother = smoother
        self.vocabulary: Vocabulary | None = vocabulary
        self._progress.window, self._progress.min_commanded, self._progress.min_fraction = (
            float(config.progress_window), float(config.progress_min_commanded), float(config.progress_min_fraction))
        self._ungrounded: tuple[str, tuple[str, ...]] = ('', ())    # (instruction, what it names unknown)

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
        self._progress.reset(now)
        return self._generation

    @property
    def instruction(self) -> str:
        return self._instruction

    def unknown_references(self, text: str) -> tuple[str, ...]:
        """What ``text`` names outside the vocabulary ('colour:purple', ...); empty when grounded
        or when there is no vocabulary. A non-empty answer means every chunk gets confidence 0."""
        with self._lock:                      # the vocabulary may change live (reconfigure)
            vocabulary, (cached, unknown) = self.vocabulary, self._ungrounded
        if vocabulary is None or not text:
            return ()
        if cached != text:
            unknown = unknown_references(text, vocabulary)
            with self._lock:
                if self.vocabulary is vocabulary:
                    self._ungrounded = (text, unknown)
        return unknown

    def prepare(self, text: str) -> None:
        """Read a new instruction's words the policy was not trained on now (MiniLM, once; cached),
        so its first call is not slowed by it. Errors are left to that call, which reports them."""
        try:
            self.reading(text)
        except Exception:  # noqa: BLE001 - the policy's own call meets and returns the same error
            pass

    def reading(self, text: str):
        """How the policy reads ``text`` when it rewrites words it was not trained on (a seed_vla
        checkpoint with a vocabulary: vla_policy.models.unknown_words.Reading), else None."""
        read = getattr(getattr(self.policy, 'processor', None), 'reading', None)
        return read(text) if read is not None and text else None

    @property
    def instruction_time(self) -> float:
        """When the current instruction was set (the caller's clock; 0 when idle)."""
        return self._instruction_time

    @property
    def stall(self) -> Stall | None:
        """The stall for which the current instruction is refused as 'no_progress' (vla_core.progress),
        else None; a new Stall object at each new stall."""
        return self._progress.held

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

    def update_base_pose(self, pose: tuple[float, float, float] | None) -> None:
        """The newest measured base pose x, y, yaw in the odometry frame (the next call's
        Observation.base_pose); None forgets it (odometry lost: a policy that reads it is refused)."""
        with self._lock:
            self._base_pose = None if pose is None else tuple(float(v) for v in pose)

    def update_scan(self, scan: PlanarScan | None) -> None:
        """The newest planar range scan (the next call's Observation.scan); None forgets it (the
        scan lost: a policy that reads it is refused)."""
        with self._lock:
            self._scan = scan

    def context(self) -> Context | None:
        """What a call starting now would follow; None when idle."""
        with self._lock:
            if not self._instruction:
                return None
            return Context(self._instruction, self._generation, dict(self._joints), self._base_pose, self._scan)

    def refusal(self, instruction: str, base_pose, scan=None) -> str:
        """Why a call for ``instruction`` with ``base_pose`` and ``scan`` gets confidence 0: 'vocabulary'
        (it names something unknown), 'no_odometry' (the policy reads odometry and none arrived),
        'no_scan' (the policy reads a range scan and none arrived), or ''."""
        if self.unknown_references(instruction):
            return 'vocabulary'
        if base_pose is None and getattr(self.policy, 'reads_odometry', False):
            return 'no_odometry'
        if scan is None and getattr(self.policy, 'reads_scan', False):
            return 'no_scan'
        return ''

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
        if ctx.generation != self._reset_generation:
            self.prepare(ctx.instruction)          # not timed as the policy's call
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
        refused = self.refusal(ctx.instruction, o.base_pose, o.scan) or self._judge_progress(ctx.generation, o)
        if refused:
            out = replace(out, confidence=0.0)           # refused: vla_safety holds the robot
        return CallResult(out, o.stamp, ctx.instruction, ctx.generation, dt, refused=refused)

    def _judge_progress(self, generation: int, o: Observation) -> str:
        """Record the call's odometry and judge the instruction's progress (vla_core.progress):
        'no_progress' while it is held for a stall, else ''."""
        with self._lock:
            if generation != self._generation:
                return ''
            self._progress.measured(o.stamp, o.base_pose)
            return 'no_progress' if self._progress.judge(o.stamp) is not None else ''

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
            instruction, instruction_time, generation = self._instruction, self._instruction_time, self._generation
            a = self._scheduler.action_at(now)
            vector = self._smoother(a.action) if a is not None else None
            last, self._last_tick = self._last_tick, float(now)
        if a is None or vector is None:
            return Tick(instruction, instruction_time, None)
        cmd = RunnerCommand(self.embodiment.decode(vector), vector, a.confidence, a.stamp, a.chunk_index,
                            a.chunk_length, float(a.meta), a.num_blended)
        if a.confidence > 0 and last is not None:    # a refused chunk asks for nothing: it is held
            dt = min(now - last, 2.0 * self.config.control_period)
            with self._lock:
                if generation == self._generation:
                    self._progress.commanded(now, cmd.command.twist, dt)
        return Tick(instruction, instruction_time, cmd)

    def has_chunk(self) -> bool:
        with self._lock:
            return self._scheduler.chunk_count > 0
