"""synthetic_camera over DDS: with wait_for_subscribers it sends no frame before a subscriber has
matched (a benchmark counts every frame it sends), then its first frames reach that subscriber."""
import os
import random
import time

import pytest


def test_the_first_frame_waits_for_the_subscriber_and_reaches_it():
    rclpy = pytest.importorskip('rclpy')
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import Image

    from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
    from vla_tools.synthetic_camera import SyntheticCamera

    os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
    ctx = Context()
    rclpy.init(context=ctx, domain_id=random.randint(1, 200))
    try:
        cam = SyntheticCamera(context=ctx, parameter_overrides=[
            Parameter('width', value=32), Parameter('height', value=24), Parameter('rate_hz', value=50.0),
            Parameter('wait_for_subscribers', value=1)])
        ex = SingleThreadedExecutor(context=ctx)
        ex.add_node(cam)
        end = time.monotonic() + 0.5
        while time.monotonic() < end:
            ex.spin_once(timeout_sec=0.02)
        assert cam.published == 0, 'frames sent with nobody subscribed'
        probe = Node('probe', context=ctx)
        got = []
        # a receiver that keeps every frame: best effort like the camera, with a deep queue. With
        # IMAGE_QOS's depth 1 (keep the newest) the camera's next tick, on this same executor, can
        # replace frame 0 before the probe takes it: 2 runs in 55 under load, and once in CI.
        counting_qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=50,
                                  reliability=ReliabilityPolicy.BEST_EFFORT,
                                  durability=DurabilityPolicy.VOLATILE)
        probe.create_subscription(Image, 'camera/image_raw', got.append, counting_qos)
        ex.add_node(probe)
        end = time.monotonic() + 10.0
        while time.monotonic() < end and len(got) < 5:
            ex.spin_once(timeout_sec=0.02)
        assert len(got) >= 5 and got[0].width == 32
        # the first frame sent is the first received (frame k is the pattern rolled by 4k columns)
        assert bytes(got[0].data) == cam._base.tobytes(), 'the first frame was lost'
        ex.shutdown()
        cam.destroy_node()
        probe.destroy_node()
    finally:
        rclpy.try_shutdown(context=ctx)
