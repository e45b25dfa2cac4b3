"""The VLA node set, described once for the launch files and for the launcher.

Plain Python: `launch/*.launch.py` turn these NodeSpecs into launch_ros Nodes where
`launch` is installed; `vla_launch` (launcher.py) starts the same nodes as processes where
it is not (e.g. a venv with ROS 2 from PyPI wheels).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path


def share_dir(package: str) -> Path:
    """Installed share directory of ``package`` (falls back to the source tree)."""
    try:
        from ament_index_python.packages import get_package_share_directory
        return Path(get_package_share_directory(package))
    except Exception:  # noqa: BLE001 - not installed: use the source tree next to this package
        return Path(__file__).resolve().parents[2] / package


def fastdds_profile() -> Path:
    """The Fast DDS profile with a 16 MiB shared-memory segment (README, "Transport")."""
    return share_dir('vla_bringup') / 'config' / 'fastdds_shm.xml'


def middleware_env() -> dict[str, str]:
    """Environment for the suite's processes (unless the user set these variables):

    - FASTDDS_DEFAULT_PROFILES_FILE: the shared-memory profile, so camera frames are not lost;
    - MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_: camera frames (1-6 MB) are mmapped and
      returned to the OS when freed. With glibc's default, the threshold adapts upwards after the
      first large free, and later frames fragment the heap arenas: under a 1080p flood the
      inference node then grew by about 20 MB more (README, Benchmarks).
    """
    defaults = {'FASTDDS_DEFAULT_PROFILES_FILE': str(fastdds_profile()),
                'MALLOC_MMAP_THRESHOLD_': '1048576', 'MALLOC_TRIM_THRESHOLD_': '1048576'}
    return {k: v for k, v in defaults.items() if k not in os.environ}


#: seconds before a dead suite node is started again (launch_ros respawn_delay). Short: while
#: vla_safety is down nothing gates the base (no obstacle stop, no e-stop) but the base's own
#: cmd_vel timeout, and a restarted vla_safety's zeros reach the robot 0.7-1.2 s after the crash
#: (start-up and DDS discovery). launch_ros's default
#: is 0 s; 0.1 s (systemd's RestartSec default) keeps a crash loop from restarting back to back,
#: and vla_launch gives up after QUICK_EXITS quick exits.
RESPAWN_DELAY = 0.1


@dataclass(frozen=True)
class NodeSpec:
    package: str
    executable: str
    module: str                       # python -m <module> runs the same node without ros2 run
    name: str
    params_files: tuple[str, ...] = ()
    parameters: dict = field(default_factory=dict)
    remappings: tuple[tuple[str, str], ...] = ()
    #: start it again when it dies (launch_ros respawn). The suite's nodes respawn: a restarted
    #: vla_safety publishes zeros and waits for a new instruction; a restarted vla_inference is idle.
    respawn: bool = False
    respawn_delay: float = RESPAWN_DELAY


#: launch arguments shared by launch files and launcher: name -> (default, description)
SUITE_ARGUMENTS = {
    'policy': ('', 'Policy for vla_inference (registered name, module:Class or checkpoint dir); '
                   "'' = the inference params file's value"),
    'policy_backend': ('', "How vla_inference runs a seed_vla checkpoint: auto, torch or onnx (its model.onnx "
                           "under onnxruntime); '' = the params file's value"),
    'embodiment': ('', "Embodiment YAML or bundled name; '' = the params file's value"),
    'inference_params': ('', "Params file of vla_inference; '' = vla_inference/config/inference_node.yaml"),
    'safety_params': ('', "Params file of vla_safety; '' = vla_safety/config/safety_node.yaml"),
    'use_sim_time': ('false', 'Use /clock (simulation)'),
    'robot_description_file': ('', "URDF whose joint limits vla_safety enforces; '' = the vla_humanoid URDF "
                                   '(vla_description) when installed'),
    'camera_topic': ('camera/image_raw', 'Camera image topic'),
    'scan_topic': ('scan', 'LaserScan topic for the collision checks (and a policy that reads it)'),
    'joint_states_topic': ('joint_states', 'Measured joint states'),
    'odom_topic': ('odom', "The base's odometry (nav_msgs/Odometry; the default policy reads it)"),
    'cmd_vel_topic': ('cmd_vel', "Robot's base velocity command topic (gated Twist)"),
    'joint_commands_topic': ('joint_commands', "Robot's joint command topic (gated targets, as joint_output says)"),
    'base_output': ('', "cmd_vel message of vla_safety: twist or twist_stamped (diff_drive_controller); "
                        "'' = the safety params file's value"),
    'joint_output': ('', 'joint_commands message of vla_safety: joint_state, joint_trajectory '
                         '(joint_trajectory_controller) or float64_multi_array (forward_command_controller); '
                         "'' = the safety params file's value"),
    'controller_joints': ('', "The joint controller's joint order for joint_trajectory / float64_multi_array: "
                              "'j1,j2' or '[j1, j2]'; '' = the safety params file's value"),
}


def joint_list(text: str) -> list[str]:
    """Joint names of a launch argument: 'a,b', 'a, b' or a YAML/JSON list '[a, b]'."""
    text = text.strip()
    if text.startswith('[') and text.endswith(']'):
        text = text[1:-1]
    names = [n.strip().strip('\'"') for n in text.split(',')]
    if any(not n for n in names) and text:
        raise ValueError(f"controller_joints:='{text}' has an empty name; give 'joint1,joint2'")
    return [n for n in names if n]


def suite_nodes(args: dict[str, str]) -> list[NodeSpec]:
    """vla_inference + vla_safety, with the remappings and parameters of ``args``
    (keys of SUITE_ARGUMENTS; missing keys take their defaults)."""
    a = {k: str(args.get(k, d)) for k, (d, _) in SUITE_ARGUMENTS.items()}
    sim = a['use_sim_time'].lower() in ('1', 'true', 'yes')
    inf_params = a['inference_params'] or str(share_dir('vla_inference') / 'config' / 'inference_node.yaml')
    safety_params = a['safety_params'] or str(share_dir('vla_safety') / 'config' / 'safety_node.yaml')
    inf_overrides: dict = {'use_sim_time': sim}
    if a['policy']:
        inf_overrides['policy'] = a['policy']
    if a['policy_backend']:
        inf_overrides['policy_backend'] = a['policy_backend']
    if a['embodiment']:
        inf_overrides['embodiment'] = a['embodiment']
    camera = a['camera_topic']
    safety_overrides: dict = {'use_sim_time': sim}
    urdf = a['robot_description_file'] or default_urdf()
    if urdf:
        safety_overrides['urdf_file'] = urdf
    for name in ('base_output', 'joint_output'):
        if a[name]:
            safety_overrides[name] = a[name]
    if joint_list(a['controller_joints']):
        safety_overrides['controller_joints'] = joint_list(a['controller_joints'])
    return [
        NodeSpec('vla_inference', 'inference_node', 'vla_inference.inference_node', 'vla_inference',
                 (inf_params,), inf_overrides,
                 (('camera/image_raw', camera), ('camera/image_raw/compressed', camera + '/compressed'),
                  ('joint_states', a['joint_states_topic']), ('odom', a['odom_topic']), ('scan', a['scan_topic'])),
                 respawn=True),
        NodeSpec('vla_safety', 'safety_node', 'vla_safety.safety_node', 'vla_safety',
                 (safety_params,), safety_overrides,
                 (('scan', a['scan_topic']), ('joint_states', a['joint_states_topic']),
                  ('cmd_vel', a['cmd_vel_topic']), ('joint_commands', a['joint_commands_topic'])), respawn=True),
    ]


def override_parameters(specs: list[NodeSpec], overrides: dict[str, dict]) -> list[NodeSpec]:
    """``specs`` with ``overrides`` ({node name: {parameter: value}}) merged into their parameters
    (a robot's launch file adds what only it knows, e.g. vla_safety's scan_pose)."""
    unknown = set(overrides) - {s.name for s in specs}
    if unknown:
        raise KeyError(f"no node named {sorted(unknown)}; nodes: {', '.join(s.name for s in specs)}")
    return [replace(s, parameters={**s.parameters, **overrides.get(s.name, {})}) for s in specs]


def default_urdf() -> str:
    """Path of the vla_humanoid URDF, or '' when vla_description is not installed."""
    try:
        from vla_description import urdf_path
        return str(urdf_path())
    except Exception:  # noqa: BLE001 - optional package (a robot without our description)
        return ''


def ros_args(spec: NodeSpec) -> list[str]:
    """Command-line `--ros-args` for ``spec`` (what launch_ros passes to a node)."""
    out = ['--ros-args', '-r', f'__node:={spec.name}']
    for f in spec.params_files:
        out += ['--params-file', f]
    for k, v in spec.parameters.items():
        out += ['-p', f'{k}:={_param_literal(v)}']
    for src, dst in spec.remappings:
        if src != dst:
            out += ['-r', f'{src}:={dst}']
    return out


def _param_literal(v) -> str:
    if isinstance(v, bool):
        return 'true' if v else 'false'
    if isinstance(v, (list, tuple)):
        return json.dumps(list(v))   # a YAML flow list; strings stay strings ("1", "yes")
    return str(v)
