"""The safety node's parameters: its own (NODE_PARAMS) and the gate's (GATE_PARAMS, from
params.parameter_specs), and what is read from them at start. No rclpy.

    NODE_PARAMS, GATE_PARAMS   vla_common.params.ParamSpec lists, in declaration order
    GATE_NAMES                 the names of the gate's parameters
    gate_params(values, joint_limits) -> SafetyParams    raises SafetyParamsError
    GateConfig(values, joint_limits)   the gate's live values: .params, .refusal(changes), .apply(changes)
    load_joint_limits(values) -> dict | None   from robot_description / urdf_file / joint_limits_file
        (None: none of them named); raises NodeConfigError
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import yaml

from vla_common.params import ParamSpec

from .joint_limits import JointLimit, JointLimitError, combine_limits, limits_from_dict, parse_urdf_limits
from .outputs import BASE_OUTPUTS, JOINT_OUTPUTS
from .params import SafetyParams, SafetyParamsError, parameter_specs


class NodeConfigError(ValueError):
    """The node cannot start with these parameters; the message says why."""


NODE_PARAMS = [
    ParamSpec('control_rate_hz', 10.0, 'Watchdog rate: decisions are published at least this often, Hz',
              1.0, 200.0, read_only=True),
    ParamSpec('use_scan', True, 'Check collisions against sensor_msgs/LaserScan on scan (required source "scan")',
              read_only=True),
    ParamSpec('scan_pose', [0.0, 0.0, 0.0], 'Pose of the laser in the base frame [x m, y m, yaw rad]',
              read_only=True),
    ParamSpec('use_pointcloud', False, 'Check collisions against sensor_msgs/PointCloud2 on points '
              '(required source "pointcloud")', read_only=True),
    ParamSpec('use_depth', False, 'Check collisions against a depth image on depth/image_raw + depth/camera_info '
              '(required source "depth")', read_only=True),
    ParamSpec('cloud_pose', [0.0, 0.0, 0.0, 0.0, 0.0, 0.0], 'Pose of the point-cloud / depth optical frame in '
              'the base frame [x, y, z m, roll, pitch, yaw rad]', read_only=True),
    ParamSpec('obstacle_min_height', 0.05, 'Cloud/depth points lower than this above the floor are ignored, m',
              -10.0, 10.0, read_only=True),
    ParamSpec('obstacle_max_height', 2.0, 'Cloud/depth points higher than this are ignored, m', -10.0, 100.0,
              read_only=True),
    ParamSpec('depth_stride', 4, 'Use every n-th depth pixel in each direction', 1, 64, read_only=True),
    ParamSpec('robot_description', '', 'URDF text; joint position/velocity limits are read from it',
              read_only=True),
    ParamSpec('urdf_file', '', 'URDF file to read joint limits from (if robot_description is empty)',
              read_only=True),
    ParamSpec('joint_limits_file', '', 'YAML {joint: {lower, upper, max_velocity}}; combined with the URDF, '
              'the tighter limit wins', read_only=True),
    ParamSpec('base_frame', 'base_link', 'frame_id of vla/safety_status and of cmd_vel when base_output is '
              'twist_stamped', read_only=True),
    ParamSpec('base_output', 'twist', 'Message on cmd_vel: twist (geometry_msgs/Twist) or twist_stamped '
              '(geometry_msgs/TwistStamped, e.g. diff_drive_controller)', choices=BASE_OUTPUTS, read_only=True),
    ParamSpec('joint_output', 'joint_state', 'Message on joint_commands: joint_state (sensor_msgs/JointState), '
              'joint_trajectory (trajectory_msgs/JointTrajectory, joint_trajectory_controller) or '
              'float64_multi_array (std_msgs/Float64MultiArray, forward_command_controller)',
              choices=JOINT_OUTPUTS, read_only=True),
    ParamSpec('controller_joints', [], "The joint controller's joint order (its `joints` parameter); required by "
              'joint_trajectory and float64_multi_array', read_only=True, array_type='string_array'),
    ParamSpec('use_ee_twist', False, 'Gate end-effector twists (VlaAction.ee_twist) and publish them on '
              'servo_node/delta_twist_cmds (TwistStamped, MoveIt Servo)', read_only=True),
    ParamSpec('max_ee_linear', 0.25, 'End-effector linear speed limit, m/s (vector norm)', 0.0, 10.0),
    ParamSpec('max_ee_angular', 1.0, 'End-effector angular speed limit, rad/s (vector norm)', 0.0, 20.0),
    ParamSpec('diagnostics_period', 1.0, 'Period of /diagnostics updates, s', 0.1, 60.0, read_only=True),
]


def _gate_specs() -> list[ParamSpec]:
    out = []
    for s in parameter_specs():
        default = s['default']
        if isinstance(default, tuple):
            default = [float(v) for v in default]
        out.append(ParamSpec(s['name'], default, s['description'], s['min'], s['max'],
                             array_type='double_array' if isinstance(default, list) else ''))
    return out


GATE_PARAMS = _gate_specs()
GATE_NAMES = frozenset(s.name for s in GATE_PARAMS)


def gate_params(values: Mapping[str, Any], joint_limits: Mapping[str, JointLimit]) -> SafetyParams:
    """SafetyParams of the gate parameters in ``values``; raises SafetyParamsError."""
    return SafetyParams(**{k: v for k, v in values.items() if k in GATE_NAMES}, joint_limits=joint_limits)


class GateConfig:
    """The gate's parameter values and the SafetyParams made of them. A set is checked whole,
    with the current values (ranges and rules across parameters), and applied all together."""

    def __init__(self, values: Mapping[str, Any], joint_limits: Mapping[str, JointLimit]) -> None:
        self.values = {k: v for k, v in values.items() if k in GATE_NAMES}
        self.joint_limits = joint_limits
        self.params = gate_params(self.values, joint_limits)   # raises SafetyParamsError

    def refusal(self, changes: Mapping[str, Any]) -> str | None:
        """Why a parameter set must be refused, or None (parameters not of the gate: None)."""
        gate = {k: v for k, v in changes.items() if k in GATE_NAMES}
        if not gate:
            return None
        try:
            gate_params({**self.values, **gate}, self.joint_limits)
        except SafetyParamsError as exc:
            return str(exc)
        return None

    def apply(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Take the gate's parameters of an accepted set; returns them ({}: none of the gate's)."""
        gate = {k: v for k, v in changes.items() if k in GATE_NAMES}
        if gate:
            self.params = gate_params({**self.values, **gate}, self.joint_limits)
            self.values.update(gate)
        return gate


def load_joint_limits(values: Mapping[str, Any]) -> dict[str, JointLimit] | None:
    """The joint limits of the URDF (robot_description, else urdf_file) and joint_limits_file,
    the tighter limit winning; None when neither gives any."""
    urdf = values['robot_description']
    if not urdf and values['urdf_file']:
        urdf = Path(values['urdf_file']).read_text()   # an OSError here propagates as it is
    maps = []
    try:
        if urdf:
            maps.append(parse_urdf_limits(urdf))
        if values['joint_limits_file']:
            maps.append(limits_from_dict(yaml.safe_load(Path(values['joint_limits_file']).read_text()) or {}))
    except (OSError, JointLimitError, yaml.YAMLError) as exc:
        raise NodeConfigError(f'cannot read joint limits: {exc}') from None
    return combine_limits(*maps) if maps else None
