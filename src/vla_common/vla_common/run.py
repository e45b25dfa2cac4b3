"""`main()` of the suite's nodes: command line, init, spin, and an orderly shutdown in every case."""
from __future__ import annotations

import argparse
import os
import sys
from typing import Callable, Sequence

import rclpy
from rclpy.exceptions import ParameterException
from rclpy.executors import Executor, ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.utilities import remove_ros_args

ROS_ARGS_HELP = """\
ROS arguments (after --ros-args):
  -p NAME:=VALUE        set a parameter
  --params-file FILE    read parameters from a YAML file
  -r FROM:=TO           remap a topic, or rename the node (-r __node:=NAME)
  --log-level LEVEL     debug, info, warn, error or fatal

Each parameter's description and range: `ros2 param describe <node> <name>` while it runs."""


def node_arg_parser(description: str, prog: str) -> argparse.ArgumentParser:
    """The command line of a node: no options of its own besides -h, everything else is
    ROS arguments. ``description`` is the node module's docstring (its first paragraph is shown)."""
    return argparse.ArgumentParser(prog=prog, usage=f'{prog} [-h] [--ros-args ...]',
                                   description=description.strip().split('\n\n')[0],
                                   epilog=ROS_ARGS_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)


def parse_node_args(description: str, args: Sequence[str] | None = None) -> None:
    """Handle a node's own command line (``args`` as ``sys.argv``: program first) before rclpy
    starts: -h/--help prints the usage and exits 0; an argument outside ``--ros-args`` (e.g. a
    forgotten ``--ros-args`` before ``-p``) exits 2 with the usage, instead of being ignored."""
    argv = list(sys.argv if args is None else args)
    node_arg_parser(description, _prog(argv)).parse_args(remove_ros_args(argv)[1:])


def run_node(make_node: Callable[[], Node], args=None,
             make_executor: Callable[[], Executor] = SingleThreadedExecutor, *, description: str = '') -> None:
    """Spin the node ``make_node()`` until Ctrl-C or shutdown, then shut the executor down,
    destroy the node (its destroy_node stops any threads it owns) and shut rclpy down.
    ``--help`` prints a usage built from ``description`` and returns before anything starts."""
    parse_node_args(description, args)
    rclpy.init(args=args)
    node = None
    exit_code = 0
    executor = make_executor()
    try:
        node = make_node()
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except (ParameterException, ValueError) as exc:
        if node is not None:
            raise
        # a bad parameter: one line that says which and why, not a traceback
        print(f'{_prog(args)}: not started: {exc}', file=sys.stderr)
        exit_code = 2
    finally:
        executor.shutdown()
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    if exit_code:
        sys.exit(exit_code)


def _prog(args: Sequence[str] | None) -> str:
    argv = list(sys.argv if args is None else args)
    return os.path.basename(argv[0]) if argv else 'node'
