"""Publish diagnostic_msgs/DiagnosticArray on /diagnostics without diagnostic_updater.

diagnostic_updater is not installable from PyPI; this is the small part of it the suite needs.
"""
from __future__ import annotations

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node

OK = DiagnosticStatus.OK
WARN = DiagnosticStatus.WARN
ERROR = DiagnosticStatus.ERROR
STALE = DiagnosticStatus.STALE


class DiagnosticsPublisher:
    """One status per call of :meth:`publish`, named '<node name>: <task>'."""

    def __init__(self, node: Node, task: str, hardware_id: str = '') -> None:
        self._node = node
        self._pub = node.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self._name = f'{node.get_name()}: {task}'
        self._hw = hardware_id or node.get_fully_qualified_name()

    def publish(self, level: int, message: str, values: dict) -> None:
        status = DiagnosticStatus(level=level if isinstance(level, bytes) else bytes([level]), name=self._name,
                                  message=message,
                                  hardware_id=self._hw)
        status.values = [KeyValue(key=str(k), value=_fmt(v)) for k, v in values.items()]
        arr = DiagnosticArray()
        arr.header.stamp = self._node.get_clock().now().to_msg()
        arr.status = [status]
        self._pub.publish(arr)


def _fmt(v) -> str:
    if isinstance(v, float):
        return f'{v:.4g}'
    return str(v)
