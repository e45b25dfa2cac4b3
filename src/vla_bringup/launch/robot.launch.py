"""Inference + safety for a real robot.

    ros2 launch vla_bringup robot.launch.py policy:=<name|checkpoint> cmd_vel_topic:=/base/cmd_vel

Arguments (see `ros2 launch vla_bringup robot.launch.py --show-args`) and the node set come from
vla_bringup.stack, which the launcher `vla_launch` uses too.
"""
from launch import LaunchDescription
from launch.actions import OpaqueFunction

from vla_bringup.launch_helpers import argument_values, declare_arguments, middleware_actions, node_from_spec
from vla_bringup.stack import SUITE_ARGUMENTS, suite_nodes


def _nodes(context):
    return [node_from_spec(s) for s in suite_nodes(argument_values(context, SUITE_ARGUMENTS))]


def generate_launch_description():
    return LaunchDescription(declare_arguments(SUITE_ARGUMENTS) + middleware_actions()
                             + [OpaqueFunction(function=_nodes)])
