"""Helpers shared by the VLA suite's nodes.

Plain Python (no rclpy): stats (rolling percentiles, rate meter), image_conversion
(sensor_msgs/Image <-> numpy, every ROS encoding the suite takes, strict validation).
Thin rclpy helpers: params (typed parameters with ranges), diagnostics (/diagnostics), qos.
"""
