"""What the launch files share: launch arguments from a table, and NodeSpecs as launch_ros Nodes.

Imports `launch` and `launch_ros`, so only launch files import it; stack.py stays free of them
for `vla_launch` (a wheel venv has no `launch`).
"""
from __future__ import annotations

from launch.actions import DeclareLaunchArgument, SetEnvironmentVariable
from launch.launch_context import LaunchContext
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from vla_bringup.stack import NodeSpec, middleware_env


def declare_arguments(arguments: dict[str, tuple[str, str]], defaults: dict[str, str] | None = None
                      ) -> list[DeclareLaunchArgument]:
    """DeclareLaunchArguments for a {name: (default, description)} table (e.g. SUITE_ARGUMENTS);
    ``defaults`` replaces some defaults (a simulator launch file defaults use_sim_time to true)."""
    defaults = defaults or {}
    unknown = set(defaults) - set(arguments)
    if unknown:
        raise KeyError(f'defaults for undeclared arguments {sorted(unknown)}')
    return [DeclareLaunchArgument(k, default_value=str(defaults.get(k, d)), description=h)
            for k, (d, h) in arguments.items()]


def middleware_actions() -> list[SetEnvironmentVariable]:
    """Apply the suite's Fast DDS profile to every process of the launch (stack.middleware_env)."""
    return [SetEnvironmentVariable(k, v) for k, v in middleware_env().items()]


def argument_values(context: LaunchContext, names) -> dict[str, str]:
    """The resolved values of the launch arguments ``names``."""
    return {k: LaunchConfiguration(k).perform(context) for k in names}


def is_true(text: str) -> bool:
    return str(text).strip().lower() in ('1', 'true', 'yes', 'on')


def node_from_spec(spec: NodeSpec, **kwargs) -> Node:
    """The launch_ros Node for ``spec``: its params files, then its parameter overrides, then its remappings."""
    if spec.respawn:
        kwargs = {'respawn': True, 'respawn_delay': spec.respawn_delay, **kwargs}
    return Node(package=spec.package, executable=spec.executable, name=spec.name, output='screen',
                parameters=list(spec.params_files) + [spec.parameters], remappings=list(spec.remappings),
                **kwargs)
