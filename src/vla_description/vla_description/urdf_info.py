"""Read what the rest of the suite needs from a URDF: the kinematic tree, joint limits, and
forward kinematics. Plain Python + NumPy (no urdfdom needed).

    >>> robot = parse_urdf(read_urdf())
    >>> robot.joints['head_pan_joint'].upper
    1.2
    >>> robot.link_pose('head_camera_optical_frame', {'head_pan_joint': 0.3})   # 4x4 in the root frame
"""
from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np


class UrdfError(ValueError):
    """The URDF is malformed; the message names the element."""


@dataclass(frozen=True)
class Geometry:
    kind: str                        # 'box' | 'cylinder' | 'sphere' | 'mesh'
    size: tuple[float, ...]          # box: (x, y, z); cylinder: (radius, length); sphere: (radius,)
    origin: np.ndarray               # 4x4 in the link frame


@dataclass(frozen=True)
class Inertial:
    mass: float
    origin: np.ndarray               # 4x4 in the link frame
    inertia: np.ndarray              # 3x3 about the centre of mass, in the origin's frame


@dataclass(frozen=True)
class Link:
    name: str
    inertial: Inertial | None
    visuals: tuple[Geometry, ...]
    collisions: tuple[Geometry, ...]


@dataclass(frozen=True)
class Joint:
    name: str
    type: str                        # revolute | continuous | prismatic | fixed | ...
    parent: str
    child: str
    origin: np.ndarray               # 4x4: child frame at q = 0, in the parent frame
    axis: np.ndarray                 # unit 3-vector in the child frame
    lower: float = -math.inf
    upper: float = math.inf
    effort: float = math.inf
    velocity: float = math.inf
    soft_lower: float | None = None  # <safety_controller>
    soft_upper: float | None = None
    k_position: float | None = None
    k_velocity: float | None = None
    damping: float = 0.0

    @property
    def movable(self) -> bool:
        return self.type in ('revolute', 'continuous', 'prismatic')


@dataclass(frozen=True)
class Robot:
    name: str
    links: Mapping[str, Link]
    joints: Mapping[str, Joint]
    root: str
    _parent_joint: Mapping[str, str] = field(repr=False, default_factory=dict)

    @property
    def movable_joints(self) -> list[str]:
        return [j.name for j in self.joints.values() if j.movable]

    @property
    def total_mass(self) -> float:
        return sum(lk.inertial.mass for lk in self.links.values() if lk.inertial is not None)

    def chain(self, link: str) -> list[Joint]:
        """Joints from the root down to ``link``."""
        if link not in self.links:
            raise KeyError(f"no link '{link}'; links: {', '.join(sorted(self.links))}")
        out = []
        while link != self.root:
            j = self.joints[self._parent_joint[link]]
            out.append(j)
            link = j.parent
        return out[::-1]

    def link_pose(self, link: str, q: Mapping[str, float] | None = None) -> np.ndarray:
        """4x4 pose of ``link`` in the root frame for joint positions ``q`` (missing joints: 0)."""
        q = q or {}
        T = np.eye(4)
        for j in self.chain(link):
            T = T @ j.origin @ _joint_motion(j, float(q.get(j.name, 0.0)))
        return T


def transform(xyz=(0.0, 0.0, 0.0), rpy=(0.0, 0.0, 0.0)) -> np.ndarray:
    """4x4 from a URDF origin (rpy: fixed-axis roll, pitch, yaw, i.e. R = Rz(y) Ry(p) Rx(r))."""
    r, p, y = rpy
    cr, sr, cp, sp, cy, sy = math.cos(r), math.sin(r), math.cos(p), math.sin(p), math.cos(y), math.sin(y)
    T = np.eye(4)
    T[:3, :3] = [[cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr],
                 [sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr],
                 [-sp, cp * sr, cp * cr]]
    T[:3, 3] = xyz
    return T


def axis_angle(axis: np.ndarray, angle: float) -> np.ndarray:
    """3x3 rotation of ``angle`` about unit ``axis`` (Rodrigues)."""
    x, y, z = axis
    c, s, t = math.cos(angle), math.sin(angle), 1 - math.cos(angle)
    return np.array([[t * x * x + c, t * x * y - s * z, t * x * z + s * y],
                     [t * x * y + s * z, t * y * y + c, t * y * z - s * x],
                     [t * x * z - s * y, t * y * z + s * x, t * z * z + c]])


def _joint_motion(j: Joint, q: float) -> np.ndarray:
    T = np.eye(4)
    if j.type in ('revolute', 'continuous'):
        T[:3, :3] = axis_angle(j.axis, q)
    elif j.type == 'prismatic':
        T[:3, 3] = j.axis * q
    return T


def _floats(text: str | None, n: int, where: str, default=None) -> tuple[float, ...]:
    if text is None:
        if default is None:
            raise UrdfError(f'{where}: missing value')
        return default
    try:
        v = tuple(float(t) for t in text.split())
    except ValueError:
        raise UrdfError(f"{where}: '{text}' is not {n} numbers") from None
    if len(v) != n:
        raise UrdfError(f"{where}: '{text}' has {len(v)} numbers, expected {n}")
    return v


def _origin(el: ET.Element | None, where: str) -> np.ndarray:
    o = el.find('origin') if el is not None else None
    if o is None:
        return np.eye(4)
    return transform(_floats(o.get('xyz'), 3, f'{where} origin xyz', (0.0, 0.0, 0.0)),
                     _floats(o.get('rpy'), 3, f'{where} origin rpy', (0.0, 0.0, 0.0)))


def _geometry(el: ET.Element, where: str) -> Geometry:
    g = el.find('geometry')
    if g is None or len(g) != 1:
        raise UrdfError(f'{where}: needs exactly one shape inside <geometry>')
    shape = g[0]
    if shape.tag == 'box':
        size = _floats(shape.get('size'), 3, f'{where} box size')
    elif shape.tag == 'cylinder':
        size = (float(shape.get('radius')), float(shape.get('length')))
    elif shape.tag == 'sphere':
        size = (float(shape.get('radius')),)
    elif shape.tag == 'mesh':
        size = _floats(shape.get('scale'), 3, f'{where} mesh scale', (1.0, 1.0, 1.0))
    else:
        raise UrdfError(f'{where}: unknown geometry <{shape.tag}>')
    return Geometry(shape.tag, size, _origin(el, where))


def parse_urdf(text: str) -> Robot:
    """Parse URDF XML text into a :class:`Robot`; raises UrdfError on a malformed tree."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise UrdfError(f'not well-formed XML: {exc}') from None
    if root.tag != 'robot':
        raise UrdfError(f'top element is <{root.tag}>, expected <robot>')
    links: dict[str, Link] = {}
    for el in root.findall('link'):
        name = el.get('name')
        if not name or name in links:
            raise UrdfError(f"link name '{name}' is missing or repeated")
        inertial = None
        i = el.find('inertial')
        if i is not None:
            m = i.find('mass')
            t = i.find('inertia')
            if m is None or t is None:
                raise UrdfError(f"link '{name}': <inertial> needs <mass> and <inertia>")
            g = {k: float(t.get(k, 0.0)) for k in ('ixx', 'ixy', 'ixz', 'iyy', 'iyz', 'izz')}
            inertia = np.array([[g['ixx'], g['ixy'], g['ixz']],
                                [g['ixy'], g['iyy'], g['iyz']],
                                [g['ixz'], g['iyz'], g['izz']]])
            inertial = Inertial(float(m.get('value')), _origin(i, f'link {name} inertial'), inertia)
        links[name] = Link(name, inertial,
                           tuple(_geometry(v, f'link {name} visual') for v in el.findall('visual')),
                           tuple(_geometry(c, f'link {name} collision') for c in el.findall('collision')))
    joints: dict[str, Joint] = {}
    parent_joint: dict[str, str] = {}
    for el in root.findall('joint'):
        name, jtype = el.get('name'), el.get('type')
        where = f"joint '{name}'"
        if not name or name in joints:
            raise UrdfError(f"joint name '{name}' is missing or repeated")
        p, c = el.find('parent'), el.find('child')
        if p is None or c is None:
            raise UrdfError(f'{where}: needs <parent link=...> and <child link=...>')
        parent, child = p.get('link'), c.get('link')
        for lk in (parent, child):
            if lk not in links:
                raise UrdfError(f"{where}: link '{lk}' is not defined")
        if child in parent_joint:
            raise UrdfError(f"{where}: link '{child}' already has parent joint '{parent_joint[child]}'")
        parent_joint[child] = name
        a = el.find('axis')
        axis = np.array(_floats(a.get('xyz') if a is not None else None, 3, f'{where} axis', (1.0, 0.0, 0.0)))
        if jtype != 'fixed':
            n = np.linalg.norm(axis)
            if n < 1e-9:
                raise UrdfError(f'{where}: zero axis')
            axis = axis / n
        kw = {}
        lim = el.find('limit')
        if lim is not None:
            kw.update(lower=float(lim.get('lower', 0.0)), upper=float(lim.get('upper', 0.0)),
                      effort=float(lim.get('effort', math.inf)), velocity=float(lim.get('velocity', math.inf)))
        elif jtype in ('revolute', 'prismatic'):
            raise UrdfError(f'{where}: a {jtype} joint needs <limit lower upper effort velocity>')
        sc = el.find('safety_controller')
        if sc is not None:
            kw.update(soft_lower=float(sc.get('soft_lower_limit', kw.get('lower', 0.0))),
                      soft_upper=float(sc.get('soft_upper_limit', kw.get('upper', 0.0))),
                      k_position=float(sc.get('k_position', 0.0)), k_velocity=float(sc.get('k_velocity', 0.0)))
        dyn = el.find('dynamics')
        if dyn is not None:
            kw['damping'] = float(dyn.get('damping', 0.0))
        joints[name] = Joint(name, jtype, parent, child, _origin(el, where), axis, **kw)
    roots = [lk for lk in links if lk not in parent_joint]
    if len(roots) != 1:
        raise UrdfError(f'the tree needs exactly one root link, found {roots}')
    robot = Robot(root.get('name', ''), links, joints, roots[0], parent_joint)
    for lk in links:  # every link must reach the root (no cycles)
        seen = set()
        while lk != robot.root:
            if lk in seen:
                raise UrdfError(f"cycle through link '{lk}'")
            seen.add(lk)
            lk = joints[parent_joint[lk]].parent
    return robot
