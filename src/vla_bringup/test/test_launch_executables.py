"""Every node our launch files start from one of our packages is an executable that package installs,
and vla_bringup declares the package it comes from (read from the files: no launch_ros needed).
`ros2 launch vla_bringup gazebo_humanoid.launch.py` on a machine with vla_bringup and its declared
dependencies installed must find every executable it runs."""
import ast
import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[2]
LAUNCH = SRC / 'vla_bringup' / 'launch'


def _launched_nodes() -> list[tuple[str, str, str]]:
    """(launch file, package, executable) of each Node(package='...', executable='...') call."""
    found = []
    for path in sorted(LAUNCH.glob('*.launch.py')):
        for call in ast.walk(ast.parse(path.read_text())):
            if isinstance(call, ast.Call) and getattr(call.func, 'id', None) == 'Node':
                kw = {k.arg: k.value.value for k in call.keywords if isinstance(k.value, ast.Constant)}
                found.append((path.name, kw.get('package'), kw.get('executable')))
    return found


def _console_scripts(package: str) -> set[str]:
    return set(re.findall(r"'(\w+) = [\w.]+:\w+'", (SRC / package / 'setup.py').read_text()))


def _declared(package_xml: Path) -> set[str]:
    return set(re.findall(r'<(?:exec_)?depend>([\w-]+)</', package_xml.read_text()))


def test_every_launched_node_of_ours_is_installed_by_a_declared_package():
    ours = [(f, p, e) for f, p, e in _launched_nodes() if p and p.startswith('vla_')]
    assert {e for _, _, e in ours} >= {'base_command_timeout', 'joint_command_relay'}
    declared = _declared(SRC / 'vla_bringup' / 'package.xml') | {'vla_bringup'}
    for launch_file, package, executable in ours:
        assert executable in _console_scripts(package), (launch_file, package, executable)
        assert package in declared, f'{launch_file} runs {package} {executable}: vla_bringup must depend on it'
