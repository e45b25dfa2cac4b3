"""vla_inference's plain values <-> its ROS messages: camera frames, stamps and the VlaAction of one
control tick."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from sensor_msgs.msg import CompressedImage

from vla_common.image_compressed import decode_compressed
from vla_common.image_conversion import image_msg_to_rgb
from vla_core.embodiment import ZERO_TWIST
from vla_core.policy import PlanarScan
from vla_core.runner import Tick
from vla_interfaces.msg import VlaAction


def seconds(stamp) -> float:
    """A builtin_interfaces/Time as float seconds."""
    return stamp.sec + stamp.nanosec * 1e-9


def base_pose(odom) -> tuple[float, float, float] | None:
    """A nav_msgs/Odometry as the base's planar pose x, y, yaw (the yaw of its orientation about z,
    REP 103), or None when any of it is not finite."""
    p, q = odom.pose.pose.position, odom.pose.pose.orientation
    yaw = math.atan2(2.0 * (q.w * q.z + q.x * q.y), 1.0 - 2.0 * (q.y * q.y + q.z * q.z))
    pose = (float(p.x), float(p.y), yaw)
    return pose if all(math.isfinite(v) for v in pose) else None


def planar_scan(msg) -> PlanarScan | None:
    """A sensor_msgs/LaserScan as a vla_core PlanarScan, or None when its angles are not finite or
    its ranges empty. Finite readings outside [range_min, range_max] are discarded (NaN), as REP 117
    asks (drivers that report 0 for "no reading" then read as nothing, not as contact); +-inf stay."""
    r = np.asarray(msg.ranges, dtype=np.float32)
    if not (len(r) and math.isfinite(msg.angle_min) and math.isfinite(msg.angle_increment)):
        return None
    with np.errstate(invalid='ignore'):
        r = np.where(np.isfinite(r) & ((r < msg.range_min) | (r > msg.range_max)), np.nan, r).astype(np.float32)
    return PlanarScan(r, float(msg.angle_min), float(msg.angle_increment))


def frame_rgb(frame) -> np.ndarray:
    """A camera frame (vla_core.runner_thread.Frame of an Image or CompressedImage) as HxWx3 uint8
    RGB; raises ValueError (with the reason) on anything malformed."""
    msg = frame.msg
    if isinstance(msg, CompressedImage):
        return decode_compressed(msg.format, msg.data)
    return image_msg_to_rgb(msg)


def image_stamp(stamp, now: float) -> float:
    """An image's stamp in seconds, or its arrival time ``now`` when it is unset or more than 1 s
    away from it: a camera on another clock would break latency compensation."""
    t = seconds(stamp)
    return now if t <= 0.0 or abs(now - t) > 1.0 else t


def set_stamp(stamp, t: float) -> None:
    """Write float seconds ``t`` into a builtin_interfaces/Time."""
    sec = int(t)
    stamp.sec, stamp.nanosec = sec, int((t - sec) * 1e9)


@dataclass(frozen=True)
class Proposal:
    """What one control tick proposes: a VlaAction's content without its frame and sequence."""

    stamp: float                         # the image stamp of the chunk in use (of the newest frame when idle)
    instruction: str = ''                # '' = idle: stand still, hold the posture
    instruction_time: float = 0.0
    twist: Sequence[float] = ZERO_TWIST
    joint_names: Sequence[str] = ()
    joint_positions: Sequence[float] = ()
    confidence: float = 1.0
    inference_time: float = 0.0
    chunk_index: int = 0
    chunk_length: int = 1
    ee_twist: Sequence[float] | None = None

    @classmethod
    def idle(cls, stamp: float, has_ee_twist: bool) -> 'Proposal':
        """No instruction: zero velocity with confidence 1 (and a zero end-effector twist)."""
        return cls(stamp, ee_twist=ZERO_TWIST if has_ee_twist else None)

    @classmethod
    def of_tick(cls, tick: Tick) -> 'Proposal':
        """The command of a tick that has one."""
        c = tick.command
        cmd = c.command
        return cls(c.stamp, tick.instruction, tick.instruction_time, cmd.twist, cmd.joint_names,
                   cmd.joint_positions, c.confidence, c.inference_time, c.chunk_index, c.chunk_length,
                   cmd.ee_twist)


def vla_action(p: Proposal, sequence: int, base_frame: str, policy_name: str, ee_frame: str) -> VlaAction:
    """The VlaAction of proposal ``p`` (its joint_targets and ee_twist carry the same stamp)."""
    msg = VlaAction()
    set_stamp(msg.header.stamp, p.stamp)
    msg.header.frame_id = base_frame
    msg.instruction = p.instruction
    set_stamp(msg.instruction_stamp, p.instruction_time)
    t = msg.twist
    t.linear.x, t.linear.y, t.linear.z, t.angular.x, t.angular.y, t.angular.z = (float(v) for v in p.twist)
    msg.joint_targets.header = msg.header
    msg.joint_targets.name = list(p.joint_names)
    msg.joint_targets.position = [float(v) for v in p.joint_positions]
    msg.confidence = float(p.confidence)
    msg.inference_time = float(p.inference_time)
    msg.policy_name = policy_name
    msg.sequence = sequence
    msg.chunk_index = int(p.chunk_index)
    msg.chunk_length = int(p.chunk_length)
    if p.ee_twist is not None:
        msg.ee_twist.header.stamp = msg.header.stamp
        msg.ee_twist.header.frame_id = ee_frame
        e = msg.ee_twist.twist
        e.linear.x, e.linear.y, e.linear.z, e.angular.x, e.angular.y, e.angular.z = (float(v) for v in p.ee_twist)
    return msg
