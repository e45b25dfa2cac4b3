"""synthetic_camera: publishes camera frames without a camera, for bring-up and benchmarks.

    ros2 run vla_tools synthetic_camera --ros-args -p width:=640 -p height:=480 -p rate_hz:=30.0

Frames are a moving colour pattern in rgb8 on camera/image_raw (sensor-data QoS), stamped
with the publish time; `published` is logged at exit so receivers can count losses. With
``wait_for_subscribers`` the first frame waits until that many subscriptions have matched.
"""
from __future__ import annotations

import numpy as np
import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from sensor_msgs.msg import Image

from vla_common.params import ParamSpec, declare_params
from vla_common.qos import IMAGE_QOS
from vla_common.run import parse_node_args

PARAMS = [
    ParamSpec('width', 640, 'Image width, px', 1, 8192, read_only=True),
    ParamSpec('height', 480, 'Image height, px', 1, 8192, read_only=True),
    ParamSpec('rate_hz', 30.0, 'Frame rate, Hz', 0.1, 1000.0, read_only=True),
    ParamSpec('frame_id', 'head_camera_optical_frame', 'frame_id of the images', read_only=True),
    ParamSpec('max_frames', 0, 'Stop after this many frames (0 = never)', 0, 10**9, read_only=True),
    ParamSpec('wait_for_subscribers', 0, 'Publish no frame until this many subscriptions have matched (a '
              'benchmark counts every frame; those sent before discovery completes reach nobody)', 0, 100,
              read_only=True),
]


class SyntheticCamera(Node):

    def __init__(self, **kwargs) -> None:
        super().__init__('synthetic_camera', **kwargs)
        self.p = declare_params(self, PARAMS)
        self.pub = self.create_publisher(Image, 'camera/image_raw', IMAGE_QOS)
        h, w = self.p['height'], self.p['width']
        yy, xx = np.mgrid[0:h, 0:w]
        self._base = np.stack([(xx * 255 // max(w - 1, 1)), (yy * 255 // max(h - 1, 1)),
                               np.full_like(xx, 128)], axis=-1).astype(np.uint8)
        self.published = 0
        self.done = False
        self.create_timer(1.0 / self.p['rate_hz'], self._tick)

    def _tick(self) -> None:
        if self.p['max_frames'] and self.published >= self.p['max_frames']:
            self.done = True
            return
        if self.published == 0 and self.pub.get_subscription_count() < self.p['wait_for_subscribers']:
            return
        frame = np.roll(self._base, self.published * 4, axis=1)
        msg = Image(height=frame.shape[0], width=frame.shape[1], encoding='rgb8', is_bigendian=0,
                    step=frame.shape[1] * 3, data=frame.tobytes())
        msg.header.frame_id = self.p['frame_id']
        msg.header.stamp = self.get_clock().now().to_msg()
        self.pub.publish(msg)
        self.published += 1


def main(args=None) -> None:
    parse_node_args(__doc__, args)
    rclpy.init(args=args)
    node = SyntheticCamera()
    try:
        while rclpy.ok() and not node.done:
            rclpy.spin_once(node, timeout_sec=0.1)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        print(f'synthetic_camera published {node.published}', flush=True)
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == '__main__':
    main()
