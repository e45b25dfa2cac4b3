"""ROS 2 node ``recorder``: record demonstrations from live topics into the dataset format.

    ros2 run vla_learning recorder --ros-args -p dataset_dir:=data/teleop -p task_name:=walk_to

Records, at ``record_rate_hz`` from its own timer, the camera (``camera/image_raw``), the
instruction (``vla/command``), the measured joints (``joint_states``), the odometry (``odom``),
with ``range_sectors`` the lidar (``scan``, as the nearest range per sector) and the commands sent to the robot (``cmd_vel``, ``joint_commands``), e.g. while a person
teleoperates. A new instruction
starts an episode; an empty one ("stop") or another instruction ends it; ``~/end_episode`` ends
it too. Finished episodes are appended to ``dataset_dir`` (created if missing); meta/ is
rewritten on every episode, so the dataset is readable while recording goes on.

All the logic is :class:`vla_learning.recording.EpisodeRecorder` (pure, tested without ROS);
this file only converts messages and time.

| parameter | default | unit | meaning |
|---|---|---|---|
| dataset_dir | data/recorded | | dataset directory (LeRobot v3 layout) |
| embodiment | vla_humanoid | | action/state layout (bundled name or YAML path) |
| image_size | 64 | px | stored frames are resized to this square |
| record_rate_hz | 10.0 | Hz | frames per second |
| stale_image_timeout | 0.5 | s | no frame is recorded from an older image |
| command_timeout | 0.5 | s | an older cmd_vel is recorded as zero |
| min_episode_frames | 5 | frames | shorter episodes are dropped |
| task_name | '' | | written to the episodes' task_name column (e.g. walk_to) |
| range_sectors | 0 | sectors | record ``scan`` as the nearest range per sector (0 = not; as many as the model's) |
"""
from __future__ import annotations

import threading

from geometry_msgs.msg import Twist
from nav_msgs.msg import Odometry
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from sensor_msgs.msg import Image, JointState, LaserScan
from std_msgs.msg import String
from std_srvs.srv import Trigger

from vla_common.image_conversion import ImageDecodeError, image_msg_to_rgb
from vla_common.qos import COMMAND_QOS, IMAGE_QOS, RELIABLE_QOS, SENSOR_QOS
from vla_inference.messages import base_pose, planar_scan
from vla_common.run import run_node
from vla_learning.recording import EpisodeRecorder, RecorderConfig, make_writer, twist_tuple
from vla_core.embodiment import load_embodiment


class RecorderNode(Node):
    def __init__(self) -> None:
        super().__init__('recorder')

        def p(name, default, desc, rng=None):
            d = ParameterDescriptor(description=desc)
            if isinstance(rng, tuple) and isinstance(default, float):
                d.floating_point_range = [FloatingPointRange(from_value=rng[0], to_value=rng[1], step=0.0)]
            elif isinstance(rng, tuple):
                d.integer_range = [IntegerRange(from_value=rng[0], to_value=rng[1], step=1)]
            return self.declare_parameter(name, default, d).value

        self.dataset_dir = p('dataset_dir', 'data/recorded', 'dataset directory (LeRobot v3 layout)')
        embodiment = load_embodiment(p('embodiment', 'vla_humanoid', 'embodiment name or YAML path'))
        image_size = p('image_size', 64, 'stored frames are resized to this square, px', (16, 512))
        rate = p('record_rate_hz', 10.0, 'frames per second', (0.5, 100.0))
        config = RecorderConfig(image_size=image_size,
                                stale_image_s=p('stale_image_timeout', 0.5, 'no frame from an older image, s',
                                                (0.01, 10.0)),
                                command_timeout_s=p('command_timeout', 0.5, 'older cmd_vel counts as zero, s',
                                                    (0.01, 10.0)),
                                min_frames=p('min_episode_frames', 5, 'shorter episodes are dropped', (1, 100000)),
                                range_sectors=p('range_sectors', 0, 'record the scan (sensor_msgs/LaserScan) as the '
                                                'nearest range in this many sectors, for a model with as many '
                                                'model.range_sectors; 0 = not', (0, 64)))
        task_name = p('task_name', '', 'written to the task_name column of each episode')
        self._writer = make_writer(self.dataset_dir, embodiment, image_size, config.range_sectors)
        self._lock = threading.Lock()     # the recorder is touched from the subscription and timer groups
        self._rec = EpisodeRecorder(embodiment, self._write, config, task_name)

        # Subscriptions and the timer are in separate groups so a slow image conversion never
        # delays a tick; the lock serialises access to the recorder.
        inputs, clock = MutuallyExclusiveCallbackGroup(), MutuallyExclusiveCallbackGroup()
        self.create_subscription(Image, 'camera/image_raw', self._on_image, IMAGE_QOS, callback_group=inputs)
        self.create_subscription(String, 'vla/command', self._on_command, COMMAND_QOS, callback_group=inputs)
        self.create_subscription(JointState, 'joint_states', self._on_joints, SENSOR_QOS, callback_group=inputs)
        self.create_subscription(Odometry, 'odom', self._on_odometry, SENSOR_QOS, callback_group=inputs)
        if config.range_sectors:
            self.create_subscription(LaserScan, 'scan', self._on_scan, SENSOR_QOS, callback_group=inputs)
        self.create_subscription(Twist, 'cmd_vel', self._on_twist, RELIABLE_QOS, callback_group=inputs)
        self.create_subscription(JointState, 'joint_commands', self._on_joint_cmd, RELIABLE_QOS,
                                 callback_group=inputs)
        self.create_service(Trigger, '~/end_episode', self._on_end, callback_group=inputs)
        self.create_timer(1.0 / rate, self._tick, callback_group=clock)
        self.get_logger().info(f'recording into {self.dataset_dir} at {rate:g} Hz')

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _write(self, episode) -> None:
        idx = self._writer.add_episode(episode)
        self._writer.close(val_fraction=0.0)      # meta/ up to date after every episode
        self.get_logger().info(f"episode {idx}: {len(episode.images)} frames, '{episode.instruction}'")

    def _on_image(self, msg) -> None:
        try:
            rgb = image_msg_to_rgb(msg)
        except ImageDecodeError as exc:
            self.get_logger().warning(f'image rejected: {exc}', throttle_duration_sec=5.0)
            return
        with self._lock:
            self._rec.on_image(rgb, self._now())

    def _on_command(self, msg) -> None:
        with self._lock:
            self._rec.on_instruction(msg.data, self._now())

    def _on_joints(self, msg) -> None:
        with self._lock:
            self._rec.on_joint_states(msg.name, msg.position)

    def _on_odometry(self, msg) -> None:
        with self._lock:
            self._rec.on_odometry(base_pose(msg))

    def _on_scan(self, msg) -> None:
        with self._lock:
            self._rec.on_scan(planar_scan(msg))

    def _on_twist(self, msg) -> None:
        with self._lock:
            self._rec.on_cmd_vel(twist_tuple(msg), self._now())

    def _on_joint_cmd(self, msg) -> None:
        with self._lock:
            self._rec.on_joint_command(msg.name, msg.position)

    def _on_end(self, request, response):
        with self._lock:
            before = self._rec.episodes_written
            self._rec.finish()
            response.success = self._rec.episodes_written > before
        response.message = 'episode written' if response.success else 'no episode open (or too short)'
        return response

    def _tick(self) -> None:
        with self._lock:
            self._rec.tick(self._now())

    def destroy_node(self) -> None:
        if hasattr(self, '_rec'):               # absent when __init__ failed (a bad parameter)
            with self._lock:
                self._rec.finish()
        super().destroy_node()


def main(args=None) -> None:
    run_node(RecorderNode, args, lambda: MultiThreadedExecutor(num_threads=2), description=__doc__)


if __name__ == '__main__':
    main()
