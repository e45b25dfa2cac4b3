"""vla_inference: camera images + language commands in, VlaAction proposals out at a steady rate.

Threads (why): the control timer must never wait for the policy, so the policy runs in an
InferenceWorker thread of its own on the newest frame; the executor's callbacks only copy
messages and publish. The executor is single-threaded (a multi-threaded one spent about 40 % of
the GIL rebuilding wait sets, measured with py-spy), so the action server's execute callback is
a coroutine that awaits control ticks instead of sleeping. State shared with the worker is guarded by one lock held only for
copies.
"""
from __future__ import annotations

import math
import sys
import threading
import time

import rclpy
from geometry_msgs.msg import Twist, TwistStamped
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.node import Node
from rclpy.task import Future
from sensor_msgs.msg import CompressedImage, Image, JointState
from std_msgs.msg import String
from std_srvs.srv import Trigger

from vla_common import diagnostics
from vla_common.run import run_node
from vla_common.params import ParamSpec, add_validation, declare_params
from vla_common.qos import COMMAND_QOS, IMAGE_QOS, RELIABLE_QOS, SENSOR_QOS
from vla_common.stats import RateMeter, RollingWindow
from vla_common.image_conversion import decode_compressed, image_msg_to_rgb
from vla_inference.instruction import InstructionError, clean_instruction
from vla_interfaces.action import ExecuteInstruction
from vla_interfaces.msg import SafetyStatus, VlaAction
from vla_policy.embodiment import ZERO_TWIST, load_embodiment
from vla_policy.registry import make_policy
from vla_policy.runner import CallResult, Frame, PolicyRunner, RunnerConfig, RunnerThread, ticks_for_rate

_D = RunnerConfig.field_default

PARAMS = [
    ParamSpec('policy', 'default', "Policy: 'default' (the shipped trained checkpoint), a registered name, "
              "a 'module:Class' target, or a checkpoint directory", read_only=True),
    ParamSpec('policy_backend', 'torch', "How a seed_vla checkpoint (including 'default') runs: 'torch' (PyTorch) "
              "or 'onnx' (its model.onnx under onnxruntime; make it with python -m vla_policy.export_onnx)",
              choices=('torch', 'onnx'), read_only=True),
    ParamSpec('embodiment', 'vla_humanoid', 'Embodiment mapping the policy actions to Twist and joints: '
              'a bundled name or a YAML path', read_only=True),
    ParamSpec('control_rate_hz', _D('control_rate_hz'), 'Rate at which vla/action is published, Hz', 1.0, 100.0, read_only=True),
    ParamSpec('stale_image_timeout', 0.5, 'No action is published while the newest image arrived longer ago '
              'than this, s', 0.01, 10.0),
    ParamSpec('use_compressed', False, 'Subscribe to camera/image_raw/compressed (sensor_msgs/CompressedImage) '
              'instead of camera/image_raw', read_only=True),
    ParamSpec('max_inference_rate_hz', 0.0, 'Upper bound on policy calls per second for one instruction, '
              "rounded to whole control ticks (a new instruction is inferred at once); 0 = the policy's own: "
              'every n_action_steps x step_dt s if it declares them (the default checkpoint: 1 x 0.1 s), else on '
              'every new frame. Calls are phased to finish just before the control tick they serve',
              0.0, 1000.0, read_only=True),
    ParamSpec('call_margin', _D('call_margin'), 'A phased policy call aims to finish this long before the control '
              'tick it serves, s (its duration is learned from the recent calls)', 0.0, 0.05, read_only=True),
    ParamSpec('tick_wait', _D('tick_wait'), 'A control tick whose policy call is still running waits up to this '
              'long for it, s (0 = never: the tick then uses the previous chunk)', 0.0, 0.025, read_only=True),
    ParamSpec('max_action_age', _D('max_action_age'), 'An action chunk computed from an image older than this is never '
              'used, s', 0.01, 60.0, read_only=True),
    ParamSpec('temporal_ensembling', _D('temporal_ensembling'), 'Blend overlapping action chunks (ACT temporal ensembling)',
              read_only=True),
    ParamSpec('ensemble_coeff', _D('ensemble_coeff'), 'ACT ensembling weight exp(-m*i), i = 0 for the oldest prediction '
              '(> 0 favours older: smoother; < 0 favours newer: faster)', -10.0, 10.0, read_only=True),
    ParamSpec('interpolate_chunks', _D('interpolate'), 'Interpolate linearly between the steps of an action chunk '
              'instead of holding each step for step_dt', read_only=True),
    ParamSpec('smoothing', _D('smoothing'), 'Smoothing of the published actions', choices=('none', 'moving_average', 'ema'),
              read_only=True),
    ParamSpec('smoothing_window', _D('smoothing_window'), 'Moving-average window, actions', 1, 50, read_only=True),
    ParamSpec('smoothing_alpha', _D('smoothing_alpha'), 'EMA weight of the newest action', 0.01, 1.0, read_only=True),
    ParamSpec('max_instruction_length', 500, 'Longer commands are rejected (and the robot stops), characters',
              1, 100000),
    ParamSpec('base_frame', 'base_link', 'frame_id of the proposed Twist', read_only=True),
    ParamSpec('torch_threads', 1, 'PyTorch intra-op threads for the policy (0 = leave as is)', 0, 64,
              read_only=True),
    ParamSpec('diagnostics_period', 1.0, 'Period of /diagnostics updates, s', 0.1, 60.0, read_only=True),
]


class InferenceNode(Node):

    def __init__(self, **kwargs) -> None:
        super().__init__('vla_inference', **kwargs)
        p = declare_params(self, PARAMS)
        self._p = p
        add_validation(self, PARAMS, on_change=self._on_params)
        self.embodiment = load_embodiment(p['embodiment'])
        options = {} if p['policy_backend'] == 'torch' else {'backend': p['policy_backend']}
        self.policy = make_policy(p['policy'], self.embodiment, **options)
        torch = sys.modules.get('torch')      # only a policy that uses PyTorch loads it (keyword does not)
        if torch is not None and p['torch_threads'] > 0:
            torch.set_num_threads(p['torch_threads'])
        self.get_logger().info(f"policy '{self.policy.name}' ({p['policy']}) on embodiment "
                               f"'{self.embodiment.name}' ({self.embodiment.action_dim} action dims)")

        self._lock = threading.Lock()    # the node's counters and last frame (the runner locks its own state)
        self._last_frame: Frame | None = None
        self._sequence = 0
        self._last_confidence = math.nan
        self._safety_state, self._safety_stamp = SafetyStatus.STOP, 0.0   # newest vla/safety_status (state, stamp)
        config = RunnerConfig(
            control_rate_hz=p['control_rate_hz'],
            call_every_ticks=ticks_for_rate(p['max_inference_rate_hz'], p['control_rate_hz']),
            call_margin=p['call_margin'], tick_wait=p['tick_wait'],
            max_action_age=p['max_action_age'], temporal_ensembling=p['temporal_ensembling'],
            ensemble_coeff=p['ensemble_coeff'], interpolate=p['interpolate_chunks'],
            smoothing=p['smoothing'], smoothing_window=p['smoothing_window'], smoothing_alpha=p['smoothing_alpha'])
        self._runner = PolicyRunner(self.policy, self.embodiment, config)
        # statistics for /diagnostics
        self._stats = dict(frames_received=0, frames_skipped=0, frames_rejected=0, inferences=0,
                           policy_errors=0, non_finite=0, ticks=0, ticks_stale=0, ticks_no_action=0,
                           published=0, commands_rejected=0)
        self._latency = RollingWindow(200)
        self._rate = RateMeter(600)   # the last minute of ticks at 10 Hz
        self._last_error = ''
        self._no_action_reason = 'no image yet'
        self._tick_waiters: list[Future] = []

        if p['use_compressed']:
            self.create_subscription(CompressedImage, 'camera/image_raw/compressed', self._on_image, IMAGE_QOS)
        else:
            self.create_subscription(Image, 'camera/image_raw', self._on_image, IMAGE_QOS)
        self.create_subscription(String, 'vla/command', self._on_command, COMMAND_QOS)
        self.create_subscription(JointState, 'joint_states', self._on_joint_states, SENSOR_QOS)
        self.create_subscription(SafetyStatus, 'vla/safety_status', self._on_safety_status, RELIABLE_QOS)
        self._action_pub = self.create_publisher(VlaAction, 'vla/action', RELIABLE_QOS)
        self._twist_pub = self.create_publisher(Twist, 'vla/cmd_vel', RELIABLE_QOS)
        self._joint_pub = self.create_publisher(JointState, 'vla/joint_command', RELIABLE_QOS)
        self._ee_pub = (self.create_publisher(TwistStamped, 'vla/ee_twist', RELIABLE_QOS)
                        if self.embodiment.has_ee_twist else None)
        self.create_service(Trigger, 'vla/stop', self._on_stop)
        self._diag = diagnostics.DiagnosticsPublisher(self, 'inference', hardware_id=self.policy.name)
        self._action_server = ActionServer(
            self, ExecuteInstruction, 'vla/execute', execute_callback=self._execute,
            goal_callback=self._on_goal, cancel_callback=lambda _: CancelResponse.ACCEPT)

        ticks = self._runner.call_ticks
        self.get_logger().info('policy calls: ' + (f'every {ticks} control tick(s), phased to finish just before '
                                                   'the tick' if ticks else 'on every new frame'))
        self._worker = RunnerThread(self._runner, self._decode, self._on_result)
        self._worker.start()
        self.create_timer(1.0 / p['control_rate_hz'], self._on_tick)
        self.create_timer(p['diagnostics_period'], self._publish_diagnostics)

    # -- inputs ---------------------------------------------------------------------------------
    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _on_image(self, msg) -> None:
        now = self._now()
        stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
        # A camera stamped with another clock (or not at all) would break latency compensation:
        # fall back to the arrival time.
        if stamp <= 0.0 or abs(now - stamp) > 1.0:
            stamp = now
        frame = Frame(msg, stamp, now)
        with self._lock:
            self._last_frame = frame
            self._stats['frames_received'] += 1
        if self._worker.put_frame(frame):
            with self._lock:
                self._stats['frames_skipped'] += 1

    def _decode(self, frame: Frame):
        msg = frame.msg
        if isinstance(msg, CompressedImage):
            return decode_compressed(msg.format, msg.data)
        return image_msg_to_rgb(msg)

    def _on_joint_states(self, msg: JointState) -> None:
        if len(msg.name) != len(msg.position):
            self.get_logger().warning('joint_states with name/position of different lengths ignored',
                                   throttle_duration_sec=5.0)
            return
        self._runner.update_joints({n: float(v) for n, v in zip(msg.name, msg.position) if math.isfinite(v)})

    def _on_safety_status(self, msg: SafetyStatus) -> None:
        stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
        if msg.state == SafetyStatus.ESTOP and 0.0 < stamp < self._runner.instruction_time:
            # an e-stop status decided before this instruction arrived (in flight across a reset):
            # it says nothing about the new instruction
            return
        self._safety_state, self._safety_stamp = msg.state, stamp
        if msg.state == SafetyStatus.ESTOP:
            following = self._runner.instruction
            if following:
                # both paths alike (the action path aborts its goal too): an e-stop ends the
                # instruction, so the reset finds the robot idle and waits for a new one
                self.get_logger().warning(f"emergency stop: instruction '{following}' dropped; send a new one "
                                          'after vla/reset_estop')
                self._set_instruction('')

    def _on_command(self, msg: String) -> None:
        try:
            text = clean_instruction(msg.data, self._p['max_instruction_length'])
        except InstructionError as exc:
            with self._lock:
                self._stats['commands_rejected'] += 1
            self.get_logger().error(f'command rejected, stopping: {exc}')
            self._set_instruction('')
            return
        self.get_logger().info(f"new instruction: '{text}'" if text else 'empty command: stopping')
        self._set_instruction(text)

    def _set_instruction(self, text: str) -> int:
        return self._worker.set_instruction(text, self._now())

    def _on_stop(self, request, response):
        self._set_instruction('')
        response.success = True
        response.message = 'instruction cleared; the robot is told to stand still'
        self.get_logger().info('stop requested: instruction cleared')
        return response

    def _on_params(self, changes: dict) -> None:
        self._p.update(changes)

    # -- worker callback (worker thread) ---------------------------------------------------------
    _ERROR_COUNTER = {'decode': 'frames_rejected', 'non_finite': 'non_finite'}

    def _on_result(self, r: CallResult, problem: str | None) -> None:
        if problem == 'stale':
            return  # computed for an instruction that has since changed
        if r.error_kind:
            key = self._ERROR_COUNTER.get(r.error_kind, 'policy_errors')
            with self._lock:
                self._stats[key] += 1
                self._last_error = f'{r.error_kind}: {r.error}'
            self.get_logger().error(f'{r.error_kind} error, no action from this frame: {r.error}',
                                    throttle_duration_sec=2.0)
            return
        with self._lock:
            self._stats['inferences'] += 1
            self._latency.add(r.inference_time)
            if problem:   # wrong action dimension, confidence outside 0..1, ...
                self._stats['policy_errors'] += 1
                self._last_error = problem
        if problem:
            self.get_logger().error(problem, throttle_duration_sec=2.0)
        elif r.output.done:
            self.get_logger().info(f"policy reports '{r.instruction}' done")

    # -- control loop -----------------------------------------------------------------------------
    def _on_tick(self) -> None:
        waiters, self._tick_waiters = self._tick_waiters, []
        for fut in waiters:
            fut.set_result(None)
        now = self._now()
        self._rate.tick(time.monotonic())
        tick = self._worker.tick(now)
        with self._lock:
            self._stats['ticks'] += 1
            frame = self._last_frame
            if frame is None or now - frame.received > self._p['stale_image_timeout']:
                self._stats['ticks_stale'] += 1
                self._no_action_reason = ('no image received yet' if frame is None else
                                          f'newest image is {now - frame.received:.2f} s old')
                return
            if tick.instruction and tick.command is None:
                self._stats['ticks_no_action'] += 1
                self._no_action_reason = 'waiting for the policy' if self._stats['inferences'] == 0 \
                    else 'no fresh action chunk (policy slower than max_action_age?)'
                return
            self._sequence += 1
            seq = self._sequence
            self._stats['published'] += 1
            self._no_action_reason = ''
        idle_ee = ZERO_TWIST if self.embodiment.has_ee_twist else None
        c = tick.command
        if c is None:  # idle: stand still, hold the posture
            self._publish(frame.stamp, '', 0.0, ZERO_TWIST, (), (), 1.0, 0.0, seq, 0, 1, idle_ee)
            return
        cmd = c.command
        self._last_confidence = c.confidence
        self._publish(c.stamp, tick.instruction, tick.instruction_time, cmd.twist, cmd.joint_names,
                      cmd.joint_positions, c.confidence, c.inference_time, seq, c.chunk_index, c.chunk_length,
                      cmd.ee_twist)

    def _publish(self, stamp: float, instruction, instruction_time, twist, joint_names, joint_positions,
                 confidence, inference_time, seq, chunk_index, chunk_length, ee_twist=None) -> None:
        msg = VlaAction()
        sec = int(stamp)
        msg.header.stamp.sec, msg.header.stamp.nanosec = sec, int((stamp - sec) * 1e9)
        msg.header.frame_id = self._p['base_frame']
        msg.instruction = instruction
        sec = int(instruction_time)
        msg.instruction_stamp.sec, msg.instruction_stamp.nanosec = sec, int((instruction_time - sec) * 1e9)
        t = msg.twist
        t.linear.x, t.linear.y, t.linear.z, t.angular.x, t.angular.y, t.angular.z = (float(v) for v in twist)
        msg.joint_targets.header = msg.header
        msg.joint_targets.name = list(joint_names)
        msg.joint_targets.position = [float(v) for v in joint_positions]
        msg.confidence = float(confidence)
        msg.inference_time = float(inference_time)
        msg.policy_name = self.policy.name
        msg.sequence = seq
        msg.chunk_index = int(chunk_index)
        msg.chunk_length = int(chunk_length)
        if ee_twist is not None:
            msg.ee_twist.header.stamp = msg.header.stamp
            msg.ee_twist.header.frame_id = self.embodiment.ee_frame
            e = msg.ee_twist.twist
            e.linear.x, e.linear.y, e.linear.z, e.angular.x, e.angular.y, e.angular.z = (float(v) for v in ee_twist)
        self._action_pub.publish(msg)
        if self._ee_pub is not None and ee_twist is not None:
            self._ee_pub.publish(msg.ee_twist)
        self._twist_pub.publish(msg.twist)
        if joint_names:
            self._joint_pub.publish(msg.joint_targets)

    # -- action server ------------------------------------------------------------------------------
    def _on_goal(self, goal) -> GoalResponse:
        try:
            clean_instruction(goal.instruction, self._p['max_instruction_length'])
        except InstructionError as exc:
            self.get_logger().error(f'goal rejected: {exc}')
            return GoalResponse.REJECT
        if not (goal.timeout >= 0.0 and math.isfinite(goal.timeout)):
            self.get_logger().error(f'goal rejected: timeout {goal.timeout} is not a non-negative number')
            return GoalResponse.REJECT
        return GoalResponse.ACCEPT

    def _wait_tick(self) -> Future:
        """A future completed by the next control tick (the execute coroutine awaits it)."""
        fut = Future()
        self._tick_waiters.append(fut)
        return fut

    async def _execute(self, goal_handle):
        goal = goal_handle.request
        text = clean_instruction(goal.instruction, self._p['max_instruction_length'])
        generation = self._set_instruction(text)
        t_goal = self._runner.instruction_time
        self.get_logger().info(f"goal accepted: '{text}' (timeout {goal.timeout:.1f} s)")
        start = time.monotonic()
        result = ExecuteInstruction.Result()
        feedback = ExecuteInstruction.Feedback()
        while rclpy.ok():
            elapsed = time.monotonic() - start
            done = self._runner.done_generation == generation
            preempted = self._runner.generation != generation and not done
            if goal_handle.is_cancel_requested:
                self._set_instruction('')
                goal_handle.canceled()
                result.success, result.message = False, 'canceled: the robot is told to stand still'
                break
            if done:
                goal_handle.succeed()
                result.success, result.message = True, 'the policy reports the instruction done'
                break
            if self._safety_state == SafetyStatus.ESTOP and not 0.0 < self._safety_stamp < t_goal:
                if not preempted:
                    self._set_instruction('')
                goal_handle.abort()
                result.success, result.message = False, 'emergency stop latched'
                break
            if preempted:
                goal_handle.abort()
                result.success, result.message = False, 'preempted by a newer instruction'
                break
            if goal.timeout > 0.0 and elapsed >= goal.timeout:
                self._set_instruction('')
                stopped = self._safety_state >= SafetyStatus.STOP
                result.success = not stopped
                result.message = ('timeout reached while executing' if not stopped else
                                  'timeout reached while the safety node was stopping the robot')
                (goal_handle.succeed if result.success else goal_handle.abort)()
                break
            feedback.confidence = float(self._last_confidence) if math.isfinite(self._last_confidence) else 0.0
            feedback.elapsed = float(elapsed)
            feedback.safety_state = int(self._safety_state)
            goal_handle.publish_feedback(feedback)
            await self._wait_tick()
        result.final_state = int(self._safety_state)
        # the outcome in the node's log too: a client that went away (Ctrl-C on `ros2 action
        # send_goal` cancels, but some ros2cli versions then print an exception) never shows it
        self.get_logger().info(f"goal '{text}' ended: {result.message or 'shutting down'}")
        return result

    # -- diagnostics ------------------------------------------------------------------------------------
    def _publish_diagnostics(self) -> None:
        with self._lock:
            s = dict(self._stats)
            reason, err = self._no_action_reason, self._last_error
        instr = self._runner.instruction
        rate = self._rate.rate_hz
        values = {'instruction': instr or '(idle)', 'policy': self.policy.name,
                  'control_rate_hz': rate, 'control_period_p99_s': self._rate.period_p99,
                  'control_jitter_p99_s': self._rate.jitter_p99(1.0 / self._p['control_rate_hz']),
                  'inference_latency_p50_s': self._latency.percentile(50),
                  'inference_latency_p99_s': self._latency.percentile(99),
                  'call_lead_s': self._worker.estimate() + self._runner.config.call_margin,
                  'ticks_waited_for_call': self._worker.ticks_waited, 'ticks_call_late': self._worker.ticks_missed,
                  **s, 'last_error': err}
        if reason:
            level, message = diagnostics.WARN, f'no action published: {reason}'
        elif abs(rate - self._p['control_rate_hz']) > 0.1 * self._p['control_rate_hz']:
            level, message = diagnostics.WARN, f'control rate {rate:.1f} Hz off target'
        else:
            level, message = diagnostics.OK, 'publishing actions' if instr else 'idle'
        self._diag.publish(level, message, values)

    def destroy_node(self) -> None:
        if hasattr(self, '_worker'):          # absent when __init__ failed (a bad parameter)
            self._worker.stop()
        super().destroy_node()


def main(args=None) -> None:
    # The worker thread must start its call on time and get the GIL back between PyTorch ops while
    # the executor thread handles 30 frames a second: hand the GIL over every 1 ms, not every 5 ms.
    sys.setswitchinterval(0.001)
    run_node(InferenceNode, args, description=__doc__)


if __name__ == '__main__':
    main()
