"""The launch files, evaluated without starting anything: declared arguments, the node set,
remappings and parameters (robot.launch.py and gazebo_humanoid.launch.py).

Needs `launch` and `launch_ros`, which are not on PyPI: with a ROS 2 install (or the upstream
sources on PYTHONPATH) these run, in a wheel venv they are skipped.
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest
import yaml

try:
    from launch import LaunchContext, LaunchDescription
    from launch.actions import DeclareLaunchArgument, ExecuteProcess, OpaqueFunction, SetEnvironmentVariable
    from launch.utilities import perform_substitutions
    from launch_ros.actions import Node
except ImportError:   # `import launch` alone can succeed on a namespace directory named launch
    pytest.skip('launch / launch_ros not installed (not on PyPI); run with a ROS 2 install',
                allow_module_level=True)

from vla_bringup.gazebo_description import commanded_joints, gazebo_urdf   # noqa: E402
from vla_description import read_urdf, urdf_path   # noqa: E402

LAUNCH_DIR = Path(__file__).resolve().parents[1] / 'launch'


class _ParamsLoader(yaml.SafeLoader):
    """launch_ros writes list parameters as !!python/tuple (rcl's parser ignores the tag)."""


_ParamsLoader.add_constructor('tag:yaml.org,2002:python/tuple', lambda loader, n: loader.construct_sequence(n))


def load(name: str):
    spec = importlib.util.spec_from_file_location(name.replace('.', '_'), LAUNCH_DIR / name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Evaluated:
    """A LaunchDescription visited like `ros2 launch` would, but nothing is executed."""

    def __init__(self, ld: LaunchDescription, args: dict[str, str] | None = None) -> None:
        self.declared = {a.name: a for a in ld.get_launch_arguments()}
        self.context = LaunchContext()
        for k, v in (args or {}).items():
            self.context.launch_configurations[k] = v
        self.nodes: dict[str, Node] = {}
        self.processes: list[ExecuteProcess] = []
        self.env: dict[str, str] = {}
        todo = list(ld.entities)
        while todo:
            e = todo.pop(0)
            if isinstance(e, (DeclareLaunchArgument, OpaqueFunction)):
                todo = list(e.visit(self.context) or []) + todo
            elif isinstance(e, SetEnvironmentVariable):   # recorded, not applied to this process
                self.env[perform_substitutions(self.context, e.name)] = perform_substitutions(self.context, e.value)
            elif isinstance(e, Node):
                e._perform_substitutions(self.context)   # what Node.execute does before starting the process
                name = e.node_name.rsplit('/', 1)[-1]
                key = e.node_executable if name == Node.UNSPECIFIED_NODE_NAME else name
                assert key not in self.nodes, f'two nodes named {key}'
                self.nodes[key] = e
            elif isinstance(e, ExecuteProcess):
                self.processes.append(e)
            else:
                raise AssertionError(f'unexpected launch entity {e!r}')

    def remaps(self, node: str) -> dict[str, str]:
        """Remappings that rename (launch files may pass identities, e.g. stack.suite_nodes' defaults)."""
        return {src: dst for src, dst in self.nodes[node].expanded_remapping_rules or [] if src != dst}

    def params(self, node: str) -> dict:
        """Parameters the node gets (params files in order, then dict overrides), merged."""
        out: dict = {}
        for arg, is_file in self.nodes[node]._Node__expanded_parameter_arguments or []:
            assert is_file, arg
            data = yaml.load(Path(arg).read_text(), Loader=_ParamsLoader)
            for scope, body in data.items():
                if scope in ('/**', node, f'/{node}'):
                    out.update(body['ros__parameters'])
        return out

    def cmd(self, process: ExecuteProcess) -> list[str]:
        return [perform_substitutions(self.context, part) for part in process.cmd]


# -- robot.launch.py ------------------------------------------------------------------------------
def test_robot_launch_defaults():
    ev = Evaluated(load('robot.launch.py').generate_launch_description())
    from vla_bringup.stack import SUITE_ARGUMENTS
    assert set(ev.declared) == set(SUITE_ARGUMENTS)
    assert set(ev.nodes) == {'vla_inference', 'vla_safety'}
    assert ev.nodes['vla_inference'].node_package == 'vla_inference'
    assert ev.nodes['vla_inference'].node_executable == 'inference_node'
    inf, safety = ev.params('vla_inference'), ev.params('vla_safety')
    assert inf['use_sim_time'] is False and safety['use_sim_time'] is False
    params_file = Path(__file__).resolve().parents[2] / 'vla_inference' / 'config' / 'inference_node.yaml'
    assert inf['policy'] == yaml.safe_load(params_file.read_text())['vla_inference']['ros__parameters']['policy']
    from vla_bringup.stack import middleware_env
    assert ev.env == middleware_env()          # the shm profile and malloc thresholds, unless the user set them
    assert set(ev.env) <= {'FASTDDS_DEFAULT_PROFILES_FILE', 'MALLOC_MMAP_THRESHOLD_', 'MALLOC_TRIM_THRESHOLD_'}
    assert ev.remaps('vla_inference') == {}                  # defaults: nothing renamed
    assert ev.remaps('vla_safety') == {}


def test_robot_launch_arguments_reach_the_nodes():
    ev = Evaluated(load('robot.launch.py').generate_launch_description(),
                   {'policy': 'keyword', 'cmd_vel_topic': '/base/cmd_vel', 'camera_topic': '/cam/image',
                    'use_sim_time': 'true'})
    assert ev.params('vla_inference')['policy'] == 'keyword'
    assert ev.params('vla_inference')['use_sim_time'] is True
    assert ev.remaps('vla_safety')['cmd_vel'] == '/base/cmd_vel'
    assert ev.remaps('vla_inference') == {'camera/image_raw': '/cam/image',
                                          'camera/image_raw/compressed': '/cam/image/compressed'}


def test_robot_launch_output_adapters_reach_vla_safety():
    ev = Evaluated(load('robot.launch.py').generate_launch_description(),
                   {'base_output': 'twist_stamped', 'joint_output': 'joint_trajectory',
                    'controller_joints': 'joint1, joint2', 'cmd_vel_topic': '/diff_drive_controller/cmd_vel',
                    'joint_commands_topic': '/arm_controller/joint_trajectory'})
    safety = ev.params('vla_safety')
    assert safety['base_output'] == 'twist_stamped' and safety['joint_output'] == 'joint_trajectory'
    assert list(safety['controller_joints']) == ['joint1', 'joint2']
    assert ev.remaps('vla_safety') == {'cmd_vel': '/diff_drive_controller/cmd_vel',
                                       'joint_commands': '/arm_controller/joint_trajectory'}


# -- gazebo_humanoid.launch.py ---------------------------------------------------------------------
@pytest.fixture
def gazebo(tmp_path, monkeypatch):
    """The Gazebo launch file, on a PATH that has a `gz` (it refuses to start without one)."""
    fake = tmp_path / 'gz'
    fake.write_text('#!/bin/sh\nexit 0\n')
    fake.chmod(0o755)
    monkeypatch.setenv('PATH', f"{tmp_path}:{os.environ.get('PATH', '')}")
    return load('gazebo_humanoid.launch.py')


def test_gazebo_launch_without_gz_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv('PATH', str(tmp_path))
    with pytest.raises(RuntimeError, match='ros-jazzy-ros-gz.*embedded MuJoCo simulator'):
        Evaluated(load('gazebo_humanoid.launch.py').generate_launch_description())


def test_gazebo_launch_declares_its_and_the_suites_arguments(gazebo):
    from vla_bringup.stack import SUITE_ARGUMENTS
    ev = Evaluated(gazebo.generate_launch_description())
    assert set(ev.declared) == set(SUITE_ARGUMENTS) | {'world', 'headless', 'gz_verbosity', 'rviz', 'x', 'y', 'yaw'}
    defaults = {k: perform_substitutions(ev.context, a.default_value) for k, a in ev.declared.items()}
    assert defaults['use_sim_time'] == 'true' and defaults['embodiment'] == 'vla_humanoid'
    assert defaults['headless'] == 'false' and defaults['rviz'] == 'false'


def test_gazebo_launch_node_set_and_sim_time(gazebo):
    ev = Evaluated(gazebo.generate_launch_description())
    assert set(ev.nodes) == {'robot_state_publisher', 'spawn_vla_humanoid', 'gz_bridge', 'base_command_timeout',
                             'joint_command_relay', 'vla_inference', 'vla_safety'}
    assert (ev.nodes['gz_bridge'].node_package, ev.nodes['gz_bridge'].node_executable) == \
        ('ros_gz_bridge', 'parameter_bridge')
    assert (ev.nodes['spawn_vla_humanoid'].node_package,
            ev.nodes['spawn_vla_humanoid'].node_executable) == ('ros_gz_sim', 'create')
    for n in ('robot_state_publisher', 'gz_bridge', 'base_command_timeout', 'joint_command_relay',
              'vla_inference', 'vla_safety'):
        assert ev.params(n)['use_sim_time'] is True, n
    (gz,) = ev.processes
    cmd = ev.cmd(gz)
    assert cmd[:2] == ['gz', 'sim'] and '-r' in cmd and '-s' not in cmd        # GUI by default
    assert cmd[-1].endswith('worlds/vla_arena.sdf') and Path(cmd[-1]).is_file()


def test_gazebo_launch_headless_is_server_only_with_headless_rendering(gazebo):
    ev = Evaluated(gazebo.generate_launch_description(), {'headless': 'true', 'rviz': 'false'})
    cmd = ev.cmd(ev.processes[0])
    assert {'-s', '-r', '--headless-rendering'} <= set(cmd)
    ev = Evaluated(gazebo.generate_launch_description(), {'rviz': 'true'})
    assert 'rviz2' in ev.nodes


def test_gazebo_launch_robot_description_is_urdf_plus_overlay(gazebo):
    ev = Evaluated(gazebo.generate_launch_description())
    desc = ev.params('robot_state_publisher')['robot_description']
    assert desc == gazebo_urdf(read_urdf(), commanded_joints('vla_humanoid'))     # verbatim, not YAML-folded
    for j in commanded_joints('vla_humanoid'):
        assert f'/model/vla_humanoid/joint/{j}/cmd_pos' in desc
    spawn = ev.params('spawn_vla_humanoid')
    assert spawn['topic'] == 'robot_description' and spawn['name'] == 'vla_humanoid'
    assert spawn['x'] == 0.0 and spawn['Y'] == 0.0 and isinstance(spawn['x'], float)


def test_gazebo_launch_suite_parameters(gazebo):
    ev = Evaluated(gazebo.generate_launch_description(), {'policy': 'keyword'})
    inf, safety = ev.params('vla_inference'), ev.params('vla_safety')
    assert inf['policy'] == 'keyword' and inf['embodiment'] == 'vla_humanoid'
    assert safety['urdf_file'] == str(urdf_path())                   # joint limits for the gate
    assert safety['scan_pose'] == pytest.approx([0.11, 0.0, 0.0])    # laser in base_link (URDF)
    relay = ev.params('joint_command_relay')
    assert relay['joint_names'] == list(commanded_joints('vla_humanoid'))
    assert relay['topic_pattern'] == 'joint/{joint}/cmd_pos'
    bridge = ev.params('gz_bridge')
    assert Path(bridge['config_file']).name == 'gz_bridge.yaml' and Path(bridge['config_file']).is_file()


def test_gazebo_launch_default_topics_need_no_remapping(gazebo):
    ev = Evaluated(gazebo.generate_launch_description())
    for n in ('robot_state_publisher', 'joint_command_relay', 'vla_inference', 'vla_safety'):
        assert ev.remaps(n) == {}, n
    # the base command reaches the bridge through the timeout relay
    assert ev.remaps('gz_bridge') == {'cmd_vel': 'gz/cmd_vel'}
    assert ev.remaps('base_command_timeout') == {'cmd_vel_out': 'gz/cmd_vel'}


def test_gazebo_launch_topic_arguments_remap_bridge_relay_and_suite(gazebo):
    ev = Evaluated(gazebo.generate_launch_description(), {
        'camera_topic': '/robot/head/image_raw', 'scan_topic': '/robot/scan', 'joint_states_topic': '/robot/js',
        'cmd_vel_topic': '/robot/cmd_vel', 'joint_commands_topic': '/robot/joint_targets', 'odom_topic': '/robot/odom'})
    assert ev.remaps('gz_bridge') == {'camera/image_raw': '/robot/head/image_raw',
                                      'camera/camera_info': '/robot/head/camera_info',
                                      'scan': '/robot/scan', 'joint_states': '/robot/js', 'odom': '/robot/odom',
                                      'cmd_vel': 'gz/cmd_vel'}
    assert ev.remaps('base_command_timeout') == {'cmd_vel': '/robot/cmd_vel', 'cmd_vel_out': 'gz/cmd_vel'}
    assert ev.remaps('joint_command_relay') == {'joint_commands': '/robot/joint_targets'}
    assert ev.remaps('robot_state_publisher') == {'joint_states': '/robot/js'}
    assert ev.remaps('vla_safety') == {'scan': '/robot/scan', 'joint_states': '/robot/js',
                                       'cmd_vel': '/robot/cmd_vel', 'joint_commands': '/robot/joint_targets'}
    assert ev.remaps('vla_inference')['camera/image_raw'] == '/robot/head/image_raw'
    assert ev.remaps('vla_inference')['odom'] == '/robot/odom'


def test_gazebo_launch_rejects_a_bad_spawn_pose(gazebo):
    with pytest.raises(RuntimeError, match="x:='ahead' must be a finite number"):
        Evaluated(gazebo.generate_launch_description(), {'x': 'ahead'})


def test_gazebo_launch_rejects_joints_the_bridge_lacks(gazebo, tmp_path):
    emb = yaml.safe_load((Path(__file__).resolve().parents[2] / 'vla_policy' / 'config' / 'embodiments'
                          / 'vla_humanoid.yaml').read_text())
    emb['actions'].append({'name': 'knee', 'target': 'joint/left_knee_joint', 'low': 0.0, 'high': 2.2})
    path = tmp_path / 'with_knee.yaml'
    path.write_text(yaml.safe_dump(emb))
    with pytest.raises(RuntimeError, match=r"\['left_knee_joint'\].*no ROS_TO_GZ entry"):
        Evaluated(gazebo.generate_launch_description(), {'embodiment': str(path)})


def test_camera_info_topic(gazebo):
    assert gazebo.camera_info_topic('camera/image_raw') == 'camera/camera_info'
    assert gazebo.camera_info_topic('/a/b/image') == '/a/b/camera_info'
    assert gazebo.camera_info_topic('image') == 'camera_info'
