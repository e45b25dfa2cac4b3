"""Helpers shared by the VLA suite's nodes.

Plain Python (no rclpy): stats (rolling percentiles, rate meter), image_conversion
(sensor_msgs/Image <-> numpy, every ROS encoding the suite takes, strict validation),
image_compressed (JPEG/PNG sensor_msgs/CompressedImage -> numpy), image_resize (OpenCV resizing).
Thin rclpy helpers: params (typed parameters with ranges), diagnostics (/diagnostics), qos.
"""
