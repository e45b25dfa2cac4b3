"""The humanoid in Gazebo Harmonic, driven by the VLA suite through the safety gate.

    ros2 launch vla_bringup gazebo_humanoid.launch.py policy:=keyword                # with the GUI
    ros2 launch vla_bringup gazebo_humanoid.launch.py headless:=true policy:=keyword  # server only
    ros2 topic pub -1 -w 1 --qos-durability transient_local /vla/command std_msgs/msg/String "data: 'walk forward'"

What runs (ROS 2 Jazzy + Gazebo Harmonic + ros_gz):
  gz sim                  the world (worlds/vla_arena.sdf); headless:=true is `gz sim -s -r` with
                          headless rendering (EGL, no display), so the sensors still render
  robot_state_publisher   robot_description = vla_description's URDF + the Gazebo overlay of
                          vla_bringup.gazebo_description (camera, gpu_lidar, systems)
  ros_gz_sim create       spawns the model `vla_humanoid` from robot_description at (x, y, yaw)
  ros_gz_bridge           parameter_bridge with config/gz_bridge.yaml: /clock, camera image +
                          camera_info, scan, joint_states, odom (+ /tf) from Gazebo; cmd_vel and one
                          Float64 per commanded joint to Gazebo; remapped to the *_topic arguments
  joint_command_relay     splits vla_safety's JointState joint_commands into those per-joint
                          Float64 topics (a bridge converts one message into one message, so it
                          cannot do that itself)
  base_command_timeout    forwards vla_safety's cmd_vel to the bridge and sends zeros when it stops
                          for cmd_vel_timeout (0.3 s), as diff_drive_controller does: Gazebo's
                          VelocityControl holds the last twist, so a dead vla_safety would leave
                          the robot driving
  vla_inference, vla_safety   the suite (vla_bringup.stack.suite_nodes), with use_sim_time; the
                          gate gets the URDF's joint limits and the laser's pose in base_link
  rviz2                   with rviz:=true (fixed frame odom)

The base is velocity-controlled in the plane: Gazebo's VelocityControl system sets the model's
twist (linear.x, linear.y, angular.z) from cmd_vel every step. There is no balance controller and
no walking gait: gravity is off for the robot's links, so it glides at a fixed height with its
feet 5 mm above the floor (like vla_sim's planar base). Head and arm joints are position
controlled (JointPositionController, at up to the URDF velocity limits); the legs are held at 0.
Gazebo keeps the last cmd_vel; vla_safety never goes silent and sends zeros when it blocks, and
if it dies, base_command_timeout zeros the base (launch_ros respawns vla_safety and vla_inference).

Arguments: `ros2 launch vla_bringup gazebo_humanoid.launch.py --show-args`. The suite's arguments
(stack.SUITE_ARGUMENTS) are those of robot.launch.py, with use_sim_time defaulting to true and
embodiment to vla_humanoid. The embodiment's joints must have entries in config/gz_bridge.yaml.
"""
import math
import shutil
from pathlib import Path

import yaml
from launch import LaunchDescription
from launch.actions import ExecuteProcess, OpaqueFunction, Shutdown
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

from vla_bringup.gazebo_description import MODEL_NAME, GazeboConfig, commanded_joints, gazebo_urdf, laser_pose_in_base
from vla_bringup.launch_helpers import (argument_values, declare_arguments, is_true, middleware_actions,
                                        node_from_spec)
from vla_bringup.stack import SUITE_ARGUMENTS, override_parameters, share_dir, suite_nodes
from vla_common.joint_topics import JOINT_COMMAND_TOPIC_PATTERN, topic_for
from vla_description import read_urdf

#: launch arguments of this file besides the suite's: name -> (default, description)
GAZEBO_ARGUMENTS = {
    'world': ('', "SDF world for gz sim; '' = vla_bringup/worlds/vla_arena.sdf"),
    'headless': ('false', 'true: gz sim server only with headless rendering (-s -r --headless-rendering); '
                          'false: server + GUI'),
    'gz_verbosity': ('2', 'gz sim -v level (0 none .. 4 debug)'),
    'rviz': ('false', 'Start RViz (rviz2, fixed frame odom)'),
    'x': ('0.0', 'Spawn position x in the world, m'),
    'y': ('0.0', 'Spawn position y in the world, m'),
    'yaw': ('0.0', 'Spawn heading, rad'),
}
#: the suite's arguments with the defaults of a simulated humanoid
SUITE_DEFAULTS = {'use_sim_time': 'true', 'embodiment': MODEL_NAME}
#: joint_command_relay's output topics (config/gz_bridge.yaml's per-joint ROS names)
RELAY_TOPIC_PATTERN = JOINT_COMMAND_TOPIC_PATTERN


def bridge_config() -> Path:
    return share_dir('vla_bringup') / 'config' / 'gz_bridge.yaml'


def camera_info_topic(image_topic: str) -> str:
    """camera_info next to the image (image_transport's convention): a/b/image_raw -> a/b/camera_info."""
    head, _, _ = image_topic.rpartition('/')
    return f'{head}/camera_info' if head else 'camera_info'


def _check_bridged(joints, config_file: Path, gz_config: GazeboConfig) -> None:
    entries = yaml.safe_load(config_file.read_text()) or []
    to_gz = {(e.get('ros_topic_name'), e.get('gz_topic_name')) for e in entries if e.get('direction') == 'ROS_TO_GZ'}
    missing = [j for j in joints if (topic_for(RELAY_TOPIC_PATTERN, j), gz_config.topics.joint_command(j)) not in to_gz]
    if missing:
        raise RuntimeError(f'joints {missing} of the embodiment have no ROS_TO_GZ entry in {config_file}; add one '
                           f"per joint: ros_topic_name '{RELAY_TOPIC_PATTERN}', gz_topic_name "
                           f"'{gz_config.topics.joint_command('{joint}')}', std_msgs/msg/Float64 <-> gz.msgs.Double")


#: the topic between base_command_timeout and the bridge (the bridge's 'cmd_vel' is remapped to it)
BRIDGE_CMD_VEL = 'gz/cmd_vel'


def _launch_setup(context):
    if shutil.which('gz') is None:
        raise RuntimeError(
            "Gazebo's `gz` command is not on PATH. Install Gazebo Harmonic with ros_gz for your ROS "
            "distribution (e.g. `sudo apt install ros-jazzy-ros-gz`), or use the Docker image "
            "(docker/Dockerfile.gazebo). Without Gazebo, the embedded MuJoCo simulator runs the same "
            "loop: `bash scripts/demo.sh` or `ros2 run vla_sim sim_node`.")
    a = argument_values(context, list(SUITE_ARGUMENTS) + list(GAZEBO_ARGUMENTS))
    if a.get('base_output') not in ('', 'twist') or a.get('joint_output') not in ('', 'joint_state'):
        raise RuntimeError("the Gazebo humanoid takes vla_safety's default outputs (base_output:=twist, "
                           "joint_output:=joint_state): base_command_timeout and joint_command_relay read "
                           'Twist and JointState; the other adapters are for ros2_control robots')
    sim_time = is_true(a['use_sim_time'])
    world = a['world'] or str(share_dir('vla_bringup') / 'worlds' / 'vla_arena.sdf')
    gz_config = GazeboConfig()

    urdf = read_urdf()
    joints = commanded_joints(a['embodiment'] or MODEL_NAME)
    robot_description = gazebo_urdf(urdf, joints, gz_config)
    _check_bridged(joints, bridge_config(), gz_config)

    gz_flags = ['-s', '-r', '--headless-rendering'] if is_true(a['headless']) else ['-r']
    gz_sim = ExecuteProcess(cmd=['gz', 'sim', '-v', a['gz_verbosity'], *gz_flags, world], name='gz_sim',
                            output='screen', on_exit=[Shutdown(reason='gz sim exited')])

    rsp = Node(package='robot_state_publisher', executable='robot_state_publisher', output='screen',
               parameters=[{'robot_description': ParameterValue(robot_description, value_type=str),
                            'use_sim_time': sim_time}],
               remappings=_renamed([('joint_states', a['joint_states_topic'])]))
    spawn = Node(package='ros_gz_sim', executable='create', name='spawn_vla_humanoid', output='screen',
                 parameters=[{'topic': 'robot_description', 'name': MODEL_NAME, 'x': _number(a, 'x'),
                              'y': _number(a, 'y'), 'z': 0.0, 'Y': _number(a, 'yaw')}])
    bridge = Node(package='ros_gz_bridge', executable='parameter_bridge', name='gz_bridge', output='screen',
                  parameters=[{'config_file': str(bridge_config()), 'use_sim_time': sim_time}],
                  remappings=_renamed([('camera/image_raw', a['camera_topic']),
                                       ('camera/camera_info', camera_info_topic(a['camera_topic'])),
                                       ('scan', a['scan_topic']), ('joint_states', a['joint_states_topic']),
                                       ('odom', a['odom_topic']), ('cmd_vel', BRIDGE_CMD_VEL)]))
    base_timeout = Node(package='vla_bringup', executable='base_command_timeout', output='screen',
                        parameters=[{'use_sim_time': sim_time}],
                        remappings=_renamed([('cmd_vel', a['cmd_vel_topic']), ('cmd_vel_out', BRIDGE_CMD_VEL)]))
    relay = Node(package='vla_bringup', executable='joint_command_relay', output='screen',
                 parameters=[{'joint_names': list(joints), 'topic_pattern': RELAY_TOPIC_PATTERN,
                              'use_sim_time': sim_time}],
                 remappings=_renamed([('joint_commands', a['joint_commands_topic'])]))

    suite_args = {**{k: a[k] for k in SUITE_ARGUMENTS}, 'embodiment': a['embodiment'] or MODEL_NAME}
    # vla_safety's joint limits come from robot_description_file (default: this URDF, see stack.py);
    # the laser's pose in base_link comes from the URDF
    specs = override_parameters(suite_nodes(suite_args), {
        'vla_safety': {'scan_pose': laser_pose_in_base(urdf, gz_config.laser_link)}})
    actions = [gz_sim, rsp, spawn, bridge, relay, base_timeout] + [node_from_spec(s) for s in specs]
    if is_true(a['rviz']):
        actions.append(Node(package='rviz2', executable='rviz2', output='screen', arguments=['-f', 'odom'],
                            parameters=[{'use_sim_time': sim_time}]))
    return actions


def _renamed(pairs):
    return [(src, dst) for src, dst in pairs if src != dst]


def _number(a: dict, name: str) -> float:
    try:
        v = float(a[name])
    except ValueError:
        v = math.nan
    if not math.isfinite(v):
        raise RuntimeError(f"launch argument {name}:='{a[name]}' must be a finite number")
    return v


def generate_launch_description():
    return LaunchDescription(
        declare_arguments(SUITE_ARGUMENTS, SUITE_DEFAULTS) + declare_arguments(GAZEBO_ARGUMENTS)
        + middleware_actions()
        + [OpaqueFunction(function=_launch_setup)])
