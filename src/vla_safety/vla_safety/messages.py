"""Message conversion for the safety node: ROS messages in, the gate's values out, and back. No
node, no publishing, no clock reads (times and stamps are passed in).

In      proposal_from_msg(VlaAction, now) -> Proposal        (ee_twist only with a frame_id)
        scan_points(LaserScan, scan_pose) -> (N, 2)           raises ValueError / IndexError
        cloud_points(xyz, cloud_pose, min_height, max_height) -> (N, 2)
        depth_xyz(Image, CameraInfo, stride) -> (N, 3)        raises ValueError
Out     base_msg(twist, stamped, frame_id, stamp) -> Twist | TwistStamped
        ee_msg(twist, frame_id, stamp) -> TwistStamped
        joint_state_msg(names, positions, stamp), joint_trajectory_msg(joints, positions, period),
        float64_array_msg(positions); JOINT_MSG_TYPES[joint_output]
        status_msg(decision, stamp, frame_id, proposal_stamp) -> SafetyStatus
        fault_status_msg(fault, estop, stamp, frame_id) -> SafetyStatus
        diagnostics_report(last, fault, values) -> (level, message, values)
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

from geometry_msgs.msg import Twist, TwistStamped
from sensor_msgs.msg import CameraInfo, Image, JointState, LaserScan
from std_msgs.msg import Float64MultiArray
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from vla_common import diagnostics
from vla_common.image_conversion import image_msg_to_depth
from vla_interfaces.msg import SafetyStatus, VlaAction

from .collision import depth_image_to_points, laser_scan_to_points, points_in_base
from .gate_types import Decision, GateStatus, Proposal, Reason

JOINT_MSG_TYPES = {'joint_state': JointState, 'joint_trajectory': JointTrajectory,
                   'float64_multi_array': Float64MultiArray}
_STATE_NAMES = {int(v): v.name for v in GateStatus}


# -- in ----------------------------------------------------------------------------------------------
def stamp_to_sec(stamp) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def _twist_values(t) -> tuple[float, ...]:
    return (t.linear.x, t.linear.y, t.linear.z, t.angular.x, t.angular.y, t.angular.z)


def proposal_from_msg(msg: VlaAction, now: float) -> Proposal:
    """The proposal as it arrived at ``now``; an ee_twist without a frame_id is no ee twist."""
    jt = msg.joint_targets
    e = msg.ee_twist
    return Proposal(
        received_time=now, twist=_twist_values(msg.twist),
        joint_names=tuple(jt.name), joint_positions=tuple(jt.position),
        confidence=msg.confidence, sequence=msg.sequence, instruction=msg.instruction,
        instruction_time=stamp_to_sec(msg.instruction_stamp),
        ee_twist=_twist_values(e.twist) if e.header.frame_id else None)


def scan_points(msg: LaserScan, scan_pose: Sequence[float]):
    """Base-frame (x, y) of the scan's valid ranges, the laser at ``scan_pose`` (x, y, yaw)."""
    p = scan_pose
    return laser_scan_to_points(msg.ranges, msg.angle_min, msg.angle_increment, msg.range_min,
                                msg.range_max, (p[0], p[1], p[2]))


def cloud_points(xyz, cloud_pose: Sequence[float], min_height: float, max_height: float):
    """Base-frame (x, y) of sensor points between the heights, the sensor at ``cloud_pose``
    (x, y, z, roll, pitch, yaw)."""
    x, y, z, roll, pitch, yaw = cloud_pose
    cr, sr, cp, sp, cy, sy = (math.cos(roll / 2), math.sin(roll / 2), math.cos(pitch / 2),
                              math.sin(pitch / 2), math.cos(yaw / 2), math.sin(yaw / 2))
    quat = (sr * cp * cy - cr * sp * sy, cr * sp * cy + sr * cp * sy, cr * cp * sy - sr * sp * cy,
            cr * cp * cy + sr * sp * sy)
    return points_in_base(xyz, (x, y, z), quat, min_height, max_height)


def depth_xyz(msg: Image, info: CameraInfo, stride: int):
    """Optical-frame (x, y, z) of every ``stride``-th depth pixel."""
    depth = image_msg_to_depth(msg)
    return depth_image_to_points(depth, info.k[0], info.k[4], info.k[2], info.k[5], stride=stride)


# -- out ---------------------------------------------------------------------------------------------
def _set_twist(t, values) -> None:
    t.linear.x, t.linear.y, t.linear.z, t.angular.x, t.angular.y, t.angular.z = values


def base_msg(twist: Sequence[float], stamped: bool, frame_id: str, stamp) -> Twist | TwistStamped:
    """``twist`` (vx, vy, vz, wx, wy, wz) as Twist, or TwistStamped in ``frame_id``."""
    if stamped:
        msg = TwistStamped()
        msg.header.stamp, msg.header.frame_id = stamp, frame_id
        t = msg.twist
    else:
        msg = t = Twist()
    _set_twist(t, (float(v) for v in twist))
    return msg


def ee_msg(twist: Sequence[float] | None, frame_id: str, stamp) -> TwistStamped:
    """The end-effector twist for MoveIt Servo (None: zero)."""
    es = TwistStamped()
    es.header.stamp, es.header.frame_id = stamp, frame_id
    if twist is not None:
        _set_twist(es.twist, twist)
    return es


def joint_state_msg(names: Sequence[str], positions: Sequence[float], stamp) -> JointState:
    js = JointState(name=list(names), position=[float(v) for v in positions])
    js.header.stamp = stamp
    return js


def joint_trajectory_msg(joints: Sequence[str], positions: Sequence[float], period: float) -> JointTrajectory:
    """One point reached in ``period`` s. Stamp 0: the controller starts it on receipt (as MoveIt
    Servo does). A real stamp from this clock would be rejected as "in the past" after a delay of
    one period or a clock offset between machines."""
    traj = JointTrajectory(joint_names=list(joints))
    point = JointTrajectoryPoint(positions=list(positions))
    sec = int(period)
    point.time_from_start.sec, point.time_from_start.nanosec = sec, int(round((period - sec) * 1e9))
    traj.points = [point]
    return traj


def float64_array_msg(positions: Sequence[float]) -> Float64MultiArray:
    return Float64MultiArray(data=list(positions))


def status_msg(decision: Decision, stamp, frame_id: str, proposal_stamp) -> SafetyStatus:
    """vla/safety_status of a decision (its status_state and status_reasons; the message of state
    and reasons); ``proposal_stamp``: the newest proposal's header stamp, or None."""
    st = SafetyStatus()
    st.header.stamp = stamp
    st.header.frame_id = frame_id
    st.state = int(decision.status_state)
    st.reasons = list(decision.status_reasons)
    st.message = decision.message
    st.confidence = float(decision.confidence)
    st.nearest_obstacle_distance = float(decision.nearest_obstacle_distance)
    st.time_since_last_proposal = float(decision.time_since_last_proposal)
    st.proposal_sequence = int(decision.proposal_sequence)
    if proposal_stamp is not None and decision.proposal_sequence:
        st.proposal_stamp = proposal_stamp
    return st


def fault_status_msg(fault: str, estop: bool, stamp, frame_id: str) -> SafetyStatus:
    """STOP naming the latched internal error (ESTOP while an e-stop is latched too: it stays visible,
    the inference node drops its instruction on ESTOP)."""
    st = SafetyStatus()
    st.header.stamp, st.header.frame_id = stamp, frame_id
    st.state = SafetyStatus.ESTOP if estop else SafetyStatus.STOP
    st.reasons = [Reason.ESTOP_LATCHED, Reason.INTERNAL_ERROR] if estop else [Reason.INTERNAL_ERROR]
    st.message = f'STOP: internal_error ({fault}); call vla/reset_estop'
    st.confidence = math.nan
    st.nearest_obstacle_distance = math.inf
    st.time_since_last_proposal = math.inf
    return st


def diagnostics_report(last: Decision | None, fault: str | None, values: Mapping[str, Any]
                       ) -> tuple[Any, str, dict[str, Any]]:
    """(level, message, values) of /diagnostics: the latest decision's state and reasons first,
    then ``values``."""
    values = {'state': _STATE_NAMES[int(last.state)] if last else 'none',
              'reasons': ','.join(last.reasons) if last else '', **values}
    if fault is not None:
        level, msg = diagnostics.ERROR, f'internal error, robot stopped until vla/reset_estop: {fault}'
    elif last is None:
        level, msg = diagnostics.WARN, 'no decision yet'
    elif last.state == GateStatus.ESTOP:
        level, msg = diagnostics.ERROR, 'emergency stop latched'
    elif last.state == GateStatus.STOP:
        level, msg = diagnostics.WARN, f'robot stopped: {last.message}'
    else:
        level, msg = diagnostics.OK, last.message
    return level, msg, values
