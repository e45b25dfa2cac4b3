"""worlds/vla_arena.sdf: an SDF 1.9+ world with the systems the launch file needs, and vla_sim's
objects (colours, shapes, sizes) laid out so the spawned robot has a clear corridor ahead."""
from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

WORLD = Path(__file__).resolve().parents[1] / 'worlds' / 'vla_arena.sdf'
OBJECT_SHAPES = {'box', 'ball', 'cylinder'}


@pytest.fixture(scope='module')
def world() -> ET.Element:
    root = ET.parse(WORLD).getroot()
    assert root.tag == 'sdf'
    major, minor = (int(v) for v in root.get('version').split('.'))
    assert (major, minor) >= (1, 9)
    (w,) = root.findall('world')
    return w


def models(world) -> dict[str, ET.Element]:
    return {m.get('name'): m for m in world.findall('model')}


def pose(model) -> list[float]:
    return [float(v) for v in model.findtext('pose', '0 0 0 0 0 0').split()]


def test_systems(world):
    plugins = {p.get('name'): p for p in world.findall('plugin')}
    systems = ('Physics', 'UserCommands', 'SceneBroadcaster', 'Sensors')
    assert set(plugins) == {f'gz::sim::systems::{s}' for s in systems}
    assert plugins['gz::sim::systems::Sensors'].findtext('render_engine') == 'ogre2'
    assert plugins['gz::sim::systems::UserCommands'].get('filename') == 'gz-sim-user-commands-system'   # spawning
    assert float(world.findtext('physics/max_step_size')) == pytest.approx(0.005)


def test_light_and_ground(world):
    assert world.find("light[@type='directional']") is not None
    ground = models(world)['ground_plane']
    assert ground.findtext('static') == 'true'
    assert ground.findtext('link/collision/geometry/plane/normal') == '0 0 1'


def test_objects_are_vla_sims(world):
    objects = {n: m for n, m in models(world).items() if n.rpartition('_')[2] in OBJECT_SHAPES}
    assert len(objects) >= 4
    assert {n.partition('_')[0] for n in objects} == {'red', 'green', 'blue', 'yellow'}
    assert {n.rpartition('_')[2] for n in objects} == OBJECT_SHAPES
    sim_world = pytest.importorskip('vla_sim.world')     # pure Python (no MuJoCo)
    for name, m in objects.items():
        colour, shape = name.split('_')
        assert m.findtext('static') == 'true'
        rgb = [float(v) for v in m.findtext('link/visual/material/diffuse').split()][:3]
        assert rgb == pytest.approx(list(sim_world.COLOURS[colour]))
        geom = m.find('link/visual/geometry')
        size = sim_world.SHAPES[shape]
        if shape == 'box':
            assert [float(v) for v in geom.findtext('box/size').split()] == pytest.approx([2 * s for s in size])
        elif shape == 'ball':
            assert float(geom.findtext('sphere/radius')) == pytest.approx(size[0])
        else:
            assert float(geom.findtext('cylinder/radius')) == pytest.approx(size[0])
            assert float(geom.findtext('cylinder/length')) == pytest.approx(2 * size[1])
        assert pose(m)[2] == pytest.approx(sim_world.shape_height(shape))        # resting on the floor
        assert sim_world.shape_height(shape) * 2 > 0.56                          # above the lidar plane


def test_corridor_ahead_of_the_spawn_is_clear(world):
    """The CI smoke run walks forward from the origin: nothing within 1 m of the path for 4.5 m."""
    for name, m in models(world).items():
        if name.rpartition('_')[2] not in OBJECT_SHAPES:
            continue
        x, y = pose(m)[:2]
        radius = 0.36                                                             # largest footprint (box)
        assert not (-0.5 < x < 4.5 and abs(y) - radius < 1.0), f'{name} at ({x}, {y}) blocks the corridor'
        assert math.hypot(x, y) - radius > 1.4, f'{name} too close to the spawn (vla_sim robot_clearance)'


def test_walls_enclose_the_arena(world):
    walls = {n: m for n, m in models(world).items() if n.startswith('wall_')}
    assert len(walls) == 4
    for m in walls.values():
        x, y = pose(m)[:2]
        sx, sy, _ = (float(v) for v in m.findtext('link/collision/geometry/box/size').split())
        inner = max(abs(x) - sx / 2, abs(y) - sy / 2)
        assert inner == pytest.approx(5.0)                                        # vla_sim arena_half_size
