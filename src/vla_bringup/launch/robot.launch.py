"""Inference + safety for a real robot.

    ros2 launch vla_bringup robot.launch.py policy:=<name|checkpoint> cmd_vel_topic:=/base/cmd_vel

Arguments (see `ros2 launch vla_bringup robot.launch.py --show-args`) and the node set come from
vla_bringup.stack, which the launcher `vla_launch` uses too.
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction, SetEnvironmentVariable
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from vla_bringup.stack import SUITE_ARGUMENTS, middleware_env, suite_nodes


def _nodes(context):
    args = {k: LaunchConfiguration(k).perform(context) for k in SUITE_ARGUMENTS}
    return [Node(package=s.package, executable=s.executable, name=s.name, output='screen',
                 parameters=list(s.params_files) + [s.parameters], remappings=list(s.remappings))
            for s in suite_nodes(args)]


def generate_launch_description():
    return LaunchDescription(
        [DeclareLaunchArgument(k, default_value=d, description=h) for k, (d, h) in SUITE_ARGUMENTS.items()]
        + [SetEnvironmentVariable(k, v) for k, v in middleware_env().items()]
        + [OpaqueFunction(function=_nodes)])
