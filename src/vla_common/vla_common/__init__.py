"""ROS 2 helpers shared by the VLA suite's nodes.

stats: plain Python (no ROS). params, diagnostics, qos: thin rclpy helpers.
"""
