"""Turn a policy's action chunks into one action per control tick: the scheduler and smoother of
vla_core.runner.PolicyRunner. Pure logic: no ROS, no clock.

A policy answers an observation stamped ``t_obs`` with a chunk of T actions; step k is
meant for the window ``[t_obs + k*step_dt, t_obs + (k+1)*step_dt)``. Inference takes
time, so when a chunk arrives its first steps are already in the past: :meth:`action_at`
picks the step whose window contains ``now`` and so skips the stale ones (latency
compensation, as in Diffusion Policy's real-robot loop). Time is always passed in, as
float seconds on the clock of the image stamps; it is assumed not to run backwards
(call :meth:`ActionScheduler.reset` after a clock jump).

Public API::

    SchedulerParams(max_action_age=1.0, temporal_ensembling=False, ensemble_coeff=0.01,
                    future_tolerance=0.05, max_chunks=32)       # frozen, validated
    ActionScheduler(params)
        .add_chunk(actions (T, D), confidence, t_obs, step_dt, meta=None) -> chunk_id
        .action_at(now) -> ScheduledAction | None     # None: publish nothing
        .reset()                                      # new instruction / stop
        .chunk_count                                  # chunks held
    ScheduledAction: action (D,) float32, confidence, chunk_index, chunk_length, chunk_id,
                     meta, stamp, age, num_blended
    ActionSmoother(kind='none' | 'moving_average' | 'ema', window=3, alpha=0.5)
        .update(action (D,)) -> smoothed (D,) float32 | None (non-finite input skipped)
        smoother(action) is the same as smoother.update(action)
        .reset(); .skipped (count of skipped inputs)
    ensemble_weights(n, coeff) -> (n,) weights        # ACT's, oldest first, sum 1
    mean_abs_jerk(actions (N, D), dt) -> float        # smoothness figure for benchmarks

Rules of :meth:`ActionScheduler.action_at`:

* Only chunks with ``now - max_action_age <= t_obs <= now + future_tolerance`` are used.
* The newest of them (largest ``t_obs``; ties go to the later ``add_chunk``) decides:
  if ``now`` lies past its last step (``now >= t_obs + T*step_dt``) the answer is None.
  The scheduler never extrapolates: no action means the safety node's timeout stops
  the robot. Exception: a single-step chunk (T == 1) is "the current action" of a
  policy without chunking and holds until it is ``max_action_age`` old.
* Without ensembling the answer is the newest chunk's step for ``now`` (with ``interpolate``:
  the straight line between that step and the next, evaluated at ``now``).
* With ``temporal_ensembling`` (ACT): every usable chunk that has a step for ``now``
  (a real step: the T == 1 hold applies to the newest chunk only) contributes it,
  weighted ``w_i = exp(-ensemble_coeff * i)`` with i = 0 for the OLDEST prediction,
  normalised to sum 1. ``ensemble_coeff`` = 0 averages uniformly; > 0 favours older
  predictions (ACT: smoother); < 0 favours newer ones (faster reaction). Note that i
  counts chunks here, whereas ACT queries the policy every control step, so ACT's
  m = 0.01 corresponds to m = 0.01 * (control steps between two chunks) here.
* Confidence of a blend is the MIN of the contributors' confidences, not their
  weighted mean: the blended action carries a share of every contributing prediction,
  so it is no more trustworthy than the least sure one; and with ACT's weights (oldest
  heaviest) a weighted mean would dilute a new low-confidence chunk, delaying the
  safety node's reaction to exactly the signal it gates on.
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# Times within this fraction of a step of a step boundary count as on the boundary, so
# now = t_obs + k*step_dt selects step k despite float rounding.
_BOUNDARY_EPS = 1e-9


@dataclass(frozen=True)
class SchedulerParams:
    """Parameters of :class:`ActionScheduler` (seconds throughout)."""

    # --- staleness
    #: a chunk whose observation is older than this is never used (s, > 0); also how
    #: long a single-step chunk holds.
    max_action_age: float = 1.0
    #: a chunk stamped up to this far AFTER ``now`` (clock skew between camera and
    #: node) already serves its step 0 (s, >= 0).
    future_tolerance: float = 0.05

    # --- temporal ensembling (ACT)
    #: blend all chunks that predict ``now``; False = use the newest chunk only.
    temporal_ensembling: bool = False
    #: m in w_i = exp(-m * i), i = 0 for the oldest prediction; 0 = uniform average.
    ensemble_coeff: float = 0.01

    # --- within a chunk
    #: interpolate linearly between step k and k+1 of a chunk instead of holding step k over
    #: its whole window: removes the 0..step_dt lag and the stair-steps at step and chunk
    #: boundaries (the last step is held to the end of its window).
    interpolate: bool = False

    # --- memory
    #: chunks kept at most; the oldest are dropped first (>= 1).
    max_chunks: int = 32

    def __post_init__(self) -> None:
        if not (_finite(self.max_action_age) and self.max_action_age > 0):
            raise ValueError(f'max_action_age must be a positive number of seconds, got '
                             f'{self.max_action_age!r}; set it to how old an observation may be and '
                             'still drive the robot, e.g. 1.0')
        if not (_finite(self.future_tolerance) and self.future_tolerance >= 0):
            raise ValueError(f'future_tolerance must be >= 0 seconds, got {self.future_tolerance!r}; '
                             'use 0.0 when image stamps and the node share one clock')
        if not isinstance(self.interpolate, bool):
            raise ValueError(f'interpolate must be true or false, got {self.interpolate!r}')
        if not isinstance(self.temporal_ensembling, bool):
            raise ValueError(f'temporal_ensembling must be true or false, got {self.temporal_ensembling!r}')
        if not _finite(self.ensemble_coeff):
            raise ValueError(f'ensemble_coeff must be a finite number, got {self.ensemble_coeff!r}; '
                             '0.0 averages uniformly, ACT uses 0.01')
        if isinstance(self.max_chunks, bool) or not isinstance(self.max_chunks, int) or self.max_chunks < 1:
            raise ValueError(f'max_chunks must be an integer >= 1, got {self.max_chunks!r}; '
                             'it only bounds memory, 32 is plenty')


@dataclass(frozen=True, eq=False)
class ScheduledAction:
    """The action for one tick.

    action:       (D,) float32, normalised action space (a blend when num_blended > 1).
    confidence:   0..1 (min over the blended chunks).
    chunk_index:  step of the newest chunk used for ``now`` (0 for a held T == 1 chunk).
    chunk_length: T of that chunk.
    chunk_id:     id returned by :meth:`ActionScheduler.add_chunk` for that chunk.
    meta:         the opaque ``meta`` passed with that chunk.
    stamp:        that chunk's t_obs, the stamp of the image it was computed from (s):
                  what VlaAction.header.stamp carries.
    age:          now - stamp (s); may be slightly negative within future_tolerance.
    num_blended:  chunks that contributed (1 without ensembling).
    """

    action: np.ndarray
    confidence: float
    chunk_index: int
    chunk_length: int
    chunk_id: int
    meta: Any
    stamp: float
    age: float
    num_blended: int = 1


@dataclass(frozen=True, eq=False)
class _Chunk:
    chunk_id: int
    actions: np.ndarray   # (T, D) float32, read-only
    confidence: float
    t_obs: float
    step_dt: float
    meta: Any = field(default=None)

    def step_for(self, now: float, hold_single: bool) -> int | None:
        """Index of the step whose window contains ``now``, or None when exhausted."""
        k = max(0, math.floor((now - self.t_obs) / self.step_dt + _BOUNDARY_EPS))
        if k < len(self.actions):
            return k
        return 0 if hold_single and len(self.actions) == 1 else None

    def value(self, now: float, k: int, interpolate: bool) -> np.ndarray:
        """Step k's action, or (interpolate) the straight line from step k to k+1 at ``now``."""
        if not interpolate or k + 1 >= len(self.actions):
            return self.actions[k]
        frac = min(max((now - self.t_obs) / self.step_dt - k, 0.0), 1.0)
        return (1.0 - frac) * self.actions[k] + frac * self.actions[k + 1]


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool) \
        and math.isfinite(x)


class ActionScheduler:
    """Keeps recent action chunks and answers "which action now?"; see the module docstring.

    Not thread-safe: call it from one thread (the node's control timer), or lock around it.
    """

    def __init__(self, params: SchedulerParams | None = None) -> None:
        self.params = params if params is not None else SchedulerParams()
        self._chunks: list[_Chunk] = []   # sorted by (t_obs, chunk_id), oldest first
        self._next_id = 0

    @property
    def chunk_count(self) -> int:
        """Chunks currently held (including ones not yet or no longer usable)."""
        return len(self._chunks)

    def reset(self) -> None:
        """Forget every chunk (new instruction, stop). Chunk ids keep counting up."""
        self._chunks.clear()

    def add_chunk(self, actions: Any, confidence: float, t_obs: float, step_dt: float,
                  meta: Any = None) -> int:
        """Store a chunk; returns its id. Raises ValueError (state untouched) when invalid.

        actions: (T, D) (or (D,) for T == 1) finite values; step k is for t_obs + k*step_dt.
        confidence: 0..1. t_obs: the observation's stamp (s). step_dt: > 0 s.
        meta: anything; handed back in :class:`ScheduledAction`.
        """
        try:
            a = np.array(actions, dtype=np.float32)   # a copy: the caller may reuse its buffer
        except (TypeError, ValueError) as exc:
            raise ValueError(f'actions must be a (T, D) array of numbers: {exc}') from None
        if a.ndim == 1:
            a = a[None, :]
        if a.ndim != 2 or a.shape[0] < 1 or a.shape[1] < 1:
            raise ValueError(f'actions must have shape (T, D) with T, D >= 1, got {a.shape}')
        if not np.all(np.isfinite(a)):
            raise ValueError('actions contain NaN or inf; drop this chunk (check PolicyOutput.is_finite)')
        if self._chunks and a.shape[1] != self._chunks[0].actions.shape[1]:
            raise ValueError(f'action dimension {a.shape[1]} differs from the held chunks\' '
                             f'{self._chunks[0].actions.shape[1]}; call reset() when switching policy')
        if not (_finite(confidence) and 0.0 <= confidence <= 1.0):
            raise ValueError(f'confidence must be a number in 0..1, got {confidence!r}')
        if not _finite(t_obs):
            raise ValueError(f't_obs must be a finite time in seconds, got {t_obs!r}')
        if not (_finite(step_dt) and step_dt > 0):
            raise ValueError(f'step_dt must be a positive number of seconds, got {step_dt!r}')
        a.setflags(write=False)
        chunk = _Chunk(self._next_id, a, float(confidence), float(t_obs), float(step_dt), meta)
        self._next_id += 1
        i = len(self._chunks)
        while i > 0 and self._chunks[i - 1].t_obs > chunk.t_obs:   # usually appends
            i -= 1
        self._chunks.insert(i, chunk)
        del self._chunks[:max(0, len(self._chunks) - self.params.max_chunks)]
        return chunk.chunk_id

    def action_at(self, now: float) -> ScheduledAction | None:
        """The action for time ``now`` (s), or None when no usable chunk covers it.

        Drops chunks that have become too old for any later ``now`` as a side effect.
        """
        if not _finite(now):
            raise ValueError(f'now must be a finite time in seconds, got {now!r}')
        p = self.params
        oldest_ok = now - p.max_action_age
        while self._chunks and self._chunks[0].t_obs < oldest_ok:
            self._chunks.pop(0)
        usable = [c for c in self._chunks if c.t_obs <= now + p.future_tolerance]
        if not usable:
            return None
        newest = usable[-1]
        k = newest.step_for(now, hold_single=True)
        if k is None:
            return None
        contributors = [(newest, k)]
        if p.temporal_ensembling:
            older = [(c, c.step_for(now, hold_single=False)) for c in usable[:-1]]
            contributors = [(c, j) for c, j in older if j is not None] + contributors
        if len(contributors) == 1:
            action = np.array(newest.value(now, k, p.interpolate), dtype=np.float32)
        else:
            weights = ensemble_weights(len(contributors), p.ensemble_coeff)
            stacked = np.stack([c.value(now, j, p.interpolate) for c, j in contributors]).astype(np.float64)
            action = (weights @ stacked).astype(np.float32)
        return ScheduledAction(
            action=action,
            confidence=min(c.confidence for c, _ in contributors),
            chunk_index=k,
            chunk_length=len(newest.actions),
            chunk_id=newest.chunk_id,
            meta=newest.meta,
            stamp=newest.t_obs,
            age=now - newest.t_obs,
            num_blended=len(contributors),
        )


def ensemble_weights(n: int, coeff: float) -> np.ndarray:
    """ACT's normalised weights exp(-coeff * i), i = 0 (oldest) .. n-1 (newest)."""
    logits = -coeff * np.arange(n, dtype=np.float64)
    w = np.exp(logits - logits.max())   # shifted: no overflow for large |coeff|
    return w / w.sum()


class ActionSmoother:
    """Optional smoothing of the scheduled actions (seed ch. 5.7).

    kind='none':            output = input.
    kind='moving_average':  mean of the last ``window`` accepted inputs (fewer at start).
    kind='ema':             y = alpha * x + (1 - alpha) * y_prev, y = x for the first
                            input; ``window`` is not used.
    A non-finite input is skipped: the state is left as it was, ``skipped`` counts it, and
    :meth:`update` returns None (publish nothing for that tick). Call :meth:`reset` on a
    new instruction, and after a gap in actions if pre-gap actions must not blend in.
    """

    KINDS = ('none', 'moving_average', 'ema')

    def __init__(self, kind: str = 'none', window: int = 3, alpha: float = 0.5) -> None:
        if kind not in self.KINDS:
            raise ValueError(f'smoother kind {kind!r} is unknown; use one of {", ".join(self.KINDS)}')
        if isinstance(window, bool) or not isinstance(window, int) or window < 1:
            raise ValueError(f'smoother window must be an integer >= 1 (actions averaged), got {window!r}')
        if not (_finite(alpha) and 0.0 < alpha <= 1.0):
            raise ValueError(f'smoother alpha must be in (0, 1] (1 = no smoothing), got {alpha!r}')
        self.kind = kind
        self.window = window
        self.alpha = float(alpha)
        self.skipped = 0
        self._history: deque[np.ndarray] = deque(maxlen=window)
        self._ema: np.ndarray | None = None
        self._dim: int | None = None

    def reset(self) -> None:
        """Forget the history (``skipped`` keeps counting)."""
        self._history.clear()
        self._ema = None
        self._dim = None

    def update(self, action: Any) -> np.ndarray | None:
        """Feed one (D,) action; returns the smoothed (D,) float32, or None if it was skipped."""
        x = np.array(action, dtype=np.float64).reshape(-1)
        if x.size == 0 or not np.all(np.isfinite(x)):
            self.skipped += 1
            return None
        if self._dim is None:
            self._dim = x.size
        elif x.size != self._dim:
            raise ValueError(f'action has {x.size} values, the smoother holds {self._dim}; call reset() first')
        if self.kind == 'none':
            return x.astype(np.float32)
        if self.kind == 'moving_average':
            self._history.append(x)
            return np.mean(self._history, axis=0).astype(np.float32)
        self._ema = x if self._ema is None else self.alpha * x + (1.0 - self.alpha) * self._ema
        return self._ema.astype(np.float32)

    __call__ = update


def mean_abs_jerk(actions: Any, dt: float) -> float:
    """Mean |third finite difference| / dt**3 over all steps and dimensions.

    actions: (N, D) (or (N,)) sampled every ``dt`` seconds, N >= 4. 0 for a constant,
    linear or quadratic signal; 6*a for a*t**3.
    """
    a = np.asarray(actions, dtype=np.float64)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2 or a.shape[0] < 4:
        raise ValueError(f'mean_abs_jerk needs (N, D) actions with N >= 4, got shape {a.shape}')
    if not (_finite(dt) and dt > 0):
        raise ValueError(f'dt must be a positive number of seconds, got {dt!r}')
    return float(np.mean(np.abs(np.diff(a, n=3, axis=0))) / dt ** 3)
