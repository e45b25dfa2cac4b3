"""What gazebo_humanoid.launch.py hands to Gazebo, loaded by libsdformat, the parser gz sim uses.

gz sim loads the world file (sdf::Root::Load); ros_gz_sim create sends robot_description (the
humanoid URDF + vla_bringup.gazebo_description's overlay) to gz-sim's create service, which
converts the URDF to SDF and loads it (sdf::Root::LoadSdfString). sdf_check/sdf_check.cpp does
the same and prints every error; this test compiles it (g++, pkg-config) into a temporary
directory and runs it on both, and on broken copies to show it fails on them.

Skips when libsdformat-dev is missing:  apt-get install libsdformat-dev pkg-config  (.ci/run does).
Debian 12 has libsdformat 12, which knows SDF up to 1.9; Gazebo Harmonic's libsdformat 14 reads
1.9 too, so the world stays at 1.9. Elements 1.9 does not define are copied without a check, not
errors: gz_frame_id (read by gz-sensors, in no SDF version) and the lidar's visibility_mask
(SDF 1.10).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from vla_bringup.gazebo_description import MODEL_NAME, commanded_joints, gazebo_urdf
from vla_description import read_urdf

HERE = Path(__file__).resolve().parent
SOURCE = HERE / 'sdf_check' / 'sdf_check.cpp'
WORLD = HERE.parent / 'worlds' / 'vla_arena.sdf'
#: pkg-config names of libsdformat, first found wins (Debian 12: sdformat12, the one tested)
SDFORMAT_MODULES = ('sdformat12', 'sdformat13', 'sdformat14', 'sdformat15', 'sdformat16')
INSTALL_HINT = 'apt-get install libsdformat-dev pkg-config'


@dataclass
class Checked:
    """One sdf_check run: exit status, stderr, and the summary of what loaded."""

    returncode: int
    stderr: str
    worlds: dict[str, int] = field(default_factory=dict)                  # name -> models
    world_plugins: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    joints: dict[str, str] = field(default_factory=dict)                  # name -> type
    sensors: dict[str, tuple[str, str]] = field(default_factory=dict)     # name -> (type, link)
    plugins: list[tuple[str, str | None]] = field(default_factory=list)   # (name, joint_name)


def parse(proc: subprocess.CompletedProcess) -> Checked:
    """sdf_check's stdout (`LABEL: world ...`, `LABEL:   joint ...`; see sdf_check.cpp) as a Checked."""
    out = Checked(proc.returncode, proc.stderr)
    in_world = False
    for line in proc.stdout.splitlines()[1:]:               # first line: the libsdformat version
        words = line.partition(': ')[2].split()
        fields = dict(w.split('=', 1) for w in words if '=' in w)
        kind, name = words[0], words[1]
        if kind == 'world':
            out.worlds[name], in_world = int(fields['models']), True
        elif kind == 'model':
            out.models.append(name)
            in_world = False
        elif kind == 'joint':
            out.joints[name] = words[2]
        elif kind == 'sensor':
            out.sensors[name] = (words[2], fields['link'])
        elif kind == 'plugin' and in_world:
            out.world_plugins.append(name)
        elif kind == 'plugin':
            out.plugins.append((name, fields.get('joint_name')))
    return out


def _sdformat_flags() -> list[str]:
    if shutil.which('pkg-config') is None:
        pytest.skip(f'pkg-config not installed ({INSTALL_HINT}; .ci/run installs them)')
    for module in SDFORMAT_MODULES:
        found = subprocess.run(['pkg-config', '--cflags', '--libs', module], capture_output=True, text=True)
        if found.returncode == 0:
            return found.stdout.split()
    pytest.skip(f'libsdformat-dev not installed: pkg-config knows none of {", ".join(SDFORMAT_MODULES)} '
                f'({INSTALL_HINT}; .ci/run installs it)')


@pytest.fixture(scope='module')
def sdf_check(tmp_path_factory):
    """Compiles sdf_check.cpp; returns run(*inputs, stdin=None) -> Checked."""
    flags = _sdformat_flags()
    compiler = os.environ.get('CXX') or shutil.which('g++') or shutil.which('c++')
    if not compiler:
        pytest.skip(f'no C++ compiler (g++) to build {SOURCE.name}')
    build = tmp_path_factory.mktemp('sdf_check')
    exe = build / 'sdf_check'
    compiled = subprocess.run([compiler, '-std=c++17', '-O0', str(SOURCE), '-o', str(exe), *flags],
                              capture_output=True, text=True)
    assert compiled.returncode == 0, f'{SOURCE.name} did not compile:\n{compiled.stderr}'
    # libsdformat writes a log to $HOME/.sdformat/: keep it in the build directory
    env = {**os.environ, 'HOME': str(build)}

    def run(*inputs: str, stdin: str | None = None) -> Checked:
        proc = subprocess.run([str(exe), *inputs], input=stdin, capture_output=True, text=True, env=env)
        return parse(proc)
    return run


@pytest.fixture(scope='module')
def robot_description() -> str:
    """robot_description as gazebo_humanoid.launch.py makes it with its default arguments
    (test_launch_files.py checks the launch file against this expression)."""
    return gazebo_urdf(read_urdf(), commanded_joints(MODEL_NAME))


def test_the_world_loads_without_errors(sdf_check):
    checked = sdf_check(str(WORLD))
    assert checked.returncode == 0, checked.stderr
    models = ET.parse(WORLD).getroot().findall('world/model')
    assert checked.worlds == {'vla_arena': len(models)}
    assert {'gz::sim::systems::UserCommands', 'gz::sim::systems::Sensors'} <= set(checked.world_plugins)


def test_the_robot_description_loads_without_errors(sdf_check, robot_description):
    checked = sdf_check('-', stdin=robot_description)
    assert checked.returncode == 0, checked.stderr
    assert checked.models == [MODEL_NAME]
    # the URDF to SDF conversion keeps every movable joint, both sensors and every system
    movable = {j.get('name') for j in ET.fromstring(robot_description).findall('joint') if j.get('type') != 'fixed'}
    assert {j for j, kind in checked.joints.items() if kind != 'fixed'} == movable
    assert set(commanded_joints(MODEL_NAME)) <= movable
    assert {name: kind for name, (kind, _) in checked.sensors.items()} == {'head_camera': 'camera',
                                                                           'waist_lidar': 'gpu_lidar'}
    names = [name for name, _ in checked.plugins]
    for system in ('JointStatePublisher', 'OdometryPublisher', 'VelocityControl'):
        assert names.count(f'gz::sim::systems::{system}') == 1
    controlled = [joint for name, joint in checked.plugins if name == 'gz::sim::systems::JointPositionController']
    assert sorted(controlled) == sorted(movable)            # one controller per joint of the converted model


def test_a_world_with_a_repeated_model_name_fails(sdf_check, tmp_path):
    """Well-formed XML that gz sim would refuse: two models called ground_plane."""
    broken = tmp_path / 'repeated_name.sdf'
    text = WORLD.read_text()
    assert '<model name="wall_north">' in text
    broken.write_text(text.replace('<model name="wall_north">', '<model name="ground_plane">'))
    checked = sdf_check(str(broken))
    assert checked.returncode == 1
    assert 'model with name[ground_plane] already exists' in checked.stderr


def test_a_world_of_an_sdf_version_the_parser_does_not_know_fails(sdf_check, tmp_path):
    """libsdformat reports this on its console only; sdf_check counts it as an error."""
    broken = tmp_path / 'future.sdf'
    broken.write_text(WORLD.read_text().replace('<sdf version="1.9">', '<sdf version="9.9">'))
    checked = sdf_check(str(broken))
    assert checked.returncode == 1
    assert 'Unable to convert from SDF version 9.9' in checked.stderr


def test_a_robot_description_with_a_missing_link_fails(sdf_check, robot_description):
    assert robot_description.count('<child link="left_shin_link"/>') == 1
    broken = robot_description.replace('<child link="left_shin_link"/>', '<child link="left_shinn_link"/>')
    checked = sdf_check('-', stdin=broken)
    assert checked.returncode == 1
    assert 'child link [left_shinn_link] of joint [left_knee_joint] not found' in checked.stderr
    assert not checked.models


def test_a_robot_description_that_is_not_xml_fails(sdf_check, robot_description):
    checked = sdf_check('-', stdin=robot_description.replace('</joint>', '', 1))
    assert checked.returncode == 1
    assert 'Error parsing XML' in checked.stderr
