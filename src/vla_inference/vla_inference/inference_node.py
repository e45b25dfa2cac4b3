"""vla_inference: camera images + language commands in, VlaAction proposals out at a steady rate.

Wiring only: the PolicyRunner (vla_core.runner) turns frames and instructions into commands,
vla_inference.messages converts them, vla_inference.action_server serves vla/execute, and the
parameters are in vla_inference.params (config/inference_node.yaml).

Threads (why): the control timer must never wait for the policy, so the policy runs in a
RunnerThread of its own on the newest frame; the executor's callbacks only copy messages and
publish. The executor is single-threaded (a multi-threaded one spent about 40 % of the GIL
rebuilding wait sets, measured with py-spy), so the action server's execute callback is a
coroutine that awaits control ticks instead of sleeping. State shared with the worker is guarded
by one lock held only for copies.
"""
from __future__ import annotations

import math
import sys
import threading
import time

from geometry_msgs.msg import Twist, TwistStamped
from nav_msgs.msg import Odometry
from rclpy.node import Node
from sensor_msgs.msg import CompressedImage, Image, JointState, LaserScan
from std_msgs.msg import String
from std_srvs.srv import Trigger

from vla_common import diagnostics
from vla_common.params import add_validation, declare_params
from vla_common.qos import COMMAND_QOS, IMAGE_QOS, RELIABLE_QOS, SENSOR_QOS
from vla_common.run import run_node
from vla_core.embodiment import load_embodiment
from vla_core.runner import CallResult, PolicyRunner
from vla_core.runner_thread import Frame, RunnerThread
from vla_inference.action_server import ExecuteInstructionServer
from vla_inference.instruction import InstructionError, clean_instruction
from vla_inference.messages import Proposal, base_pose, frame_rgb, image_stamp, planar_scan, seconds, vla_action
from vla_inference.node_stats import NodeStats, diagnostics_report, tick_outcome
from vla_inference.params import PARAMS, RUNNER_PARAMS, runner_config
from vla_interfaces.msg import SafetyStatus, VlaAction
from vla_policy.registry import make_policy


#: inputs that time out: topic -> (timeout parameter, PolicyRunner method that takes it (None forgets
#: it), the Policy flag of policies that read it, what it is)
_TIMED_INPUTS = {'odom': ('odometry_timeout', 'update_base_pose', 'reads_odometry', 'odometry'),
                 'scan': ('scan_timeout', 'update_scan', 'reads_scan', 'range scan')}


class InferenceNode(Node):

    def __init__(self, **kwargs) -> None:
        super().__init__('vla_inference', **kwargs)
        p = declare_params(self, PARAMS)
        self._p = p
        add_validation(self, PARAMS, on_change=self._on_params, check=self._check_params)
        self.embodiment = load_embodiment(p['embodiment'])
        options = {} if p['policy_backend'] == 'torch' else {'backend': p['policy_backend']}
        self.policy = make_policy(p['policy'], self.embodiment, **options)
        torch = sys.modules.get('torch')      # only a policy that uses PyTorch loads it (keyword does not)
        if torch is not None and p['torch_threads'] > 0:
            torch.set_num_threads(p['torch_threads'])
        self.get_logger().info(f"policy '{p['policy']}' ({self.policy.name}) on embodiment "
                               f"'{self.embodiment.name}' ({self.embodiment.action_dim} action dims)")
        # words the checkpoint was not trained on, read as known ones (vla_policy.models.unknown_words)
        self._word_reader = getattr(getattr(self.policy, 'processor', None), 'reader', None)
        if self._word_reader is not None:
            self._word_reader.threshold = p['unknown_word_similarity']
            self.get_logger().info('words the policy was not trained on are read as known ones by all-MiniLM-L6-v2 '
                                   f"(unknown_word_similarity {p['unknown_word_similarity']})")

        self._lock = threading.Lock()    # the newest frame (the runner and the counters lock their own state)
        self._last_frame: Frame | None = None
        self._sequence = 0
        self.last_confidence = math.nan
        self.safety_state, self.safety_stamp = SafetyStatus.STOP, 0.0   # newest vla/safety_status (state, stamp)
        try:
            self.runner = PolicyRunner(self.policy, self.embodiment, runner_config(p))
        except ValueError as exc:           # e.g. an unknown instruction_vocabulary
            raise SystemExit(f'vla_inference: {exc}') from None
        vocab = self.runner.vocabulary
        self.get_logger().info(f"instructions checked against vocabulary '{vocab.name}' (vla_core.grounding)"
                               if vocab else 'instructions are not checked against a vocabulary')
        self._stats = NodeStats()   # for /diagnostics

        if p['use_compressed']:
            self.create_subscription(CompressedImage, 'camera/image_raw/compressed', self._on_image, IMAGE_QOS)
        else:
            self.create_subscription(Image, 'camera/image_raw', self._on_image, IMAGE_QOS)
        self.create_subscription(String, 'vla/command', self._on_command, COMMAND_QOS)
        self.create_subscription(JointState, 'joint_states', self._on_joint_states, SENSOR_QOS)
        # topic -> when its newest usable message was measured (its stamp), for the inputs that time out
        self._received: dict[str, float | None] = {'odom': None, 'scan': None}
        self.create_subscription(Odometry, 'odom', self._on_odometry, SENSOR_QOS)
        if self.policy.reads_scan:
            self.create_subscription(LaserScan, 'scan', self._on_scan, SENSOR_QOS)
        self.create_subscription(SafetyStatus, 'vla/safety_status', self._on_safety_status, RELIABLE_QOS)
        self._action_pub = self.create_publisher(VlaAction, 'vla/action', RELIABLE_QOS)
        self._twist_pub = self.create_publisher(Twist, 'vla/cmd_vel', RELIABLE_QOS)
        self._joint_pub = self.create_publisher(JointState, 'vla/joint_command', RELIABLE_QOS)
        self._ee_pub = (self.create_publisher(TwistStamped, 'vla/ee_twist', RELIABLE_QOS)
                        if self.embodiment.has_ee_twist else None)
        self.create_service(Trigger, 'vla/stop', self._on_stop)
        self._diag = diagnostics.DiagnosticsPublisher(self, 'inference', hardware_id=self.policy.name)
        self._actions = ExecuteInstructionServer(self, self, lambda: self._p['max_instruction_length'])

        ticks = self.runner.call_ticks
        self.get_logger().info('policy calls: ' + (f'every {ticks} control tick(s), phased to finish just before '
                                                   'the tick' if ticks else 'on every new frame'))
        self._reading_logged = ''
        self._stall_logged = None                     # the last stall logged (vla_core.progress.Stall)
        self._worker = RunnerThread(self.runner, frame_rgb, self._on_result)
        self._worker.start()
        self.create_timer(1.0 / p['control_rate_hz'], self._on_tick)
        self._diagnostics_timer = self.create_timer(p['diagnostics_period'], self._publish_diagnostics)

    # -- inputs ---------------------------------------------------------------------------------
    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _on_image(self, msg) -> None:
        now = self._now()
        frame = Frame(msg, image_stamp(msg.header.stamp, now), now)
        with self._lock:
            self._last_frame = frame
        self._stats.count('frames_received')
        if self._worker.put_frame(frame):
            self._stats.count('frames_skipped')

    def _on_joint_states(self, msg: JointState) -> None:
        if len(msg.name) != len(msg.position):
            self.get_logger().warning('joint_states with name/position of different lengths ignored',
                                   throttle_duration_sec=5.0)
            return
        self.runner.update_joints({n: float(v) for n, v in zip(msg.name, msg.position) if math.isfinite(v)})

    def _on_odometry(self, msg: Odometry) -> None:
        self._take('odom', base_pose(msg), msg.header.stamp, 'with a non-finite pose')

    def _on_scan(self, msg: LaserScan) -> None:
        self._take('scan', planar_scan(msg), msg.header.stamp, 'with no ranges or non-finite angles')

    def _take(self, topic: str, value, stamp, unusable: str) -> None:
        """Hand a converted message on ``topic`` (None: unusable, logged) to the runner if it is new
        enough; it is then the topic's newest measurement (its stamp; its arrival when unstamped or
        from the future)."""
        if value is None:
            self.get_logger().warning(f'{topic} {unusable} ignored', throttle_duration_sec=5.0)
            return
        now, t = self._now(), seconds(stamp)
        measured = t if 0.0 < t <= now else now
        timeout_param, update = _TIMED_INPUTS[topic][:2]
        if now - measured > self._p[timeout_param]:
            self.get_logger().warning(f'{topic} is {now - measured:.2f} s old ({timeout_param} '
                                      f'{self._p[timeout_param]:g} s): ignored', throttle_duration_sec=5.0)
            return
        self._received[topic] = measured
        getattr(self.runner, update)(value)

    def _check_inputs(self, now: float) -> None:
        """Odometry (a scan) older than odometry_timeout (scan_timeout) is forgotten: a policy that reads
        it is refused."""
        for topic, (timeout_param, forget, reads, what) in _TIMED_INPUTS.items():
            received = self._received[topic]
            if received is not None and now - received > self._p[timeout_param]:
                self._received[topic] = None
                getattr(self.runner, forget)(None)
                if getattr(self.policy, reads, False):
                    self.get_logger().warning(f"{what} on '{topic}' lost (the newest is {now - received:.2f} s old): "
                                              'the policy is refused (the robot holds) until it returns')

    def _on_safety_status(self, msg: SafetyStatus) -> None:
        stamp = seconds(msg.header.stamp)
        if msg.state == SafetyStatus.ESTOP and 0.0 < stamp < self.runner.instruction_time:
            # an e-stop status decided before this instruction arrived (in flight across a reset):
            # it says nothing about the new instruction
            return
        self.safety_state, self.safety_stamp = msg.state, stamp
        if msg.state == SafetyStatus.ESTOP:
            following = self.runner.instruction
            if following:
                # both paths alike (the action path aborts its goal too): an e-stop ends the
                # instruction, so the reset finds the robot idle and waits for a new one
                self.get_logger().warning(f"emergency stop: instruction '{following}' dropped; send a new one "
                                          'after vla/reset_estop')
                self.set_instruction('')

    def _on_command(self, msg: String) -> None:
        try:
            text = clean_instruction(msg.data, self._p['max_instruction_length'])
        except InstructionError as exc:
            self._stats.count('commands_rejected')
            self.get_logger().error(f'command rejected, stopping: {exc}')
            self.set_instruction('')
            return
        self.get_logger().info(f"new instruction: '{text}'" if text else 'empty command: stopping')
        self.set_instruction(text)

    def set_instruction(self, text: str) -> int:
        unknown = self.runner.unknown_references(text)
        if unknown:
            self._stats.count('instructions_refused')
            self.get_logger().warning(f"refusing '{text}': {', '.join(unknown)} (outside the vocabulary "
                                      f"'{self.runner.vocabulary.name}', or a negation the policy cannot follow: "
                                      "say what to do); confidence 0, the robot stands still")
        return self._worker.set_instruction(text, self._now())

    def _on_stop(self, request, response):
        self.set_instruction('')
        response.success = True
        response.message = 'instruction cleared; the robot is told to stand still'
        self.get_logger().info('stop requested: instruction cleared')
        return response

    def _check_params(self, changes: dict) -> str | None:
        """Refuse a set whose runner settings do not go together (or name an unknown vocabulary)."""
        if RUNNER_PARAMS.isdisjoint(changes):
            return None
        try:
            self.runner.parts(runner_config({**self._p, **changes}))
        except ValueError as exc:
            return str(exc)
        return None

    def _on_params(self, changes: dict) -> None:
        self._p.update(changes)
        if 'unknown_word_similarity' in changes:
            if self._word_reader is not None:
                self._word_reader.threshold = changes['unknown_word_similarity']
            else:
                self.get_logger().warning(f"unknown_word_similarity has no effect: policy '{self._p['policy']}' "
                                          'reads no unknown words (a seed_vla checkpoint with a vocabulary.json '
                                          'and MiniLM installed does)')
        if not RUNNER_PARAMS.isdisjoint(changes):      # from the next tick and call; the chunks are kept
            try:
                self.runner.reconfigure(runner_config(self._p))
            except Exception as exc:  # noqa: BLE001 - _check_params accepted it; a file changed since must not kill the node
                self.get_logger().error(f'runner settings {changes} not applied ({exc}); the previous ones stay')
                return
            ticks = self.runner.call_ticks
            self.get_logger().info(f'runner settings changed: {changes}; policy calls ' + (
                f'every {ticks} control tick(s)' if ticks else 'on every new frame'))
        torch = sys.modules.get('torch')
        if 'torch_threads' in changes and changes['torch_threads'] > 0 and torch is not None:
            torch.set_num_threads(changes['torch_threads'])
        if 'diagnostics_period' in changes:
            self._diagnostics_timer.cancel()
            self.destroy_timer(self._diagnostics_timer)
            self._diagnostics_timer = self.create_timer(changes['diagnostics_period'], self._publish_diagnostics)

    # -- worker callback (worker thread) ---------------------------------------------------------
    def _on_result(self, r: CallResult, problem: str | None) -> None:
        error = self._stats.result(r, problem)
        if error:
            self.get_logger().error(error, throttle_duration_sec=2.0)
        elif r.refused in ('no_odometry', 'no_scan'):
            topic, what = ('odom', 'odometry') if r.refused == 'no_odometry' else ('scan', 'range scan')
            self.get_logger().warning(f"no {what} on '{topic}': policy '{self._p['policy']}' reads it, so "
                                      f"'{r.instruction}' is refused (confidence 0) until it arrives",
                                      throttle_duration_sec=5.0)
        elif r.refused == 'no_progress' and problem is None and self.runner.stall is not self._stall_logged:
            self._stall_logged = stall = self.runner.stall    # once per stall
            self._stats.count('stalls')
            self.get_logger().warning(f"'{r.instruction}' stalled, {stall.describe() if stall else 'no progress'}: "
                                      f'refused (confidence 0: vla_safety holds the robot) for '
                                      f"{self._p['progress_window']:g} s, then the policy gets another window")
        elif problem is None and not r.error_kind and r.output.done:
            self.get_logger().info(f"policy reports '{r.instruction}' done")
        if r.instruction != self._reading_logged:    # once per instruction, after the call that read it
            self._reading_logged = r.instruction
            try:
                reading = self.runner.reading(r.instruction)      # cached by that call: no MiniLM run here
            except Exception:  # noqa: BLE001 - the policy's call reported the same error already
                reading = None
            if reading is not None and reading.replaced and not self.runner.unknown_references(r.instruction):
                self.get_logger().info(f"reading '{r.instruction}' as '{reading.text}': words the policy was not "
                                       f'trained on, read as ones it was ({reading.describe()})')

    # -- control loop -----------------------------------------------------------------------------
    def _on_tick(self) -> None:
        self._actions.on_tick()
        now = self._now()
        self._check_inputs(now)
        self._stats.rate.tick(time.monotonic())
        tick = self._worker.tick(now)
        with self._lock:
            frame = self._last_frame
        outcome, reason = tick_outcome(frame, tick, now, self._p['stale_image_timeout'],
                                       self._stats.counts['inferences'])
        self._stats.tick(outcome, reason)
        if reason:
            return
        self._sequence += 1
        seq = self._sequence
        if tick.command is None:  # idle: stand still, hold the posture
            self._publish(Proposal.idle(frame.stamp, self.embodiment.has_ee_twist), seq)
            return
        self.last_confidence = tick.command.confidence
        self._publish(Proposal.of_tick(tick), seq)

    def _publish(self, proposal: Proposal, seq: int) -> None:
        msg: VlaAction = vla_action(proposal, seq, self._p['base_frame'], self.policy.name, self.embodiment.ee_frame)
        self._action_pub.publish(msg)
        if self._ee_pub is not None and proposal.ee_twist is not None:
            self._ee_pub.publish(msg.ee_twist)
        self._twist_pub.publish(msg.twist)
        if proposal.joint_names:
            self._joint_pub.publish(msg.joint_targets)

    # -- diagnostics ------------------------------------------------------------------------------------
    def _publish_diagnostics(self) -> None:
        self._diag.publish(*diagnostics_report(self._stats, self._worker, self.runner.instruction, self.policy.name,
                                               self._p['control_rate_hz']))

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
