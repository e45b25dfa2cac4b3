"""Fixtures for the workspace integration tests (real nodes over real DDS)."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

try:
    import rclpy  # noqa: F401
    from vla_interfaces.msg import VlaAction  # noqa: F401
    HAVE_ROS = True
    WHY = ''
except ImportError as exc:  # the workspace is not built / sourced
    HAVE_ROS = False
    WHY = f'ROS 2 workspace not sourced ({exc}); run scripts/test.sh'


def pytest_collection_modifyitems(config, items):
    if HAVE_ROS:
        return
    skip = pytest.mark.skip(reason=WHY)
    for item in items:
        if 'ros' in item.keywords:
            item.add_marker(skip)


def pytest_configure(config):
    config.addinivalue_line('markers', 'ros: needs the built ROS 2 workspace (rclpy + vla_interfaces)')
