"""Per-joint command topics: where one joint's target goes when a robot takes one topic per joint.

vla_bringup's joint_command_relay publishes one std_msgs/Float64 per joint on these topics, and
vla_bringup's Gazebo bringup (gazebo_humanoid.launch.py, config/gz_bridge.yaml) bridges them to
Gazebo's JointPositionController. Both read the rule here. Plain Python (no rclpy).
"""
from __future__ import annotations

#: the relay's default output topic per joint, and the ROS name of each joint in config/gz_bridge.yaml
JOINT_COMMAND_TOPIC_PATTERN = 'joint/{joint}/cmd_pos'


def topic_for(pattern: str, joint: str) -> str:
    """Output topic of ``joint`` (``pattern`` must contain '{joint}')."""
    if '{joint}' not in pattern:
        raise ValueError(f"topic_pattern '{pattern}' must contain '{{joint}}'")
    return pattern.replace('{joint}', joint)
