"""joint_command_relay: JointState targets -> one std_msgs/Float64 topic per joint.

    ros2 run vla_bringup joint_command_relay --ros-args -p embodiment:=vla_humanoid

Why: vla_safety publishes the gated joint targets as one sensor_msgs/JointState (name + position)
on joint_commands. Gazebo's JointPositionController takes one gz.msgs.Double per joint, and
ros_gz_bridge converts message to message (a JointState cannot become per-joint Doubles). This
node splits each JointState into std_msgs/Float64 messages on ``joint/<name>/cmd_pos``, which
config/gz_bridge.yaml forwards to ``/model/vla_humanoid/joint/<name>/cmd_pos``.

Joints it relays: ``joint_names``, or, when that is empty, the commanded joints of
``embodiment``. Publishers exist from the start (the bridge matches them at once). Targets of
other joints are dropped with one warning per joint; a message whose name and position lengths
differ is dropped; non-finite targets are dropped. Stamps are not carried (Float64 has none);
the relay adds no delay of its own (it publishes from the subscription callback).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Sequence

from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64

from vla_common.joint_topics import JOINT_COMMAND_TOPIC_PATTERN, topic_for
from vla_common.params import ParamSpec, declare_params
from vla_common.qos import RELIABLE_QOS
from vla_common.run import run_node
from vla_core.embodiment import load_embodiment

PARAMS = [
    ParamSpec('joint_names', [], 'Joints to relay; empty = the commanded joints of embodiment',
              read_only=True, array_type='string_array'),
    ParamSpec('embodiment', 'vla_humanoid', 'Embodiment (bundled name or YAML path) whose joints are relayed '
              'when joint_names is empty', read_only=True),
    ParamSpec('topic_pattern', JOINT_COMMAND_TOPIC_PATTERN, 'Output topic per joint; {joint} is the joint name',
              read_only=True),
]


@dataclass(frozen=True)
class Split:
    """One JointState split per joint.

    targets:  joint -> position, for the relayed joints with a finite target (last one wins on repeats).
    unknown:  names that are not relayed.
    rejected: relayed joints whose target was NaN/Inf.
    error:    why the whole message was dropped, or None.
    """

    targets: dict[str, float]
    unknown: tuple[str, ...] = ()
    rejected: tuple[str, ...] = ()
    error: str | None = None


def split_joint_command(names: Sequence[str], positions: Sequence[float], joints: Iterable[str]) -> Split:
    """Split a JointState's (name, position) pairs into per-joint targets for ``joints``."""
    if len(names) != len(positions):
        return Split({}, error=f'name has {len(names)} entries but position has {len(positions)}')
    relayed = set(joints)
    targets: dict[str, float] = {}
    unknown: list[str] = []
    rejected: list[str] = []
    for name, pos in zip(names, positions):
        if name not in relayed:
            unknown.append(name)
        elif not math.isfinite(pos):
            rejected.append(name)
            targets.pop(name, None)
        else:
            targets[name] = float(pos)
    return Split(targets, tuple(unknown), tuple(rejected))


class JointCommandRelay(Node):

    def __init__(self, **kwargs) -> None:
        super().__init__('joint_command_relay', **kwargs)
        p = declare_params(self, PARAMS)
        joints = list(p['joint_names'])
        if not joints:
            joints = list(load_embodiment(p['embodiment']).joint_names)
        if not joints:
            raise SystemExit(f"joint_command_relay: embodiment '{p['embodiment']}' commands no joints "
                             'and joint_names is empty: nothing to relay')
        self.joints = tuple(joints)
        self._pubs = {j: self.create_publisher(Float64, topic_for(p['topic_pattern'], j), RELIABLE_QOS)
                      for j in self.joints}
        self._warned: set[str] = set()
        self.relayed = 0
        self.create_subscription(JointState, 'joint_commands', self._on_command, RELIABLE_QOS)
        self.get_logger().info(f'relaying joint_commands to {len(self.joints)} topics '
                               f"({topic_for(p['topic_pattern'], '<joint>')}): {', '.join(self.joints)}")

    def _on_command(self, msg: JointState) -> None:
        split = split_joint_command(msg.name, msg.position, self.joints)
        if split.error:
            self.get_logger().warning(f'joint_commands dropped: {split.error}', throttle_duration_sec=5.0)
            return
        new = (set(split.unknown) | set(split.rejected)) - self._warned
        if new:
            self._warned |= new
            self.get_logger().warning(f'joint_commands: not relaying {sorted(new)} (not a relayed joint, '
                                      'or a non-finite target)')
        for joint, value in split.targets.items():
            self._pubs[joint].publish(Float64(data=value))
        self.relayed += 1


def main(args=None) -> None:
    run_node(JointCommandRelay, args, description=__doc__)


if __name__ == '__main__':
    main()
