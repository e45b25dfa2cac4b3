"""The vla/execute action (vla_interfaces/action/ExecuteInstruction) of vla_inference.

A goal follows its instruction like a vla/command would, and ends: succeeded when the policy
reports the instruction done (or its timeout passes while the robot is not stopped), canceled on
request (the robot is told to stand still), aborted on an emergency stop, on a newer instruction,
when its timeout passes while vla_safety is stopping the robot, or when the base stalls (the
progress check, vla_core.progress: the odometry does not show the motion the proposals ask for;
the robot is told to stand still, as a navigation controller gives up a goal its progress checker
fails, and moves again only for a new goal or command). The executor is
single-threaded, so the execute callback is a coroutine that awaits control ticks (see
InferenceNode) instead of sleeping.
"""
from __future__ import annotations

import math
import time
from typing import Protocol

import rclpy
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.node import Node
from rclpy.task import Future

from vla_inference.instruction import InstructionError, clean_instruction
from vla_interfaces.action import ExecuteInstruction
from vla_interfaces.msg import SafetyStatus
from vla_core.runner import PolicyRunner


class Following(Protocol):
    """What the action needs of the node: its runner, the newest safety status and confidence."""

    runner: PolicyRunner
    safety_state: int
    safety_stamp: float
    last_confidence: float

    def set_instruction(self, text: str) -> int: ...


class ExecuteInstructionServer:
    """Serves vla/execute on ``node`` for the instructions that ``following`` follows."""

    def __init__(self, node: Node, following: Following, max_instruction_length) -> None:
        self._node = node
        self._following = following
        self._max_length = max_instruction_length      # () -> int, read at each goal (a live parameter)
        self._tick_waiters: list[Future] = []
        self._server = ActionServer(node, ExecuteInstruction, 'vla/execute', execute_callback=self._execute,
                                    goal_callback=self._on_goal, cancel_callback=lambda _: CancelResponse.ACCEPT)

    def on_tick(self) -> None:
        """Call at each control tick: the running goals look at their state again."""
        waiters, self._tick_waiters = self._tick_waiters, []
        for fut in waiters:
            fut.set_result(None)

    def _wait_tick(self) -> Future:
        fut = Future()
        self._tick_waiters.append(fut)
        return fut

    def _on_goal(self, goal) -> GoalResponse:
        try:
            clean_instruction(goal.instruction, self._max_length())
        except InstructionError as exc:
            self._node.get_logger().error(f'goal rejected: {exc}')
            return GoalResponse.REJECT
        if not (goal.timeout >= 0.0 and math.isfinite(goal.timeout)):
            self._node.get_logger().error(f'goal rejected: timeout {goal.timeout} is not a non-negative number')
            return GoalResponse.REJECT
        return GoalResponse.ACCEPT

    async def _execute(self, goal_handle):
        f = self._following
        runner = f.runner
        goal = goal_handle.request
        text = clean_instruction(goal.instruction, self._max_length())
        generation = f.set_instruction(text)
        t_goal = runner.instruction_time
        log = self._node.get_logger()
        log.info(f"goal accepted: '{text}' (timeout {goal.timeout:.1f} s)")
        start = time.monotonic()
        result = ExecuteInstruction.Result()
        feedback = ExecuteInstruction.Feedback()
        while rclpy.ok():
            elapsed = time.monotonic() - start
            done = runner.done_generation == generation
            preempted = runner.generation != generation and not done
            if goal_handle.is_cancel_requested:
                f.set_instruction('')
                goal_handle.canceled()
                result.success, result.message = False, 'canceled: the robot is told to stand still'
                break
            if done:
                goal_handle.succeed()
                result.success, result.message = True, 'the policy reports the instruction done'
                break
            if f.safety_state == SafetyStatus.ESTOP and not 0.0 < f.safety_stamp < t_goal:
                if not preempted:
                    f.set_instruction('')
                goal_handle.abort()
                result.success, result.message = False, 'emergency stop latched'
                break
            if preempted:
                goal_handle.abort()
                result.success, result.message = False, 'preempted by a newer instruction'
                break
            stall = runner.stall
            if stall is not None:
                f.set_instruction('')
                goal_handle.abort()
                result.success, result.message = False, f'stalled, {stall.describe()}'
                break
            if goal.timeout > 0.0 and elapsed >= goal.timeout:
                f.set_instruction('')
                stopped = f.safety_state >= SafetyStatus.STOP
                result.success = not stopped
                result.message = ('timeout reached while executing' if not stopped else
                                  'timeout reached while the safety node was stopping the robot')
                (goal_handle.succeed if result.success else goal_handle.abort)()
                break
            confidence = f.last_confidence
            feedback.confidence = float(confidence) if math.isfinite(confidence) else 0.0
            feedback.elapsed = float(elapsed)
            feedback.safety_state = int(f.safety_state)
            goal_handle.publish_feedback(feedback)
            await self._wait_tick()
        result.final_state = int(f.safety_state)
        # the outcome in the node's log too: a client that went away (Ctrl-C on `ros2 action
        # send_goal` cancels, but some ros2cli versions then print an exception) never shows it
        log.info(f"goal '{text}' ended: {result.message or 'shutting down'}")
        return result
