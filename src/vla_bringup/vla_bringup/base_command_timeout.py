"""base_command_timeout: forwards the gated base command and sends zeros once it stops coming.

    ros2 run vla_bringup base_command_timeout --ros-args -p cmd_vel_timeout:=0.3 -r cmd_vel_out:=/model/cmd_vel

Why: Gazebo's VelocityControl system (and many bases) hold the last twist they were sent. If
vla_safety dies, its zeros stop with it and such a base drives on. This relay, on the robot side
of the bridge, applies ros2_control's diff_drive_controller rule (``cmd_vel_timeout``): a command
older than ``cmd_vel_timeout`` (0.3 s) is replaced by a zero twist, republished at ``rate_hz`` until
commands come back. Each command is forwarded as it arrives (no added delay). The rule itself is
vla_common.command_timeout.TwistCommand, the one the embedded simulator node applies.
"""
from __future__ import annotations

from geometry_msgs.msg import Twist
from rclpy.clock import Clock, ClockType
from rclpy.node import Node

from vla_common.command_timeout import TwistCommand
from vla_common.params import ParamSpec, add_validation, declare_params
from vla_common.qos import RELIABLE_QOS
from vla_common.run import run_node

PARAMS = [
    ParamSpec('cmd_vel_timeout', 0.3, 'A command older than this (wall clock) is replaced by zeros, s '
              '(vla_safety publishes at least every 0.15 s)', 0.01, 60.0),
    ParamSpec('rate_hz', 20.0, 'Rate at which zeros are republished while commands are stale, Hz', 1.0, 200.0,
              read_only=True),
]


class BaseCommandTimeout(Node):

    def __init__(self, **kwargs) -> None:
        super().__init__('base_command_timeout', **kwargs)
        self.p = declare_params(self, PARAMS)
        add_validation(self, PARAMS, on_change=self.p.update)
        self._steady = Clock(clock_type=ClockType.STEADY_TIME)   # wall time, also under use_sim_time
        self._last = TwistCommand()
        self._stale_sent = False
        self._pub = self.create_publisher(Twist, 'cmd_vel_out', RELIABLE_QOS)
        self.create_subscription(Twist, 'cmd_vel', self._on_cmd_vel, RELIABLE_QOS)
        self.create_timer(1.0 / self.p['rate_hz'], self._on_timer, clock=self._steady)

    def _wall(self) -> float:
        return self._steady.now().nanoseconds * 1e-9

    def _on_cmd_vel(self, msg: Twist) -> None:
        self._last = TwistCommand(msg.linear.x, msg.linear.y, msg.angular.z, self._wall())
        if self._stale_sent:
            self.get_logger().info('base commands are back')
            self._stale_sent = False
        self._pub.publish(msg)

    def _on_timer(self) -> None:
        if self._last.stale(self._wall(), self.p['cmd_vel_timeout']):
            if not self._stale_sent:
                self.get_logger().warning(f"no base command for {self.p['cmd_vel_timeout']} s: sending zeros")
            self._stale_sent = True
            self._pub.publish(Twist())


def main(args=None) -> None:
    run_node(BaseCommandTimeout, args, description=__doc__)


if __name__ == '__main__':
    main()
