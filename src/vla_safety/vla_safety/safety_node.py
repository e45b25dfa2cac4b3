"""vla_safety: the only node that talks to the robot's command topics.

Every proposal (vla/action) goes through the pure gate (gate.step) with the newest sensor
readings, joint states and time, and the decision is published at once on cmd_vel and
joint_commands, with vla/safety_status. A watchdog timer at control_rate_hz takes over when
proposals stop (inference crashed, network gone): it keeps deciding and publishing, so the
robot ramps to zero and is held there, never left with a stale command.

Why proposal-driven and not only timer-driven: two free-running 10 Hz timers in a row (inference
then safety) would add up to 100 ms to the image-to-command latency. The output rate stays that
of the inference node's timer (10 Hz); when proposals stop, the watchdog (1.5 periods after the
last one, then every period) keeps it at control_rate_hz.

All callbacks share one mutually exclusive group on a single-threaded executor: the gate state
is only touched from one thread.

Faults: no exception may leave the outputs silent. Every callback is guarded: an exception is
logged with its traceback and latches a fault (zero twist, STOP with reason internal_error) that
only vla/reset_estop clears. A (re)started node, and a reset, hold the robot until a new
instruction arrives (gate.await_instruction): nothing issued before moves it.

Outputs (outputs.py): the base command goes out as Twist or TwistStamped (base_output), the
joint targets as JointState, JointTrajectory or Float64MultiArray (joint_output, with the
controller's joint order in controller_joints), so ros2_control controllers need no relay. Every
shape carries the same gated decision; the zero twist of a fault goes out in the chosen shape too.

Parameters: every gate parameter can be set on the live node (`ros2 param set`). A set is checked
whole against SafetyParams (ranges and rules across parameters) and refused with the reason, or
applied at once, all together, from the next decision on.
"""
from __future__ import annotations

import functools
import math
import time
import traceback
from pathlib import Path

import yaml
from geometry_msgs.msg import Twist, TwistStamped
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image, JointState, LaserScan, PointCloud2
from std_msgs.msg import Bool, Float64MultiArray
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from vla_common import diagnostics
from vla_common.image_conversion import image_msg_to_depth
from vla_common.run import run_node
from vla_common.params import ParamSpec, add_validation, declare_params
from vla_common.qos import RELIABLE_QOS, SENSOR_QOS
from vla_common.stats import RateMeter, RollingWindow
from vla_interfaces.msg import SafetyStatus, VlaAction
from vla_safety.collision import depth_image_to_points, laser_scan_to_points, points_in_base
from vla_safety.ee_twist import EeLimits
from vla_safety.gate import (GateState, GateStatus, Proposal, Reason, SensorSnapshot, SourceReading,
                             await_instruction, latch_estop, reset_estop, step)
from vla_safety.outputs import BASE_OUTPUTS, JOINT_OUTPUTS, OutputConfig, OutputConfigError, order_joints
from vla_safety.joint_limits import JointLimitError, combine_limits, limits_from_dict, parse_urdf_limits
from vla_safety.params import SafetyParams, SafetyParamsError, parameter_specs
from vla_safety.pointcloud import pointcloud2_to_xyz

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
_GATE_NAMES = {s.name for s in GATE_PARAMS}
_STATE_NAMES = {int(v): v.name for v in GateStatus}


def _stamp_to_sec(stamp) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def _guarded(callback):
    """A subscription or timer callback that cannot take the node down: an exception latches a fault."""
    @functools.wraps(callback)
    def run(self, *args):
        try:
            return callback(self, *args)
        except Exception as exc:  # noqa: BLE001 - any bug must stop the robot, never silence it
            self._latch_fault(callback.__name__, exc)
    return run


def _guarded_service(callback):
    """A service callback that cannot take the node down: an exception latches a fault and answers it."""
    @functools.wraps(callback)
    def run(self, request, response):
        try:
            return callback(self, request, response)
        except Exception as exc:  # noqa: BLE001 - as _guarded
            self._latch_fault(callback.__name__, exc)
            response.success, response.message = False, f'internal error: {exc}'
            return response
    return run


class SafetyNode(Node):

    def __init__(self, **kwargs) -> None:
        super().__init__('vla_safety', **kwargs)
        self._node_p = declare_params(self, NODE_PARAMS)
        self._gate_values = declare_params(self, GATE_PARAMS)
        self._joint_limits = self._load_joint_limits()
        try:
            self.params = self._make_params(self._gate_values)
        except SafetyParamsError as exc:
            raise SystemExit(f'vla_safety: {exc}') from None
        add_validation(self, NODE_PARAMS + GATE_PARAMS, on_change=self._on_params, check=self._check_params)
        p = self._node_p
        self._period = 1.0 / p['control_rate_hz']
        try:
            self._outputs = OutputConfig(p['base_output'], p['joint_output'], tuple(p['controller_joints']))
        except OutputConfigError as exc:
            raise SystemExit(f'vla_safety: {exc}') from None
        self._fill_latch: dict[str, float] = {}   # controller joints filled from joint_states (outputs.py)
        self._warned_unmapped: set[str] = set()

        self._fault: str | None = None   # latched internal error: zero twist until vla/reset_estop
        # a (re)started gate moves nothing that was asked for before it started
        # (under use_sim_time the clock reads 0 until /clock arrives: the wait then starts at the
        # simulated time of the start, estimated as the first simulated time seen less the wall time
        # since the start, so an instruction from before the start never counts as new and one given
        # while the node waited for /clock does)
        self._state = await_instruction(GateState(), self._now())
        self._started_wall = time.monotonic() if self._now() == 0.0 else None
        self._proposal: Proposal | None = None
        self._proposal_stamp = None
        self._readings: dict[str, SourceReading] = {}
        required = set()
        if p['use_scan']:
            required.add('scan')
            self.create_subscription(LaserScan, 'scan', self._on_scan, SENSOR_QOS)
        if p['use_pointcloud']:
            required.add('pointcloud')
            self.create_subscription(PointCloud2, 'points', self._on_cloud, SENSOR_QOS)
        if p['use_depth']:
            required.add('depth')
            self._camera_info = None
            self.create_subscription(CameraInfo, 'depth/camera_info', self._on_camera_info, SENSOR_QOS)
            self.create_subscription(Image, 'depth/image_raw', self._on_depth, SENSOR_QOS)
        self._required = frozenset(required)
        self._joints: dict[str, float] = {}
        self._cost = RollingWindow(500)
        self._rate = RateMeter(100)
        self._counts = {'proposals': 0, 'decisions': 0, 'blocked': 0, 'bad_sensor_msgs': 0, 'internal_errors': 0,
                        'joint_commands_withheld': 0}
        self._last: object = None

        self.create_subscription(VlaAction, 'vla/action', self._on_proposal, RELIABLE_QOS)
        self.create_subscription(JointState, 'joint_states', self._on_joint_states, SENSOR_QOS)
        self.create_subscription(Bool, 'vla/estop', self._on_estop, RELIABLE_QOS)
        out = self._outputs
        self._cmd_pub = self.create_publisher(Twist if out.base_output == 'twist' else TwistStamped, 'cmd_vel',
                                              RELIABLE_QOS)
        joint_type = {'joint_state': JointState, 'joint_trajectory': JointTrajectory,
                      'float64_multi_array': Float64MultiArray}[out.joint_output]
        self._joint_pub = self.create_publisher(joint_type, 'joint_commands', RELIABLE_QOS)
        self._status_pub = self.create_publisher(SafetyStatus, 'vla/safety_status', RELIABLE_QOS)
        self._ee_frame = ''          # frame_id of the newest proposal's end-effector twist
        self._ee_pub = (self.create_publisher(TwistStamped, 'servo_node/delta_twist_cmds', RELIABLE_QOS)
                        if p['use_ee_twist'] else None)
        self.create_service(Trigger, 'vla/reset_estop', self._on_reset_estop)
        self.create_service(Trigger, 'vla/trigger_estop', self._on_trigger_estop)
        self._diag = diagnostics.DiagnosticsPublisher(self, 'safety gate')
        # fires only when no decision went out for 1.5 periods (proposals stopped), then every period
        self._watchdog_period = 1.5 * self._period
        self._watchdog = self.create_timer(self._watchdog_period, self._on_watchdog)
        self.create_timer(p['diagnostics_period'], self._publish_diagnostics)
        fp = self.params.footprint or f'radius {self.params.footprint_radius} m'
        self.get_logger().info(
            f'gating: confidence >= {self.params.confidence_threshold}, command_timeout '
            f'{self.params.command_timeout} s, sources {sorted(self._required) or "none"}, footprint {fp}, '
            f'{len(self.params.joint_limits)} joint limits')
        self.get_logger().info(
            f'outputs: {self._cmd_pub.topic_name} {self._cmd_pub.msg_type.__name__}, {self._joint_pub.topic_name} '
            f'{joint_type.__name__}' + (f" for joints [{', '.join(out.controller_joints)}]" if out.ordered else ''))
        if out.controller_joints and not out.ordered:
            self.get_logger().warning('controller_joints is not used with joint_output joint_state')

    # -- configuration -------------------------------------------------------------------------
    def _load_joint_limits(self) -> dict:
        p = self._node_p
        urdf = p['robot_description']
        if not urdf and p['urdf_file']:
            urdf = Path(p['urdf_file']).read_text()
        maps = []
        try:
            if urdf:
                maps.append(parse_urdf_limits(urdf))
            if p['joint_limits_file']:
                maps.append(limits_from_dict(yaml.safe_load(Path(p['joint_limits_file']).read_text()) or {}))
        except (OSError, JointLimitError, yaml.YAMLError) as exc:
            raise SystemExit(f'vla_safety: cannot read joint limits: {exc}') from None
        if not maps:
            self.get_logger().warning('no robot_description, urdf_file or joint_limits_file: every joint target '
                                   'is dropped (unknown_joint) unless allow_unknown_joints is true')
        return combine_limits(*maps) if maps else {}

    def _make_params(self, values: dict) -> SafetyParams:
        """SafetyParams of the gate parameters in ``values``; raises SafetyParamsError."""
        return SafetyParams(**{k: v for k, v in values.items() if k in _GATE_NAMES}, joint_limits=self._joint_limits)

    def _ee_limits(self) -> EeLimits | None:
        """The end-effector twist's limits (None: use_ee_twist is off); max_ee_* can be set live."""
        if self._ee_pub is None:
            return None
        return EeLimits(self.get_parameter('max_ee_linear').value, self.get_parameter('max_ee_angular').value,
                        self.params.out_of_range_factor)

    def _check_params(self, changes: dict) -> str | None:
        """Why a parameter set must be refused (it is checked whole, with the current values), or None."""
        gate = {k: v for k, v in changes.items() if k in _GATE_NAMES}
        if not gate:
            return None
        try:
            self._make_params({**self._gate_values, **gate})
        except SafetyParamsError as exc:
            return str(exc)
        return None

    @_guarded
    def _on_params(self, changes: dict) -> None:
        gate = {k: v for k, v in changes.items() if k in _GATE_NAMES}
        if gate:
            self.params = self._make_params({**self._gate_values, **gate})
            self._gate_values.update(gate)
            self.get_logger().info('gate parameters set: ' + ', '.join(f'{k}={v}' for k, v in gate.items()))

    # -- inputs ------------------------------------------------------------------------------------
    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    @_guarded
    def _on_proposal(self, msg: VlaAction) -> None:
        jt = msg.joint_targets
        e = msg.ee_twist
        self._proposal = Proposal(
            received_time=self._now(),
            twist=(msg.twist.linear.x, msg.twist.linear.y, msg.twist.linear.z,
                   msg.twist.angular.x, msg.twist.angular.y, msg.twist.angular.z),
            joint_names=tuple(jt.name), joint_positions=tuple(jt.position),
            confidence=msg.confidence, sequence=msg.sequence, instruction=msg.instruction,
            instruction_time=_stamp_to_sec(msg.instruction_stamp),
            ee_twist=(e.twist.linear.x, e.twist.linear.y, e.twist.linear.z,
                      e.twist.angular.x, e.twist.angular.y, e.twist.angular.z) if e.header.frame_id else None)
        self._proposal_stamp = msg.header.stamp
        self._ee_frame = e.header.frame_id
        self._counts['proposals'] += 1
        self._decide_and_publish()
        self._set_watchdog(1.5 * self._period)   # restarted: it fires only if the next proposal is late

    @_guarded
    def _on_scan(self, msg: LaserScan) -> None:
        p = self._node_p['scan_pose']
        try:
            pts = laser_scan_to_points(msg.ranges, msg.angle_min, msg.angle_increment, msg.range_min,
                                       msg.range_max, (p[0], p[1], p[2]))
        except (ValueError, IndexError) as exc:
            self._bad_sensor('scan', exc)
            return
        self._readings['scan'] = SourceReading(pts, self._now())

    def _cloud_points(self, xyz):
        x, y, z, roll, pitch, yaw = self._node_p['cloud_pose']
        cr, sr, cp, sp, cy, sy = (math.cos(roll / 2), math.sin(roll / 2), math.cos(pitch / 2),
                                  math.sin(pitch / 2), math.cos(yaw / 2), math.sin(yaw / 2))
        quat = (sr * cp * cy - cr * sp * sy, cr * sp * cy + sr * cp * sy, cr * cp * sy - sr * sp * cy,
                cr * cp * cy + sr * sp * sy)
        return points_in_base(xyz, (x, y, z), quat, self._node_p['obstacle_min_height'],
                              self._node_p['obstacle_max_height'])

    @_guarded
    def _on_cloud(self, msg: PointCloud2) -> None:
        try:
            pts = self._cloud_points(pointcloud2_to_xyz(msg))
        except ValueError as exc:
            self._bad_sensor('pointcloud', exc)
            return
        self._readings['pointcloud'] = SourceReading(pts, self._now())

    @_guarded
    def _on_camera_info(self, msg: CameraInfo) -> None:
        self._camera_info = msg

    @_guarded
    def _on_depth(self, msg: Image) -> None:
        info = self._camera_info
        if info is None:
            self.get_logger().warning('depth image without depth/camera_info yet: ignored', throttle_duration_sec=5.0)
            return
        try:
            depth = image_msg_to_depth(msg)
            xyz = depth_image_to_points(depth, info.k[0], info.k[4], info.k[2], info.k[5],
                                        stride=self._node_p['depth_stride'])
            pts = self._cloud_points(xyz)
        except ValueError as exc:
            self._bad_sensor('depth', exc)
            return
        self._readings['depth'] = SourceReading(pts, self._now())

    def _bad_sensor(self, source: str, exc: Exception) -> None:
        self._counts['bad_sensor_msgs'] += 1
        self.get_logger().error(f'{source} message rejected (source counts as missing): {exc}',
                                throttle_duration_sec=2.0)

    @_guarded
    def _on_joint_states(self, msg: JointState) -> None:
        if len(msg.name) != len(msg.position):
            return
        for n, v in zip(msg.name, msg.position):
            if math.isfinite(v):
                self._joints[n] = float(v)

    @_guarded
    def _on_estop(self, msg: Bool) -> None:
        if msg.data:
            if not self._state.estop:
                self.get_logger().error('EMERGENCY STOP latched (vla/estop); call vla/reset_estop to clear')
            self._state = latch_estop(self._state)
            self._decide_and_publish()
        else:
            self.get_logger().info('vla/estop false ignored: only the vla/reset_estop service clears the latch',
                                   throttle_duration_sec=5.0)

    @_guarded_service
    def _on_reset_estop(self, request, response):
        was, fault = self._state.estop, self._fault
        if fault is not None:   # a fresh gate memory: nothing from before the fault is trusted
            self._fault = None
            self._state = await_instruction(GateState(estop=was), self._now())
        self._state = reset_estop(self._state, self._now())
        response.success = True
        if was or fault:
            response.message = (('fault' if fault and not was else 'e-stop') + ' cleared; the robot stands still '
                                 'until a new instruction arrives (vla/command or vla/execute)')
        else:
            response.message = 'no e-stop was latched'
        self.get_logger().warning(response.message)
        self._decide_and_publish()    # the new state goes out now, not at the next proposal
        return response

    @_guarded_service
    def _on_trigger_estop(self, request, response):
        self._state = latch_estop(self._state)
        self.get_logger().error('EMERGENCY STOP latched (vla/trigger_estop); call vla/reset_estop to clear')
        self._decide_and_publish()
        response.success, response.message = True, 'e-stop latched'
        return response

    # -- decisions ------------------------------------------------------------------------------------
    @_guarded
    def _on_watchdog(self) -> None:
        # proposals drive the output (each restarts this timer); when they stop, it keeps the
        # stream going at control_rate_hz
        if self._watchdog_period != self._period:
            self._set_watchdog(self._period)
        self._decide_and_publish()

    def _set_watchdog(self, period: float) -> None:
        if period != self._watchdog_period:
            self._watchdog.timer_period_ns = int(period * 1e9)
            self._watchdog_period = period
        self._watchdog.reset()

    # -- faults ------------------------------------------------------------------------------------------
    def _latch_fault(self, where: str, exc: Exception) -> None:
        first = self._fault is None
        self._fault = f'{where}: {type(exc).__name__}: {exc}'
        self._counts['internal_errors'] += 1
        if first:
            self.get_logger().error(f'internal error in {where}, robot stopped until vla/reset_estop:\n'
                                    + ''.join(traceback.format_exception(exc)))
        try:
            self._publish_fault()
        except Exception as again:  # noqa: BLE001 - the middleware itself failing: nothing left to send
            self.get_logger().fatal(f'cannot publish the stop after an internal error: {again}')

    def _publish_fault(self) -> None:
        """Zero twist and a STOP status naming the fault; joints get no new targets (they hold)."""
        stamp = self.get_clock().now().to_msg()
        self._publish_base((0.0,) * 6, stamp)
        if self._ee_pub is not None:
            es = TwistStamped()
            es.header.stamp = stamp
            self._ee_pub.publish(es)
        st = SafetyStatus()
        st.header.stamp, st.header.frame_id = stamp, self._node_p['base_frame']
        # a latched e-stop stays visible (the inference node drops its instruction on ESTOP)
        st.state = SafetyStatus.ESTOP if self._state.estop else SafetyStatus.STOP
        st.reasons = [Reason.ESTOP_LATCHED, Reason.INTERNAL_ERROR] if self._state.estop else [Reason.INTERNAL_ERROR]
        st.message = f'STOP: internal_error ({self._fault}); call vla/reset_estop'
        st.confidence = math.nan
        st.nearest_obstacle_distance = math.inf
        st.time_since_last_proposal = math.inf
        self._status_pub.publish(st)

    def _decide_and_publish(self) -> None:
        if self._fault is not None:
            self._publish_fault()
            return
        now = self._now()
        if self._started_wall is not None and now > 0.0:
            start = max(0.0, now - (time.monotonic() - self._started_wall))
            self._started_wall = None
            self._state = await_instruction(self._state, start)
        ee_limits = self._ee_limits()
        t0 = time.perf_counter()
        sensors = SensorSnapshot(sources=dict(self._readings), required=self._required)
        decision, self._state = step(self._state, self._proposal, sensors, self._joints, self.params, now, ee_limits)
        self._cost.add(time.perf_counter() - t0)
        self._rate.tick(time.monotonic())
        self._counts['decisions'] += 1
        if decision.state >= GateStatus.STOP:
            self._counts['blocked'] += 1
        stamp = self.get_clock().now().to_msg()

        self._publish_base(decision.twist, stamp)
        if decision.joint_names:
            self._publish_joints(decision.joint_names, decision.joint_positions, stamp)

        if self._ee_pub is not None:
            es = TwistStamped()
            es.header.stamp, es.header.frame_id = stamp, self._ee_frame
            t = es.twist
            t.linear.x, t.linear.y, t.linear.z, t.angular.x, t.angular.y, t.angular.z = decision.ee_twist
            self._ee_pub.publish(es)

        st = SafetyStatus()
        st.header.stamp = stamp
        st.header.frame_id = self._node_p['base_frame']
        st.state = int(decision.status_state)
        st.reasons = list(decision.status_reasons)
        st.message = decision.message
        st.confidence = float(decision.confidence)
        st.nearest_obstacle_distance = float(decision.nearest_obstacle_distance)
        st.time_since_last_proposal = float(decision.time_since_last_proposal)
        st.proposal_sequence = int(decision.proposal_sequence)
        if self._proposal_stamp is not None and decision.proposal_sequence:
            st.proposal_stamp = self._proposal_stamp
        self._status_pub.publish(st)
        if self._last is None or self._last.state != decision.state or self._last.reasons != decision.reasons:
            if decision.state <= GateStatus.SLOWDOWN:
                self.get_logger().info(decision.message)
            else:
                self.get_logger().warning(decision.message)
        self._last = decision

    # -- outputs (one publish path per command topic; shapes: outputs.py) --------------------------------
    def _publish_base(self, twist, stamp) -> None:
        """``twist`` (vx, vy, vz, wx, wy, wz) on cmd_vel as base_output says."""
        if self._outputs.base_output == 'twist_stamped':
            msg = TwistStamped()
            msg.header.stamp, msg.header.frame_id = stamp, self._node_p['base_frame']
            t = msg.twist
        else:
            msg = t = Twist()
        t.linear.x, t.linear.y, t.linear.z, t.angular.x, t.angular.y, t.angular.z = (float(v) for v in twist)
        self._cmd_pub.publish(msg)

    def _publish_joints(self, names, positions, stamp) -> None:
        """Gated joint targets on joint_commands as joint_output says."""
        out = self._outputs
        if not out.ordered:
            js = JointState(name=list(names), position=[float(v) for v in positions])
            js.header.stamp = stamp
            self._joint_pub.publish(js)
            return
        ordered = order_joints(out.controller_joints, names, positions, self._state.joint_targets, self._joints,
                               self._fill_latch)
        self._fill_latch = dict(ordered.latched)
        new = set(ordered.unmapped) - self._warned_unmapped
        if new:
            self._warned_unmapped |= new
            self.get_logger().warning(f'joint_commands: {sorted(new)} are not in controller_joints: left out')
        if ordered.missing:
            self._counts['joint_commands_withheld'] += 1
            self.get_logger().error(
                f'joint_commands withheld: controller joints {list(ordered.missing)} were never commanded and '
                'have no joint_states position; publish their joint_states or drop them from controller_joints',
                throttle_duration_sec=5.0)
        if not ordered.publish:
            return
        if out.joint_output == 'float64_multi_array':
            self._joint_pub.publish(Float64MultiArray(data=list(ordered.positions)))
            return
        traj = JointTrajectory(joint_names=list(out.controller_joints))
        # stamp 0: the controller starts it on receipt (as MoveIt Servo does). A real stamp from
        # this clock would be rejected as "in the past" after a delay of one period or a clock
        # offset between machines.
        point = JointTrajectoryPoint(positions=list(ordered.positions))
        sec = int(self._period)
        point.time_from_start.sec, point.time_from_start.nanosec = sec, int(round((self._period - sec) * 1e9))
        traj.points = [point]
        self._joint_pub.publish(traj)

    @_guarded
    def _publish_diagnostics(self) -> None:
        d = self._last
        values = {'state': _STATE_NAMES[int(d.state)] if d else 'none', 'reasons': ','.join(d.reasons) if d else '',
                  'output_rate_hz': self._rate.rate_hz, 'decision_cost_p50_ms': self._cost.percentile(50) * 1e3,
                  'decision_cost_p99_ms': self._cost.percentile(99) * 1e3, **self._counts,
                  'estop_latched': self._state.estop,
                  'sources': ','.join(f'{k}:{self._now() - r.received_time:.2f}s' for k, r in self._readings.items()
                                      if r.received_time is not None)}
        if self._fault is not None:
            level, msg = diagnostics.ERROR, f'internal error, robot stopped until vla/reset_estop: {self._fault}'
        elif d is None:
            level, msg = diagnostics.WARN, 'no decision yet'
        elif d.state == GateStatus.ESTOP:
            level, msg = diagnostics.ERROR, 'emergency stop latched'
        elif d.state == GateStatus.STOP:
            level, msg = diagnostics.WARN, f'robot stopped: {d.message}'
        else:
            level, msg = diagnostics.OK, d.message
        self._diag.publish(level, msg, values)


def main(args=None) -> None:
    run_node(SafetyNode, args, description=__doc__)


if __name__ == '__main__':
    main()
