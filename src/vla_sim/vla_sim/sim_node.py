"""sim_node: the embedded MuJoCo simulator as a ROS 2 node, a stand-in for Gazebo + ros_gz_bridge.

    ros2 run vla_sim sim_node --ros-args -p seed:=3 -p camera_width:=320

Publishes what a Gazebo robot behind ros_gz_bridge would, stamped with simulated time:
camera/image_raw (rgb8) + camera/camera_info (ROS optical frame), optionally
camera/depth/image_raw (32FC1), scan (LaserScan), joint_states, odom (nav_msgs/Odometry,
odom -> base_footprint with the base's velocity in base_footprint, as a base driver or Gazebo's
OdometryPublisher publishes it; the embedded simulator's is exact), ground_truth_pose (odom
frame) and /clock. No /tf: tf2 is not on PyPI (a full ROS install's robot_state_publisher and
Gazebo provide it). Subscribes cmd_vel (Twist: linear.x, linear.y, angular.z) and joint_commands
(JointState: name + position targets for the head and arm joints).

Threads (why): one timer advances physics to keep pace with the wall clock and publishes the
sensors that are due. The node spins on a single-threaded executor: command callbacks are taken
between ticks (a tick takes 1-10 ms) and only write the newest command under a lock. rclpy's
MultiThreadedExecutor cost three times the CPU here and starved the physics thread of the GIL
(ticks late by up to 0.8 s, the simulation behind real time; see the README's demo figures).
The timer and the reset service share a mutually exclusive group, so the node stays correct on a
multi-threaded executor too. Frames are rendered on one dedicated thread, because an EGL
context can be current in only one thread and an executor may run the timer on any of its
threads. Timers run on the steady clock so the node works when use_sim_time is true (it is the
one that publishes /clock).

Time: the ~/reset service restarts simulated time at 0 (Gazebo's reset_simulation).
:meth:`SimNode.reset_world` keeps ROS time running (Gazebo's reset_world): /clock and the
stamps go on from where they were, so nodes on sim time never see time run backwards
(timers, message ages, vla_safety's "instruction received after" rule), while the simulator's
own time restarts at 0 as lockstep's does.
"""
from __future__ import annotations

import math
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from builtin_interfaces.msg import Time as TimeMsg
from geometry_msgs.msg import PoseStamped, Twist
from nav_msgs.msg import Odometry
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from rclpy.qos import QoSProfile
from rosgraph_msgs.msg import Clock as ClockMsg
from sensor_msgs.msg import CameraInfo, Image, JointState, LaserScan
from std_srvs.srv import Trigger

import vla_sim  # noqa: F401  (sets MUJOCO_GL before mujoco is imported)
from vla_common.run import run_node
from vla_common.params import ParamSpec, add_validation, declare_params
from vla_common.qos import IMAGE_QOS, RELIABLE_QOS
from vla_sim.model_builder import CAMERA_FRAME, LASER_FRAME, ModelConfig
from vla_common.command_timeout import TwistCommand
from vla_sim.realtime import RateSchedule, RealTimePacer
from vla_sim.scan import ScanConfig
from vla_sim.sim import HumanoidSim, SimConfig

PARAMS = [
    ParamSpec('seed', 0, 'World layout (objects, start pose); applied at start and on ~/reset', 0, 2**31 - 1),
    ParamSpec('real_time_factor', 1.0, 'Simulated seconds per wall-clock second', 0.05, 20.0),
    ParamSpec('update_rate', 100.0, 'Physics catch-up and /clock publications per wall-clock second, Hz',
              10.0, 1000.0, read_only=True),
    ParamSpec('camera_width', 320, 'Image width, px', 16, 640, read_only=True),
    ParamSpec('camera_height', 240, 'Image height, px', 16, 480, read_only=True),
    ParamSpec('camera_rate', 15.0, 'Camera frames per simulated second, Hz', 0.1, 60.0, read_only=True),
    ParamSpec('publish_depth', False, 'Also publish camera/depth/image_raw (32FC1, metres)', read_only=True),
    ParamSpec('scan_rate', 10.0, 'Lidar scans per simulated second, Hz', 0.1, 50.0, read_only=True),
    ParamSpec('scan_beams', 360, 'Beams per scan over 360 degrees', 8, 4096, read_only=True),
    ParamSpec('scan_range_max', 10.0, 'Lidar range, m', 0.5, 100.0, read_only=True),
    ParamSpec('scan_noise_std', 0.01, 'Gaussian lidar range noise, m', 0.0, 1.0, read_only=True),
    ParamSpec('joint_state_rate', 50.0, 'joint_states and ground_truth_pose per simulated second, Hz',
              1.0, 500.0, read_only=True),
    ParamSpec('state_delay', 0.0, 'joint_states and odom are published this many simulated seconds after they '
              'are measured (stamped when measured), as a slow driver delivers them; for robustness checks, s',
              0.0, 2.0),
    ParamSpec('cmd_vel_timeout', 0.3, 'The base stops when no cmd_vel arrived for this long (wall clock), s; '
              '0 = keep the last command forever (Gazebo behaviour)', 0.0, 60.0),
    ParamSpec('camera_frame_id', CAMERA_FRAME, 'frame_id of images and camera_info', read_only=True),
    ParamSpec('laser_frame_id', LASER_FRAME, 'frame_id of scans', read_only=True),
    ParamSpec('odom_frame_id', 'odom', 'frame_id of odom and ground_truth_pose (the world frame)', read_only=True),
    ParamSpec('base_frame_id', 'base_footprint', "child_frame_id of odom (the base's frame, REP 105)",
              read_only=True),
]

CLOCK_QOS = QoSProfile(depth=10)   # reliable: matches rclpy's best-effort /clock subscription and reliable ones


@dataclass(frozen=True)
class SimNodeParams:
    seed: int
    real_time_factor: float
    update_rate: float
    camera_width: int
    camera_height: int
    camera_rate: float
    publish_depth: bool
    scan_rate: float
    scan_beams: int
    scan_range_max: float
    scan_noise_std: float
    joint_state_rate: float
    state_delay: float
    cmd_vel_timeout: float
    camera_frame_id: str
    laser_frame_id: str
    odom_frame_id: str
    base_frame_id: str


def stamp(t: float) -> TimeMsg:
    sec = int(math.floor(t))
    return TimeMsg(sec=sec, nanosec=min(int(round((t - sec) * 1e9)), 999_999_999))


class SimNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__('sim_node', **kwargs)
        self.p = SimNodeParams(**declare_params(self, PARAMS))
        add_validation(self, PARAMS, on_change=self._on_params)
        p = self.p
        scan = ScanConfig(n_beams=p.scan_beams, range_max=p.scan_range_max, noise_std=p.scan_noise_std)
        off = (max(640, p.camera_width), max(480, p.camera_height))
        self.sim = HumanoidSim(SimConfig(model=ModelConfig(offscreen_size=off), scan=scan))
        self._lock = threading.Lock()
        #: held while physics steps and sensors are read; in-process readers of the true state
        #: (a privileged expert, a task monitor) take it too
        self.state_lock = threading.RLock()
        self._twist = TwistCommand()
        self._joint_targets: dict[str, float] = {}
        self._warned: set[str] = set()
        self._late: deque = deque()      # (due ROS time, [(publisher, message)]) held back by state_delay
        self._steady = Clock(clock_type=ClockType.STEADY_TIME)
        self.pacer = RealTimePacer(self.sim.timestep, p.real_time_factor)
        self.intrinsics = self.sim.camera_intrinsics(p.camera_width, p.camera_height)
        self.published = {'camera': 0, 'scan': 0, 'joint_states': 0, 'odom': 0, 'clock': 0}
        self._muted: set[str] = set()
        self._gl = ThreadPoolExecutor(max_workers=1, thread_name_prefix='sim_render')
        self._epoch = 0.0        # ROS time at the simulator's time 0 (moves on at reset_world)

        physics = MutuallyExclusiveCallbackGroup()
        commands = MutuallyExclusiveCallbackGroup()
        self.clock_pub = self.create_publisher(ClockMsg, '/clock', CLOCK_QOS)
        self.image_pub = self.create_publisher(Image, 'camera/image_raw', IMAGE_QOS)
        self.info_pub = self.create_publisher(CameraInfo, 'camera/camera_info', RELIABLE_QOS)
        if p.publish_depth:
            self.depth_pub = self.create_publisher(Image, 'camera/depth/image_raw', IMAGE_QOS)
            self.depth_info_pub = self.create_publisher(CameraInfo, 'camera/depth/camera_info', RELIABLE_QOS)
        self.scan_pub = self.create_publisher(LaserScan, 'scan', RELIABLE_QOS)
        self.joint_pub = self.create_publisher(JointState, 'joint_states', RELIABLE_QOS)
        self.pose_pub = self.create_publisher(PoseStamped, 'ground_truth_pose', RELIABLE_QOS)
        self.odom_pub = self.create_publisher(Odometry, 'odom', RELIABLE_QOS)
        self.create_subscription(Twist, 'cmd_vel', self._on_cmd_vel, RELIABLE_QOS, callback_group=commands)
        self.create_subscription(JointState, 'joint_commands', self._on_joint_commands, RELIABLE_QOS,
                                 callback_group=commands)
        self.create_service(Trigger, '~/reset', self._on_reset, callback_group=physics)
        self._reset_world(p.seed)
        self.create_timer(1.0 / p.update_rate, self._tick, callback_group=physics, clock=self._steady)
        self.get_logger().info(
            f'world seed {p.seed}: {", ".join(self.sim.world.names)}; camera {p.camera_width}x{p.camera_height} '
            f'@ {p.camera_rate} Hz, scan @ {p.scan_rate} Hz, joint_states @ {p.joint_state_rate} Hz, '
            f'real-time factor {p.real_time_factor}')

    # -- parameters / services -------------------------------------------------------------------
    def _on_params(self, changes: dict) -> None:
        if 'real_time_factor' in changes:
            with self._lock:
                self.pacer.set_real_time_factor(float(changes['real_time_factor']), self._wall(), self.sim.time)
        kept = {k: v for k, v in changes.items() if k in ('seed', 'cmd_vel_timeout', 'real_time_factor', 'state_delay')}
        self.p = SimNodeParams(**{**self.p.__dict__, **kept})

    def _on_reset(self, request, response):
        self._reset_world(self.p.seed)
        response.success, response.message = True, f'world seed {self.p.seed}: {", ".join(self.sim.world.names)}'
        return response

    def _reset_world(self, seed: int | None, world=None, keep_clock: bool = False) -> None:
        with self._lock, self.state_lock:
            self._epoch = self._epoch + self.sim.time if keep_clock else 0.0
            self.sim.reset(seed, world=world)
            self._joint_targets.clear()
            self._twist = TwistCommand()
        p = self.p
        self._schedules = {'camera': RateSchedule(p.camera_rate), 'scan': RateSchedule(p.scan_rate),
                           'joints': RateSchedule(p.joint_state_rate)}
        self.pacer.restart(self._wall(), self.sim.time)

    def reset_world(self, world) -> None:
        """Replace the arena with ``world`` (a vla_sim.world.World, e.g. ``sample_world(seed)`` or an
        obstacle course in a test), robot at its start pose and at rest. ROS time keeps running
        (see the module docstring); ``self.sim.time`` restarts at 0."""
        self._reset_world(None, world, keep_clock=True)

    def ros_time(self) -> float:
        """The ROS time (s) of the current simulated instant: what /clock and the stamps carry.
        Call with ``state_lock`` held for a value consistent with ``self.sim``."""
        return self._epoch + self.sim.time

    #: sensors that :meth:`mute` can silence
    MUTABLE_SENSORS = ('camera', 'scan')

    def mute(self, sensor: str, muted: bool = True) -> None:
        """Stop (or restart) publishing ``sensor`` ('camera' or 'scan') while physics goes on: a
        stalled camera driver or a lidar dropout, for fault-injection tests and benchmarks."""
        if sensor not in self.MUTABLE_SENSORS:
            raise ValueError(f"cannot mute '{sensor}'; sensors: {', '.join(self.MUTABLE_SENSORS)}")
        with self._lock:
            (self._muted.add if muted else self._muted.discard)(sensor)

    def _wall(self) -> float:
        return time.monotonic()

    # -- commands (any thread) ---------------------------------------------------------------------
    def _on_cmd_vel(self, msg: Twist) -> None:
        with self._lock:
            self._twist = TwistCommand(msg.linear.x, msg.linear.y, msg.angular.z, self._wall())

    def _on_joint_commands(self, msg: JointState) -> None:
        if len(msg.position) != len(msg.name):
            self.get_logger().warning('joint_commands: name and position differ in length; ignored',
                                      throttle_duration_sec=5.0)
            return
        with self._lock:
            self._joint_targets.update(zip(msg.name, msg.position))

    # -- the loop ------------------------------------------------------------------------------------
    def _tick(self) -> None:
        with self._lock:
            twist = self._twist.current(self._wall(), self.p.cmd_vel_timeout)
            targets, self._joint_targets = self._joint_targets, {}
            slips = self.pacer.slips
            n = self.pacer.steps_due(self._wall(), self.sim.time)
        if self.pacer.slips != slips:
            self.get_logger().warning(f'physics fell more than {self.pacer.max_lag:g} s behind the wall clock '
                                      f'(slip {self.pacer.slips}): simulated time skips that backlog',
                                      throttle_duration_sec=5.0)
        with self.state_lock:
            self._step_and_publish(twist, targets, n)

    def _step_and_publish(self, twist, targets, n: int) -> None:
        sim = self.sim
        sim.set_base_twist(*twist)
        if targets:
            ignored = sim.set_joint_targets(targets)
            new = set(ignored) - self._warned
            if new:
                self._warned |= new
                self.get_logger().warning(f'joint_commands: ignoring {sorted(new)} (not a commanded joint of '
                                          f'this robot, or not finite)')
        if n == 0:
            return                       # simulated time is ahead of the wall clock: nothing new
        sim.step(n_steps=n)
        t = sim.time                     # the schedules run on the simulator's time ...
        now = self.ros_time()            # ... the messages carry ROS time
        self.clock_pub.publish(ClockMsg(clock=stamp(now)))
        self.published['clock'] += 1
        if self._schedules['joints'].due(t):
            self._publish_joints(now)
        while self._late and self._late[0][0] <= now + 1e-9:     # state_delay: what is due now
            for pub, msg in self._late.popleft()[1]:
                pub.publish(msg)
        muted = self._muted
        if self._schedules['scan'].due(t) and 'scan' not in muted:
            self._publish_scan(now)
        if self._schedules['camera'].due(t) and 'camera' not in muted:
            self._publish_camera(now)

    def _publish_joints(self, t: float) -> None:
        sim = self.sim
        msg = JointState()
        msg.header.stamp = stamp(t)
        msg.name = list(sim.joint_names)
        msg.position = list(sim.joint_positions().values())
        msg.velocity = list(sim.joint_velocities().values())
        msg.effort = list(sim.joint_efforts().values())
        late = [(self.joint_pub, msg)]
        self.published['joint_states'] += 1
        x, y, yaw = sim.base_pose()
        pose = PoseStamped()
        pose.header.stamp, pose.header.frame_id = stamp(t), self.p.odom_frame_id
        pose.pose.position.x, pose.pose.position.y = float(x), float(y)
        pose.pose.orientation.z, pose.pose.orientation.w = math.sin(yaw / 2), math.cos(yaw / 2)
        self.pose_pub.publish(pose)
        odom = Odometry()
        odom.header = pose.header
        odom.child_frame_id = self.p.base_frame_id
        odom.pose.pose = pose.pose
        vx, vy, wz = sim.base_twist()
        odom.twist.twist.linear.x, odom.twist.twist.linear.y, odom.twist.twist.angular.z = float(vx), float(vy), float(wz)
        late.append((self.odom_pub, odom))
        self.published['odom'] += 1
        if self.p.state_delay > 0:
            self._late.append((t + self.p.state_delay, late))
        else:
            for pub, m in late:
                pub.publish(m)

    def _publish_scan(self, t: float) -> None:
        c = self.sim.lidar.config
        msg = LaserScan()
        msg.header.stamp, msg.header.frame_id = stamp(t), self.p.laser_frame_id
        msg.angle_min, msg.angle_max, msg.angle_increment = c.angle_min, c.angle_max, c.angle_increment
        msg.time_increment, msg.scan_time = 0.0, 1.0 / self.p.scan_rate
        msg.range_min, msg.range_max = c.range_min, c.range_max
        msg.ranges = self.sim.scan().tolist()
        self.scan_pub.publish(msg)
        self.published['scan'] += 1

    def _camera_info(self, t: float) -> CameraInfo:
        k = self.intrinsics
        info = CameraInfo()
        info.header.stamp, info.header.frame_id = stamp(t), self.p.camera_frame_id
        info.width, info.height = k.width, k.height
        info.distortion_model = 'plumb_bob'
        info.d = [0.0] * 5
        info.k = k.K
        info.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
        info.p = k.P
        return info

    def _publish_camera(self, t: float) -> None:
        p = self.p
        rgb = self._gl.submit(self.sim.render, p.camera_width, p.camera_height).result()
        msg = Image()
        msg.header.stamp, msg.header.frame_id = stamp(t), p.camera_frame_id
        msg.height, msg.width = rgb.shape[:2]
        msg.encoding, msg.is_bigendian, msg.step = 'rgb8', 0, rgb.shape[1] * 3
        msg.data = rgb.tobytes()
        self.image_pub.publish(msg)
        info = self._camera_info(t)
        self.info_pub.publish(info)
        if p.publish_depth:
            depth = self._gl.submit(self.sim.render_depth, p.camera_width, p.camera_height).result()
            dmsg = Image()
            dmsg.header = msg.header
            dmsg.height, dmsg.width = depth.shape
            dmsg.encoding, dmsg.is_bigendian, dmsg.step = '32FC1', 0, depth.shape[1] * 4
            dmsg.data = depth.astype('<f4').tobytes()
            self.depth_pub.publish(dmsg)
            self.depth_info_pub.publish(info)
        self.published['camera'] += 1

    def destroy_node(self) -> None:
        gl = getattr(self, '_gl', None)          # absent when __init__ failed (e.g. a bad parameter)
        if gl is not None:
            gl.submit(self.sim.close).result()
            gl.shutdown()
        super().destroy_node()


def main(args=None) -> None:
    run_node(SimNode, args, description=__doc__)


if __name__ == '__main__':
    main()
