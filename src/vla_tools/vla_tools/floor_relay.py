"""floor_relay: the latency floor of a 10 Hz loop fed by a camera, for vla_benchmark.

    python -m vla_tools.floor_relay --ros-args -p rate_hz:=10.0

Republishes the header of the newest camera/image_raw frame (its stamp unchanged) on
vla_benchmark/floor (std_msgs/Header, reliable) on a timer of its own: what any node that acts on
the newest image at a fixed rate cannot beat. vla_benchmark measures arrival - stamp of these,
next to the stack's image -> gated command latency, and prints the ratio.
"""
from __future__ import annotations

from rclpy.node import Node
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from vla_common.params import ParamSpec, declare_params
from vla_common.qos import IMAGE_QOS, RELIABLE_QOS
from vla_common.run import run_node

PARAMS = [
    ParamSpec('rate_hz', 10.0, 'Rate of the republished stamps, Hz', 0.1, 1000.0, read_only=True),
]


class FloorRelay(Node):

    def __init__(self, **kwargs) -> None:
        super().__init__('floor_relay', **kwargs)
        p = declare_params(self, PARAMS)
        self._newest: Header | None = None
        self.create_subscription(Image, 'camera/image_raw', self._on_image, IMAGE_QOS)
        self._pub = self.create_publisher(Header, 'vla_benchmark/floor', RELIABLE_QOS)
        self.create_timer(1.0 / p['rate_hz'], self._tick)

    def _on_image(self, msg: Image) -> None:
        self._newest = msg.header

    def _tick(self) -> None:
        if self._newest is not None:
            self._pub.publish(self._newest)


def main(args=None) -> None:
    run_node(FloorRelay, args, description=__doc__)


if __name__ == '__main__':
    main()
