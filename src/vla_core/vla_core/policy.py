"""The policy interface: what every policy of the suite takes and returns.

Plain Python + NumPy; no ROS. A policy sees an :class:`Observation` and returns a
:class:`PolicyOutput`: a chunk of one or more future actions in the policy's own
*normalised* action space, plus one confidence. An :class:`~vla_core.embodiment.Embodiment`
turns a normalised action vector into physical commands (a base twist and joint targets),
so one trained policy serves several robots.
"""
from __future__ import annotations

import abc
import math
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np


@dataclass(frozen=True)
class PlanarScan:
    """A planar range scan in sensor_msgs/LaserScan terms, in a frame whose x axis points where the
    base goes forward (REP 103: angles counter-clockwise from straight ahead).

    ranges:           metres per beam; +inf = no return within range, -inf = too close to measure
                      (REP 117), NaN = invalid.
    angle_min:        angle of the first beam, rad.
    angle_increment:  angle between consecutive beams, rad.
    """

    ranges: np.ndarray
    angle_min: float
    angle_increment: float


def nearest_by_sector(scan: PlanarScan, n_sectors: int, range_max: float) -> np.ndarray:
    """(n_sectors,) float32: the nearest reading in each of ``n_sectors`` equal sectors of the full
    turn, clipped to ``range_max`` (m). Sector k is centred on the angle 2 pi k / n (k = 0 straight
    ahead, counter-clockwise); -inf readings (an object too close to measure) count as 0, +inf (no
    return) and NaN (invalid) as nothing; a sector with nothing in it reads ``range_max``. The one
    place the policy's range input is computed (run time, collection, recording)."""
    r = np.asarray(scan.ranges, dtype=np.float64).reshape(-1)
    out = np.full(n_sectors, float(range_max), dtype=np.float64)
    if n_sectors < 1 or len(r) == 0:
        return out.astype(np.float32)
    angle = scan.angle_min + scan.angle_increment * np.arange(len(r))
    width = 2.0 * math.pi / n_sectors
    sector = np.floor(np.mod(angle + width / 2.0, 2.0 * math.pi) / width).astype(np.int64) % n_sectors
    r = np.where(r == -np.inf, 0.0, r)
    ok = np.isfinite(r)
    np.minimum.at(out, sector[ok], np.clip(r[ok], 0.0, range_max))
    return out.astype(np.float32)


@dataclass(frozen=True)
class Observation:
    """What a policy sees at one instant.

    image:            H x W x 3 uint8 RGB.
    instruction:      the language command ("" when idle).
    joint_positions:  joint name -> position (rad or m), as measured.
    stamp:            seconds; the stamp of the image (ROS time in the node).
    depth:            optional H x W float32 metres (NaN where unknown).
    base_pose:        x, y (m), yaw (rad) of the base in its odometry frame (nav_msgs/Odometry on
                      ``odom``, REP 105), the newest measured; None when no odometry arrived.
    scan:             the newest planar range scan (sensor_msgs/LaserScan on ``scan``); None when none
                      arrived.
    """

    image: np.ndarray
    instruction: str
    joint_positions: Mapping[str, float] = field(default_factory=dict)
    stamp: float = 0.0
    depth: np.ndarray | None = None
    base_pose: tuple[float, float, float] | None = None
    scan: PlanarScan | None = None

    def __post_init__(self) -> None:
        img = self.image
        if not isinstance(img, np.ndarray) or img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            shape = getattr(img, 'shape', None)
            dtype = getattr(img, 'dtype', type(img).__name__)
            raise ValueError(f'Observation.image must be an HxWx3 uint8 RGB array, got shape {shape} dtype {dtype}')
        if img.shape[0] == 0 or img.shape[1] == 0:
            raise ValueError('Observation.image is empty (zero height or width)')
        if not isinstance(self.instruction, str):
            raise ValueError(f'Observation.instruction must be str, got {type(self.instruction).__name__}')


@dataclass(frozen=True)
class PolicyOutput:
    """A policy's answer to one observation.

    actions:    (T, D) float32, T >= 1 future steps in the policy's normalised action space
                (each dimension nominally in [-1, 1]; see Embodiment), step 0 = now.
    confidence: 0..1, how sure the policy is that the actions do what was asked.
    step_dt:    seconds between consecutive steps of the chunk.
    done:       the policy judges the instruction completed (e.g. "stop" reached, target reached).
    """

    actions: np.ndarray
    confidence: float
    step_dt: float = 0.1
    done: bool = False

    def __post_init__(self) -> None:
        a = np.asarray(self.actions, dtype=np.float32)
        if a.ndim == 1:
            a = a[None, :]
        if a.ndim != 2 or a.shape[0] < 1:
            raise ValueError(f'PolicyOutput.actions must be (T, D) with T >= 1, got shape {a.shape}')
        object.__setattr__(self, 'actions', a)
        if not (self.step_dt > 0 and math.isfinite(self.step_dt)):
            raise ValueError(f'PolicyOutput.step_dt must be a positive number of seconds, got {self.step_dt}')

    @property
    def is_finite(self) -> bool:
        return bool(np.all(np.isfinite(self.actions))) and math.isfinite(self.confidence)


class Policy(abc.ABC):
    """Base class of every policy.

    Subclasses set ``name`` and implement :meth:`infer`. ``infer`` may be slow (it runs off
    the control loop, in a worker thread of the inference node) but must be safe to call
    from one thread at a time, and must not keep references to the observation's arrays.
    """

    #: registry name, also reported in VlaAction.policy_name
    name: str = 'policy'
    #: True for policies that read the simulator's true state instead of the camera
    privileged: bool = False
    #: steps of each action chunk to execute before the next call, as the policy was trained and
    #: evaluated (LeRobot's ``n_action_steps``); None = call it on every new observation. With
    #: ``chunk_step_dt`` it sets the inference node's default call rate.
    n_action_steps: int | None = None
    #: seconds between the steps of its chunks (with ``n_action_steps``)
    chunk_step_dt: float = 0.1
    #: the vocabulary its language was trained on (vla_core.grounding; a bundled name such as
    #: 'vla_arena' or a YAML path): the PolicyRunner refuses instructions naming colours or objects
    #: outside it. None: no check (a general VLA, a scripted expert)
    vocabulary: str | None = None
    #: True for policies that read ``Observation.base_pose`` (how far the base has moved and turned
    #: since the instruction began): without odometry the PolicyRunner refuses (confidence 0)
    reads_odometry: bool = False
    #: True for policies that read ``Observation.scan`` (how near obstacles are around the base):
    #: without a scan the PolicyRunner refuses (confidence 0)
    reads_scan: bool = False

    def reset(self) -> None:
        """Forget any history (called when a new instruction starts)."""

    @abc.abstractmethod
    def infer(self, obs: Observation) -> PolicyOutput:
        """Compute an action chunk and its confidence for ``obs``."""


def declared_action_steps(policy) -> int | None:
    """``policy.n_action_steps`` (steps of each chunk to execute per call), or None where it
    declares none; read from any object, so wrappers and duck-typed policies work too. The one
    rule the inference node's call rate and the evaluation's default chunk steps share."""
    steps = getattr(policy, 'n_action_steps', None)
    return int(steps) if steps else None
