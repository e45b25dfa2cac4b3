"""The VLA suite humanoid: a plain URDF and helpers to find and read it.

    >>> from vla_description import urdf_path, read_urdf
    >>> urdf_path()            # .../share/vla_description/urdf/vla_humanoid.urdf, or the source tree's
    >>> read_urdf()            # its text, e.g. for robot_state_publisher's robot_description

Works installed (ament index) and from the source tree (tests, ``PYTHONPATH=src/vla_description``).
"""
from __future__ import annotations

from pathlib import Path

__all__ = ['ROBOT_NAME', 'available_robots', 'read_urdf', 'urdf_dir', 'urdf_path']

#: the suite's humanoid; its embodiment file is vla_core/config/embodiments/vla_humanoid.yaml
ROBOT_NAME = 'vla_humanoid'


def urdf_dir() -> Path:
    """Directory holding the URDFs: the installed share directory, else the source tree's."""
    try:  # installed through colcon / a ROS install
        from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
        try:
            d = Path(get_package_share_directory('vla_description')) / 'urdf'
            if d.is_dir():
                return d
        except PackageNotFoundError:
            pass
    except ImportError:  # no ament index (plain Python): fall through to the source tree
        pass
    return Path(__file__).resolve().parent.parent / 'urdf'


def available_robots() -> list[str]:
    """Names of the bundled URDFs (file stems)."""
    return sorted(p.stem for p in urdf_dir().glob('*.urdf'))


def urdf_path(name: str = ROBOT_NAME) -> Path:
    """Path of the URDF ``name`` (default: the humanoid). Raises FileNotFoundError listing the choices."""
    p = urdf_dir() / f'{name}.urdf'
    if not p.is_file():
        raise FileNotFoundError(f"no URDF '{name}' in {urdf_dir()}; bundled: {', '.join(available_robots()) or 'none'}")
    return p


def read_urdf(name: str = ROBOT_NAME) -> str:
    """The URDF's XML text."""
    return urdf_path(name).read_text()
