"""Output adapters: how the gate's decision is laid out for the robot's controllers. No ROS imports.

vla_safety stays the only publisher to the robot; these only choose the message shape. The gating
and limits are the gate's (gate.step) and are the same for every shape.

API
    BASE_OUTPUTS = ('twist', 'twist_stamped')
        twist:          geometry_msgs/Twist on cmd_vel (Nav2 before enable_stamped_cmd_vel, Gazebo)
        twist_stamped:  geometry_msgs/TwistStamped, header.frame_id = base_frame, header.stamp =
                        the node's clock (diff_drive_controller since Jazzy)
    JOINT_OUTPUTS = ('joint_state', 'joint_trajectory', 'float64_multi_array')
        joint_state:          sensor_msgs/JointState: the decision's joints, names + positions
        joint_trajectory:     trajectory_msgs/JointTrajectory for joint_trajectory_controller: every
                              controller joint in controller_joints order, one point reached
                              after one control period
        float64_multi_array:  std_msgs/Float64MultiArray for forward_command_controller
                              (position_controllers/JointGroupPositionController): data[i] is the
                              target of controller_joints[i]
    OutputConfig(base_output, joint_output, controller_joints)   frozen; raises OutputConfigError
    order_joints(controller_joints, names, positions, commanded, measured, latched) -> OrderedJoints
    OutputConfigError(ValueError)

Joints a controller expects but the decision does not name (order_joints)
    Both joint_trajectory_controller (unless allow_partial_joints_goal) and
    forward_command_controller refuse a command that lacks one of their joints, so each command
    carries all of them. A joint the decision does not name gets, in this order:
      1. the gate's last commanded target for it (GateState.joint_targets): what the controller
         was last told, so re-sending it moves nothing;
      2. the position it was filled with before (``latched``), for joints the gate never
         commanded: a fill is taken from the measurement once and then repeated. Re-reading
         the measurement every tick would let an arm under load sag step by step (the
         controller's tracking error becomes the next target), the same reason the gate's own
         hold does not follow the measurement;
      3. the measured position (joint_states), which is then latched.
    A controller joint with none of these was never commanded and never measured: the command
    is withheld (not published) and the joint is reported as missing, rather than sending a
    made-up value. A decision that names none of the controller joints is not published either
    (as with joint_state: the controllers keep holding their last command).
    Decision joints the controller does not have are left out and reported (``unmapped``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping, Sequence

BASE_OUTPUTS = ('twist', 'twist_stamped')
JOINT_OUTPUTS = ('joint_state', 'joint_trajectory', 'float64_multi_array')
#: joint outputs that carry every controller joint, in controller_joints order
ORDERED_JOINT_OUTPUTS = ('joint_trajectory', 'float64_multi_array')


class OutputConfigError(ValueError):
    """The output parameters cannot work together; the message says how to fix them."""


@dataclass(frozen=True)
class OutputConfig:
    base_output: str = 'twist'
    joint_output: str = 'joint_state'
    #: the controller's joint order (its `joints` parameter); required by the ordered outputs
    controller_joints: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, 'controller_joints', tuple(self.controller_joints))
        problems = []
        if self.base_output not in BASE_OUTPUTS:
            problems.append(f"base_output '{self.base_output}' is not one of {list(BASE_OUTPUTS)}")
        if self.joint_output not in JOINT_OUTPUTS:
            problems.append(f"joint_output '{self.joint_output}' is not one of {list(JOINT_OUTPUTS)}")
        joints = self.controller_joints
        if any(not isinstance(j, str) or not j.strip() for j in joints):
            problems.append(f'controller_joints must be joint names, got {list(joints)}')
        repeated = sorted({j for j in joints if joints.count(j) > 1})
        if repeated:
            problems.append(f'controller_joints names {repeated} more than once')
        if self.ordered and not joints:
            problems.append(f"joint_output '{self.joint_output}' needs controller_joints: the controller's "
                            "joint order, as in its `joints` parameter (e.g. controller_joints:=[joint1, joint2] "
                            'or the launch argument controller_joints:=joint1,joint2)')
        if problems:
            raise OutputConfigError('invalid output parameters:\n  - ' + '\n  - '.join(problems))

    @property
    def ordered(self) -> bool:
        """True when every joint command carries all controller_joints in their order."""
        return self.joint_output in ORDERED_JOINT_OUTPUTS


@dataclass(frozen=True)
class OrderedJoints:
    """One decision's joint targets in a controller's order.

    positions: target of each controller joint in order, or () when nothing is to be published
               (``missing`` non-empty, or the decision names no controller joint).
    latched:   the fills from measurement to remember for the next call (order_joints' ``latched``).
    missing:   controller joints with no target, no previous command and no measurement.
    unmapped:  decision joints that are not controller joints (left out).
    """

    positions: tuple[float, ...]
    latched: Mapping[str, float] = field(default_factory=dict)
    missing: tuple[str, ...] = ()
    unmapped: tuple[str, ...] = ()

    @property
    def publish(self) -> bool:
        return bool(self.positions)


def order_joints(controller_joints: Sequence[str], names: Sequence[str], positions: Sequence[float],
                 commanded: Mapping[str, float], measured: Mapping[str, float],
                 latched: Mapping[str, float]) -> OrderedJoints:
    """The decision (``names``, ``positions``) as targets of every controller joint, in order.

    ``commanded``: the gate's last commanded target per joint; ``measured``: joint_states
    positions (non-finite ones are ignored); ``latched``: the previous result's ``latched``.
    See the module docstring for the order in which a joint without a decision target is filled.
    """
    decided = dict(zip(names, positions))
    wanted = set(controller_joints)
    unmapped = tuple(n for n in names if n not in wanted)
    new_latch = {j: v for j, v in latched.items() if j in wanted}
    if not any(j in decided for j in controller_joints):
        return OrderedJoints((), new_latch, (), unmapped)
    out: list[float] = []
    missing: list[str] = []
    for j in controller_joints:
        if j in decided:
            v = decided[j]
        elif j in commanded:
            v = commanded[j]
        elif j in new_latch:
            v = new_latch[j]
        else:
            m = measured.get(j)
            if m is None or not math.isfinite(m):
                missing.append(j)
                continue
            v = new_latch[j] = float(m)
        out.append(float(v))
    if missing:
        # nothing was sent: a measurement taken now is not latched (it was not commanded)
        return OrderedJoints((), {j: v for j, v in latched.items() if j in wanted}, tuple(missing), unmapped)
    return OrderedJoints(tuple(out), new_latch, (), unmapped)
