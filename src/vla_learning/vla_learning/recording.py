"""Turn a stream of robot messages into dataset episodes. Pure logic: no ROS, no clock.

Shared by the live recorder node (:mod:`vla_learning.recorder_node`) and the MCAP importer
(:mod:`vla_learning.mcap_import`), so a bag recorded with ``ros2 bag record`` and a live recording
give the same dataset. Time is always passed in (seconds, on the clock of the message stamps).

Inputs (already converted from messages): camera frames (H x W x 3 uint8), the instruction
(``vla/command``), measured joint positions (``joint_states``), the base's odometry pose (``odom``:
x, y, yaw; stored as ``observation.base_pose``, NaN while none arrived), with ``range_sectors`` the
planar scan (``scan``: the nearest range per sector, ``observation.range_sectors``, NaN while none
arrived), and the commands sent to
the robot (``cmd_vel`` Twist and ``joint_commands`` JointState positions). :meth:`EpisodeRecorder.tick` is
called at the recording rate (10 Hz); each tick with an instruction, a fresh image and joint
states adds one frame: the newest image (resized to ``image_size``), the measured joints and the
newest command (physical units; joints without a command count as holding their measured position,
the twist as zero when ``cmd_vel`` is older than ``command_timeout``).

Episodes: a non-empty instruction starts one; a different instruction, an empty one ("stop") or
:meth:`finish` ends it. Episodes shorter than ``min_frames`` are dropped.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping

import numpy as np

from vla_core.policy import PlanarScan, nearest_by_sector
from vla_learning.dataset import DatasetWriter, Episode
from vla_learning.dataset_format import RANGES_RECORDED_MAX


@dataclass(frozen=True)
class RecorderConfig:
    """image_size: square side of stored frames, px. stale_image_s: a frame older than this is not
    recorded. command_timeout_s: an older cmd_vel counts as zero. min_frames: shorter episodes are
    dropped. source: written to the episodes' 'source' column. range_sectors: record the scan as the
    nearest range in this many sectors (for a model with as many model.range_sectors; 0 = not)."""

    image_size: int = 64
    stale_image_s: float = 0.5
    command_timeout_s: float = 0.5
    min_frames: int = 5
    source: str = 'ros:recorder'
    range_sectors: int = 0

    def __post_init__(self) -> None:
        if not 16 <= self.image_size <= 512:
            raise ValueError(f'image_size must be in [16, 512] px, got {self.image_size}')
        if self.stale_image_s <= 0 or self.command_timeout_s <= 0:
            raise ValueError('stale_image_s and command_timeout_s must be > 0 s')
        if self.min_frames < 1:
            raise ValueError(f'min_frames must be >= 1, got {self.min_frames}')
        if not 0 <= self.range_sectors <= 64:
            raise ValueError(f'range_sectors must be in [0, 64], got {self.range_sectors}')


@dataclass
class _Open:
    instruction: str
    start: float
    images: list = field(default_factory=list)
    state: list = field(default_factory=list)
    actions: list = field(default_factory=list)
    stamps: list = field(default_factory=list)
    base_pose: list = field(default_factory=list)
    ranges: list = field(default_factory=list)


class EpisodeRecorder:
    """Collects frames into episodes and hands finished ones to ``sink(Episode)``.

    embodiment: decides the action layout (twist fields and joints, in order) and the state joints.
    """

    def __init__(self, embodiment, sink: Callable[[Episode], None], config: RecorderConfig | None = None,
                 task_name: str = '') -> None:
        self.embodiment = embodiment
        self.sink = sink
        self.config = config or RecorderConfig()
        self.task_name = task_name
        self.state_names = list(embodiment.joint_names)
        self._image: np.ndarray | None = None
        self._image_t = -np.inf
        self._joints: dict[str, float] = {}
        self._twist = (0.0,) * 6
        self._twist_t = -np.inf
        self._joint_cmd: dict[str, float] = {}
        self._base_pose: tuple[float, float, float] = (np.nan, np.nan, np.nan)
        self._ranges = np.full(self.config.range_sectors, np.nan, dtype=np.float32)
        self._instruction = ''
        self._open: _Open | None = None
        self.episodes_written = 0
        self.episodes_dropped = 0
        self.frames_skipped = 0

    # -- inputs --------------------------------------------------------------------------------
    def on_image(self, rgb: np.ndarray, t: float) -> None:
        from vla_policy.models.processor_seed_vla import resize_rgb   # lazy: it brings PyTorch
        s = self.config.image_size
        self._image = resize_rgb(rgb, s)[0].permute(1, 2, 0).contiguous().numpy()
        self._image_t = float(t)

    def on_joint_states(self, names, positions) -> None:
        for n, p in zip(names, positions):
            if np.isfinite(p):
                self._joints[str(n)] = float(p)

    def on_odometry(self, pose: tuple[float, float, float] | None) -> None:
        """The base's pose x, y, yaw in its odometry frame (None: not finite, ignored)."""
        if pose is not None:
            self._base_pose = tuple(float(v) for v in pose)

    def on_scan(self, scan: PlanarScan | None) -> None:
        """The newest planar scan (None: unusable, ignored); kept as range_sectors sectors."""
        if scan is not None and self.config.range_sectors:
            self._ranges = nearest_by_sector(scan, self.config.range_sectors, RANGES_RECORDED_MAX)

    def on_cmd_vel(self, twist6, t: float) -> None:
        self._twist = tuple(float(x) for x in twist6)
        self._twist_t = float(t)

    def on_joint_command(self, names, positions) -> None:
        for n, p in zip(names, positions):
            if np.isfinite(p):
                self._joint_cmd[str(n)] = float(p)

    def on_instruction(self, text: str, t: float) -> None:
        text = ' '.join(str(text).split())
        if text == self._instruction:
            return
        self.finish()
        self._instruction = text
        self._joint_cmd.clear()
        if text:
            self._open = _Open(text, float(t))

    # -- clock ---------------------------------------------------------------------------------
    def tick(self, now: float) -> bool:
        """Record one frame if possible; returns whether a frame was added."""
        ep = self._open
        if ep is None:
            return False
        if self._image is None or now - self._image_t > self.config.stale_image_s or not all(
                j in self._joints for j in self.state_names):
            self.frames_skipped += 1
            return False
        twist = self._twist if now - self._twist_t <= self.config.command_timeout_s else (0.0,) * 6
        joints = {j: self._joint_cmd.get(j, self._joints[j]) for j in self.state_names}
        x = self.embodiment.unnormalize(self.embodiment.encode(twist, joints))
        ep.images.append(self._image)
        ep.state.append([self._joints[j] for j in self.state_names])
        ep.actions.append(x)
        ep.stamps.append(now - ep.start)
        ep.base_pose.append(self._base_pose)
        ep.ranges.append(self._ranges)
        return True

    def finish(self) -> None:
        """End the open episode (written if long enough)."""
        ep, self._open = self._open, None
        if ep is None:
            return
        if len(ep.images) < self.config.min_frames:
            self.episodes_dropped += 1
            return
        self.sink(Episode(np.stack(ep.images), np.asarray(ep.state, np.float32), np.asarray(ep.actions, np.float32),
                          np.asarray(ep.stamps, np.float64), ep.instruction,
                          {'task_name': self.task_name, 'source': self.config.source, 'split_group': 'recorded'},
                          base_pose=np.asarray(ep.base_pose, np.float32),
                          range_sectors=np.asarray(ep.ranges, np.float32) if self.config.range_sectors else None))
        self.episodes_written += 1


def twist_tuple(msg) -> tuple[float, float, float, float, float, float]:
    """geometry_msgs/Twist (any object with its fields) -> (vx, vy, vz, wx, wy, wz)."""
    return (msg.linear.x, msg.linear.y, msg.linear.z, msg.angular.x, msg.angular.y, msg.angular.z)


def make_writer(dataset_dir, embodiment, image_size: int, range_sectors: int = 0):
    """A DatasetWriter for recorder output (creates the dataset or appends to it)."""
    return DatasetWriter(dataset_dir, fps=10.0, image_shape=(image_size, image_size, 3),
                         state_names=list(embodiment.joint_names), action_names=[d.name for d in embodiment.dims],
                         base_pose=True, range_sectors=range_sectors)


def stamp_seconds(header_stamp) -> float:
    return float(header_stamp.sec) + 1e-9 * float(header_stamp.nanosec)


def joint_positions_of(msg) -> Mapping[str, float]:
    return dict(zip(msg.name, msg.position))
