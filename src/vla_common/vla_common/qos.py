"""QoS profiles used across the suite."""
import time

from rclpy.qos import (DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy,
                       qos_profile_sensor_data)

#: camera images: best effort, keep only the newest (a stale frame is worse than none)
IMAGE_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                       reliability=ReliabilityPolicy.BEST_EFFORT,
                       durability=DurabilityPolicy.VOLATILE)
#: other sensors (scan, point clouds): ROS's sensor-data profile
SENSOR_QOS = qos_profile_sensor_data
#: language commands: reliable + volatile, what `ros2 topic pub` offers by default. A
#: transient-local publisher matches it too, but nothing published before the subscriber existed
#: is delivered: a command sent before a (re)start never moves the robot after it. Publishers
#: that send right after starting must wait until the subscription is matched.
COMMAND_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10,
                         reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.VOLATILE)
#: state and commands between nodes
RELIABLE_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10,
                          reliability=ReliabilityPolicy.RELIABLE,
                          durability=DurabilityPolicy.VOLATILE)


def wait_for_subscribers(publisher, timeout: float, count: int = 1) -> bool:
    """Wait until ``publisher`` is matched with ``count`` subscriptions (the graph is updated by
    the middleware; no spinning needed). With volatile durability a message published before the
    match is lost, so a tool that starts and publishes at once waits here first."""
    deadline = time.monotonic() + timeout
    while publisher.get_subscription_count() < count:
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True
