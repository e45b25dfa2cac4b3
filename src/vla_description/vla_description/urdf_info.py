"""The suite's one URDF reader: the kinematic tree, joint limits (with the ``<safety_controller>``
soft limits), types, origins, axes, links and forward kinematics. Plain Python + NumPy (no urdfdom).

Its users: vla_safety.joint_limits (the gate's limits), vla_bringup.gazebo_description (the
Gazebo overlay), vla_sim.model_builder and vla_sim.safety (the simulator). Every problem is a
:class:`UrdfError` (a ValueError) that names the element and says what to fix.

    >>> robot = parse_urdf(read_urdf())
    >>> robot.joints['head_pan_joint'].upper
    1.2
    >>> robot.link_pose('head_camera_optical_frame', {'head_pan_joint': 0.3})   # 4x4 in the root frame
    >>> parse_joints(text)     # the <joint> elements alone, each checked; the tree is not checked

Joint rules (https://wiki.ros.org/urdf/XML/joint): revolute and prismatic joints need ``<limit>``,
whose ``lower``/``upper`` default to 0 (a locked joint, not a free one); continuous joints have no
position limits (lower=-inf, upper=+inf whatever ``<limit>`` says); a missing ``velocity`` or
``effort`` is +inf; ``<safety_controller>`` soft limits default to the hard ones. Numbers must be
numbers (NaN is refused). Joints inside ``<transmission>`` are not kinematic joints and are not read.
"""
from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np


#: the joint types of the URDF specification
JOINT_TYPES = ('revolute', 'continuous', 'prismatic', 'fixed', 'floating', 'planar')


class UrdfError(ValueError):
    """The URDF is malformed; the message names the element and says what to fix."""


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
    mimic: str | None = None         # <mimic joint=...>: follows that joint, not commanded on its own

    @property
    def movable(self) -> bool:
        return self.type in ('revolute', 'continuous', 'prismatic')


@dataclass(frozen=True)
class Robot:
    name: str
    links: Mapping[str, Link]
    joints: Mapping[str, Joint]
    root: str
    extensions: tuple[str, ...] = ()  # tags of the other top-level elements (material, gazebo, ...)
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


_REQUIRED = object()


def _attr(el: ET.Element, attr: str, where: str, default=_REQUIRED) -> float:
    """The number in ``<el attr="...">``; ``default`` when it is absent (absent and no default: an error)."""
    raw = el.get(attr)
    if raw is None:
        if default is _REQUIRED:
            raise UrdfError(f'{where}: <{el.tag}> needs a {attr}="..." attribute')
        return default
    try:
        value = float(raw)
    except ValueError:
        raise UrdfError(f'{where}: <{el.tag} {attr}="{raw}"> is not a number') from None
    if math.isnan(value):
        raise UrdfError(f'{where}: <{el.tag} {attr}="{raw}"> is NaN; give a number')
    return value


def _floats(text: str | None, n: int, where: str, default=None) -> tuple[float, ...]:
    if text is None:
        if default is None:
            raise UrdfError(f'{where}: missing value')
        return default
    try:
        v = tuple(float(t) for t in text.split())
    except ValueError:
        raise UrdfError(f"{where}: '{text}' is not {n} numbers") from None
    if len(v) != n or any(math.isnan(x) for x in v):
        raise UrdfError(f"{where}: '{text}' has {len(v)} numbers, expected {n}" if len(v) != n
                        else f"{where}: '{text}' contains NaN; give {n} numbers")
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
        size = (_attr(shape, 'radius', where), _attr(shape, 'length', where))
    elif shape.tag == 'sphere':
        size = (_attr(shape, 'radius', where),)
    elif shape.tag == 'mesh':
        size = _floats(shape.get('scale'), 3, f'{where} mesh scale', (1.0, 1.0, 1.0))
    else:
        raise UrdfError(f'{where}: unknown geometry <{shape.tag}>; use box, cylinder, sphere or mesh')
    return Geometry(shape.tag, size, _origin(el, where))


def _root(text: str) -> ET.Element:
    if not isinstance(text, str) or not text.strip():
        raise UrdfError('the URDF is empty; pass the robot_description XML text')
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise UrdfError(f'the URDF is not valid XML (not well-formed: {exc}); '
                        'if it is a .xacro, run xacro first') from None
    if root.tag != 'robot':
        raise UrdfError(f"the URDF's root element is <{root.tag}>, expected <robot>")
    return root


def _link(el: ET.Element) -> Link:
    name = el.get('name')
    if not name:
        raise UrdfError('a <link> has no name="..."; every link needs a unique name')
    inertial = None
    i = el.find('inertial')
    if i is not None:
        m = i.find('mass')
        t = i.find('inertia')
        if m is None or t is None:
            raise UrdfError(f"link '{name}': <inertial> needs <mass> and <inertia>")
        where = f"link '{name}' inertial"
        g = {k: _attr(t, k, where, 0.0) for k in ('ixx', 'ixy', 'ixz', 'iyy', 'iyz', 'izz')}
        inertia = np.array([[g['ixx'], g['ixy'], g['ixz']],
                            [g['ixy'], g['iyy'], g['iyz']],
                            [g['ixz'], g['iyz'], g['izz']]])
        inertial = Inertial(_attr(m, 'value', where), _origin(i, f'link {name} inertial'), inertia)
    return Link(name, inertial,
                tuple(_geometry(v, f'link {name} visual') for v in el.findall('visual')),
                tuple(_geometry(c, f'link {name} collision') for c in el.findall('collision')))


def _joint(el: ET.Element) -> Joint:
    """One <joint> element, checked on its own (its links and its place in the tree are not)."""
    name, jtype = el.get('name'), el.get('type')
    if not name:
        raise UrdfError('a <joint> has no name="..."; every joint needs a unique name')
    if jtype not in JOINT_TYPES:
        raise UrdfError(f"joint '{name}': type=\"{jtype}\" is not a URDF joint type; use one of "
                        f"{', '.join(JOINT_TYPES)}")
    where = f"joint '{name}' ({jtype})"
    p, c = el.find('parent'), el.find('child')
    parent = (p.get('link') if p is not None else None) or ''
    child = (c.get('link') if c is not None else None) or ''
    a = el.find('axis')
    axis = np.array(_floats(a.get('xyz') if a is not None else None, 3, f'{where} axis', (1.0, 0.0, 0.0)))
    if jtype != 'fixed':
        n = np.linalg.norm(axis)
        if n < 1e-9:
            raise UrdfError(f'{where}: zero axis; give <axis xyz="..."> a direction')
        axis = axis / n
    kw: dict = {}
    lim = el.find('limit')
    if lim is not None:
        kw.update(effort=_attr(lim, 'effort', where, math.inf), velocity=_attr(lim, 'velocity', where, math.inf))
        if jtype != 'continuous':          # a continuous joint has no position limits
            kw.update(lower=_attr(lim, 'lower', where, 0.0), upper=_attr(lim, 'upper', where, 0.0))
    elif jtype in ('revolute', 'prismatic'):
        raise UrdfError(f'{where} has no <limit>: a {jtype} joint needs '
                        '<limit lower=".." upper=".." velocity=".." effort=".."/>; add one')
    sc = el.find('safety_controller')
    if sc is not None:
        kw.update(soft_lower=_attr(sc, 'soft_lower_limit', where, kw.get('lower', -math.inf)),
                  soft_upper=_attr(sc, 'soft_upper_limit', where, kw.get('upper', math.inf)),
                  k_position=_attr(sc, 'k_position', where, 0.0), k_velocity=_attr(sc, 'k_velocity', where, 0.0))
    dyn = el.find('dynamics')
    if dyn is not None:
        kw['damping'] = _attr(dyn, 'damping', where, 0.0)
    mim = el.find('mimic')
    if mim is not None:
        if not mim.get('joint'):
            raise UrdfError(f'{where}: <mimic> needs joint="..." (the joint it follows)')
        kw['mimic'] = mim.get('joint')
    return Joint(name, jtype, parent, child, _origin(el, where), axis, **kw)


def _joints(root: ET.Element) -> dict[str, Joint]:
    joints: dict[str, Joint] = {}
    for el in root.findall('joint'):       # not the <joint>s inside <transmission>
        j = _joint(el)
        if j.name in joints:
            raise UrdfError(f"joint '{j.name}' ({j.type}) is defined twice; joint names must be unique")
        joints[j.name] = j
    return joints


def parse_joints(text: str) -> dict[str, Joint]:
    """The URDF's joints by name (document order), each checked on its own: the rules of the module
    docstring. Their links and the tree are not checked (:func:`parse_urdf` does that). Raises UrdfError."""
    return _joints(_root(text))


def parse_urdf(text: str) -> Robot:
    """Parse URDF XML text into a :class:`Robot`; raises UrdfError on a malformed element or tree."""
    root = _root(text)
    links: dict[str, Link] = {}
    for el in root.findall('link'):
        lk = _link(el)
        if lk.name in links:
            raise UrdfError(f"link '{lk.name}' is defined twice; link names must be unique")
        links[lk.name] = lk
    joints = _joints(root)
    parent_joint: dict[str, str] = {}
    for j in joints.values():
        where = f"joint '{j.name}'"
        if not j.parent or not j.child:
            raise UrdfError(f'{where}: needs <parent link=...> and <child link=...>')
        for lk in (j.parent, j.child):
            if lk not in links:
                raise UrdfError(f"{where}: link '{lk}' is not defined; add <link name=\"{lk}\"/> or fix the name")
        if j.child in parent_joint:
            raise UrdfError(f"{where}: link '{j.child}' already has parent joint '{parent_joint[j.child]}'")
        parent_joint[j.child] = j.name
    roots = [lk for lk in links if lk not in parent_joint]
    if len(roots) != 1:
        raise UrdfError(f'the tree needs exactly one root link, found {roots}; join them with joints')
    extensions = tuple(el.tag for el in root if el.tag not in ('link', 'joint'))
    robot = Robot(root.get('name', ''), links, joints, roots[0], extensions, parent_joint)
    for lk in links:  # every link must reach the root (no cycles)
        seen = set()
        while lk != robot.root:
            if lk in seen:
                raise UrdfError(f"cycle through link '{lk}'")
            seen.add(lk)
            lk = joints[parent_joint[lk]].parent
    return robot
