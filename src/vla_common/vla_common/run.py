"""`main()` of the suite's nodes: init, spin, and an orderly shutdown in every case."""
from __future__ import annotations

from typing import Callable

import rclpy
from rclpy.executors import Executor, ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node


def run_node(make_node: Callable[[], Node], args=None,
             make_executor: Callable[[], Executor] = SingleThreadedExecutor) -> None:
    """Spin the node ``make_node()`` until Ctrl-C or shutdown, then shut the executor down,
    destroy the node (its destroy_node stops any threads it owns) and shut rclpy down."""
    rclpy.init(args=args)
    node = None
    executor = make_executor()
    try:
        node = make_node()
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        executor.shutdown()
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
