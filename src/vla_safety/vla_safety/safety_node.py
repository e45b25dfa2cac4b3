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

The node is wiring only: parameters in node_params.py, message conversion in messages.py, every
rule (the end-effector twist and the status it reports included) in the pure gate (gate.py).
"""
from __future__ import annotations

import math
import time
import traceback

from geometry_msgs.msg import Twist, TwistStamped
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image, JointState, LaserScan, PointCloud2
from std_msgs.msg import Bool
from std_srvs.srv import Trigger

from vla_common import diagnostics
from vla_common.params import add_validation, declare_params
from vla_common.qos import RELIABLE_QOS, SENSOR_QOS
from vla_common.run import run_node
from vla_common.stats import RateMeter, RollingWindow
from vla_interfaces.msg import SafetyStatus, VlaAction

from vla_safety.ee_twist import EeLimits
from vla_safety.gate import (GateState, GateStatus, Proposal, SensorSnapshot, SourceReading, await_instruction,
                             latch_estop, reset_estop, step)
from vla_safety.guards import guarded, guarded_service
from vla_safety.messages import (JOINT_MSG_TYPES, base_msg, cloud_points, depth_xyz, diagnostics_report, ee_msg,
                                 fault_status_msg, float64_array_msg, joint_state_msg, joint_trajectory_msg,
                                 proposal_from_msg, scan_points, status_msg)
from vla_safety.node_params import GATE_PARAMS, NODE_PARAMS, GateConfig, NodeConfigError, load_joint_limits
from vla_safety.outputs import OutputConfig, OutputConfigError, order_joints
from vla_safety.params import SafetyParams, SafetyParamsError
from vla_safety.pointcloud import pointcloud2_to_xyz


class SafetyNode(Node):

    def __init__(self, **kwargs) -> None:
        super().__init__('vla_safety', **kwargs)
        self._node_p = declare_params(self, NODE_PARAMS)
        gate_values = declare_params(self, GATE_PARAMS)
        try:
            self._gate = GateConfig(gate_values, self._load_joint_limits())
        except SafetyParamsError as exc:
            raise SystemExit(f'vla_safety: {exc}') from None
        add_validation(self, NODE_PARAMS + GATE_PARAMS, on_change=self._on_params, check=self._gate.refusal)
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
        joint_type = JOINT_MSG_TYPES[out.joint_output]
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
        # The node's timers run on its clock, which with use_sim_time stands at 0 until the first
        # /clock message (a restarted vla_safety waited 2-3 s for it, cmd_vel silent). Until then
        # this steady-clock timer holds the robot with STOP at control_rate_hz.
        self._until_clock = self.create_timer(self._period, self._on_until_clock,
                                              clock=Clock(clock_type=ClockType.STEADY_TIME))
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
    @property
    def params(self) -> SafetyParams:
        """The gate's parameters now (a live set replaces them all together)."""
        return self._gate.params

    def _load_joint_limits(self) -> dict:
        try:
            limits = load_joint_limits(self._node_p)
        except NodeConfigError as exc:
            raise SystemExit(f'vla_safety: {exc}') from None
        if limits is None:
            self.get_logger().warning('no robot_description, urdf_file or joint_limits_file: every joint target '
                                      'is dropped (unknown_joint) unless allow_unknown_joints is true')
        return limits if limits is not None else {}

    def _ee_limits(self) -> EeLimits | None:
        """The end-effector twist's limits (None: use_ee_twist is off); max_ee_* can be set live."""
        if self._ee_pub is None:
            return None
        return EeLimits(self.get_parameter('max_ee_linear').value, self.get_parameter('max_ee_angular').value,
                        self.params.out_of_range_factor)

    @guarded
    def _on_params(self, changes: dict) -> None:
        gate = self._gate.apply(changes)
        if gate:
            self.get_logger().info('gate parameters set: ' + ', '.join(f'{k}={v}' for k, v in gate.items()))

    # -- inputs ------------------------------------------------------------------------------------
    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    @guarded
    def _on_proposal(self, msg: VlaAction) -> None:
        self._proposal = proposal_from_msg(msg, self._now())
        self._proposal_stamp = msg.header.stamp
        self._ee_frame = msg.ee_twist.header.frame_id
        self._counts['proposals'] += 1
        self._decide_and_publish()
        self._set_watchdog(1.5 * self._period)   # restarted: it fires only if the next proposal is late

    @guarded
    def _on_scan(self, msg: LaserScan) -> None:
        try:
            pts = scan_points(msg, self._node_p['scan_pose'])
        except (ValueError, IndexError) as exc:
            self._bad_sensor('scan', exc)
            return
        self._readings['scan'] = SourceReading(pts, self._now())

    def _cloud_points(self, xyz):
        p = self._node_p
        return cloud_points(xyz, p['cloud_pose'], p['obstacle_min_height'], p['obstacle_max_height'])

    @guarded
    def _on_cloud(self, msg: PointCloud2) -> None:
        try:
            pts = self._cloud_points(pointcloud2_to_xyz(msg))
        except ValueError as exc:
            self._bad_sensor('pointcloud', exc)
            return
        self._readings['pointcloud'] = SourceReading(pts, self._now())

    @guarded
    def _on_camera_info(self, msg: CameraInfo) -> None:
        self._camera_info = msg

    @guarded
    def _on_depth(self, msg: Image) -> None:
        info = self._camera_info
        if info is None:
            self.get_logger().warning('depth image without depth/camera_info yet: ignored', throttle_duration_sec=5.0)
            return
        try:
            pts = self._cloud_points(depth_xyz(msg, info, self._node_p['depth_stride']))
        except ValueError as exc:
            self._bad_sensor('depth', exc)
            return
        self._readings['depth'] = SourceReading(pts, self._now())

    def _bad_sensor(self, source: str, exc: Exception) -> None:
        self._counts['bad_sensor_msgs'] += 1
        self.get_logger().error(f'{source} message rejected (source counts as missing): {exc}',
                                throttle_duration_sec=2.0)

    @guarded
    def _on_joint_states(self, msg: JointState) -> None:
        if len(msg.name) != len(msg.position):
            return
        for n, v in zip(msg.name, msg.position):
            if math.isfinite(v):
                self._joints[n] = float(v)

    @guarded
    def _on_estop(self, msg: Bool) -> None:
        if msg.data:
            if not self._state.estop:
                self.get_logger().error('EMERGENCY STOP latched (vla/estop); call vla/reset_estop to clear')
            self._state = latch_estop(self._state)
            self._decide_and_publish()
        else:
            self.get_logger().info('vla/estop false ignored: only the vla/reset_estop service clears the latch',
                                   throttle_duration_sec=5.0)

    @guarded_service
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

    @guarded_service
    def _on_trigger_estop(self, request, response):
        self._state = latch_estop(self._state)
        self.get_logger().error('EMERGENCY STOP latched (vla/trigger_estop); call vla/reset_estop to clear')
        self._decide_and_publish()
        response.success, response.message = True, 'e-stop latched'
        return response

    # -- decisions ------------------------------------------------------------------------------------
    @guarded
    def _on_watchdog(self) -> None:
        # proposals drive the output (each restarts this timer); when they stop, it keeps the
        # stream going at control_rate_hz
        if self._watchdog_period != self._period:
            self._set_watchdog(self._period)
        self._decide_and_publish()

    @guarded
    def _on_until_clock(self) -> None:
        if self.get_clock().now().nanoseconds > 0:       # the clock runs: the watchdog takes over
            self._until_clock.cancel()
            return
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
            self._ee_pub.publish(ee_msg(None, '', stamp))
        self._status_pub.publish(fault_status_msg(self._fault, self._state.estop, stamp, self._node_p['base_frame']))

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
            self._ee_pub.publish(ee_msg(decision.ee_twist, self._ee_frame, stamp))
        self._status_pub.publish(status_msg(decision, stamp, self._node_p['base_frame'], self._proposal_stamp))
        if self._last is None or self._last.state != decision.state or self._last.reasons != decision.reasons:
            if decision.state <= GateStatus.SLOWDOWN:
                self.get_logger().info(decision.message)
            else:
                self.get_logger().warning(decision.message)
        self._last = decision

    # -- outputs (one publish path per command topic; shapes: outputs.py) --------------------------------
    def _publish_base(self, twist, stamp) -> None:
        """``twist`` (vx, vy, vz, wx, wy, wz) on cmd_vel as base_output says."""
        self._cmd_pub.publish(base_msg(twist, self._outputs.base_output == 'twist_stamped', self._node_p['base_frame'],
                                       stamp))

    def _publish_joints(self, names, positions, stamp) -> None:
        """Gated joint targets on joint_commands as joint_output says."""
        out = self._outputs
        if not out.ordered:
            self._joint_pub.publish(joint_state_msg(names, positions, stamp))
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
            self._joint_pub.publish(float64_array_msg(ordered.positions))
        else:
            self._joint_pub.publish(joint_trajectory_msg(out.controller_joints, ordered.positions, self._period))

    @guarded
    def _publish_diagnostics(self) -> None:
        values = {'output_rate_hz': self._rate.rate_hz, 'decision_cost_p50_ms': self._cost.percentile(50) * 1e3,
                  'decision_cost_p99_ms': self._cost.percentile(99) * 1e3, **self._counts,
                  'estop_latched': self._state.estop,
                  'sources': ','.join(f'{k}:{self._now() - r.received_time:.2f}s' for k, r in self._readings.items()
                                      if r.received_time is not None)}
        level, msg, values = diagnostics_report(self._last, self._fault, values)
        self._diag.publish(level, msg, values)


def main(args=None) -> None:
    run_node(SafetyNode, args, description=__doc__)


if __name__ == '__main__':
    main()
