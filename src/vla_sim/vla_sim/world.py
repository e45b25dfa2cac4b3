"""The world around the robot: an arena with coloured objects, randomised by a seed.

Pure data, no MuJoCo. The model builder creates one body for every colour x shape pair
(4 x 3 = 12); a :class:`World` says which of them are in the scene this episode and where,
so a new layout costs a few array writes, not a model compile.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

#: name -> RGB in 0..1 (saturated, so an image policy can tell them apart)
COLOURS: dict[str, tuple[float, float, float]] = {
    'red': (0.85, 0.10, 0.10),
    'green': (0.10, 0.65, 0.15),
    'blue': (0.10, 0.25, 0.85),
    'yellow': (0.95, 0.82, 0.08),
}

#: name -> MuJoCo geom size (half extents; metres). Every shape is taller than the lidar plane
#: (0.56 m) so the safety node's scan sees it.
SHAPES: dict[str, tuple[float, ...]] = {
    'box': (0.25, 0.25, 0.35),      # 0.5 x 0.5 x 0.7 m crate
    'ball': (0.30,),                # 0.6 m diameter
    'cylinder': (0.20, 0.40),       # radius, half height: 0.8 m tall
}


#: another object's surface closer than this to the straight way to a target blocks it, m (vla_safety's
#: default stop zone reaches 0.4 m from the base's centre: footprint 0.3 + margin 0.1): :func:`way_obstructed`
OBSTRUCTION_GAP = 0.45


def object_name(colour: str, shape: str) -> str:
    return f'{colour}_{shape}'


ALL_OBJECTS: tuple[str, ...] = tuple(object_name(c, s) for c in COLOURS for s in SHAPES)


def shape_height(shape: str) -> float:
    """Height of the object's centre above the ground (it rests on the floor)."""
    size = SHAPES[shape]
    return size[0] if shape == 'ball' else size[-1]


def footprint_radius(shape: str) -> float:
    """Radius of the smallest vertical cylinder around the object (for planning and spacing)."""
    size = SHAPES[shape]
    return math.hypot(size[0], size[1]) if shape == 'box' else size[0]


@dataclass(frozen=True)
class WorldObject:
    """One object in the scene."""

    colour: str
    shape: str
    xy: tuple[float, float]
    yaw: float = 0.0
    rgba: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)

    @property
    def name(self) -> str:
        return object_name(self.colour, self.shape)

    @property
    def label(self) -> str:
        """How instructions name it: 'red box'."""
        return f'{self.colour} {self.shape}'

    @property
    def position(self) -> np.ndarray:
        return np.array([self.xy[0], self.xy[1], shape_height(self.shape)])

    def surface_distance(self, xy) -> float:
        """Planar distance from point ``xy`` to the object's footprint (0 inside)."""
        d = np.asarray(xy, dtype=float) - np.asarray(self.xy)
        if self.shape == 'box':
            c, s = math.cos(self.yaw), math.sin(self.yaw)
            local = np.array([c * d[0] + s * d[1], -s * d[0] + c * d[1]])
            hx, hy = SHAPES['box'][:2]
            return float(np.linalg.norm(np.maximum(np.abs(local) - (hx, hy), 0.0)))
        return max(0.0, float(np.linalg.norm(d)) - SHAPES[self.shape][0])


@dataclass(frozen=True)
class WorldConfig:
    """How worlds are randomised. Distances in metres.

    arena_half_size:   the walls stand at +-this in x and y (fixed when the model is built).
    object_zone:       objects are placed within +-this in x and y.
    n_objects:         (min, max) number of objects in a scene, inclusive.
    min_separation:    minimum distance between object centres (leaves a walkway between them).
    robot_clearance:   minimum distance from the robot's start to an object centre.
    robot_start_zone:  the robot starts within +-this of the origin, facing a random direction.
    colour_jitter:     +- per channel on each object's colour.
    """

    arena_half_size: float = 5.0
    object_zone: float = 3.5
    n_objects: tuple[int, int] = (3, 6)
    min_separation: float = 1.6
    robot_clearance: float = 1.4
    robot_start_zone: float = 1.0
    colour_jitter: float = 0.06

    def __post_init__(self) -> None:
        lo, hi = self.n_objects
        if not (1 <= lo <= hi <= len(ALL_OBJECTS)):
            raise ValueError(f'WorldConfig.n_objects must be (min, max) with 1 <= min <= max <= {len(ALL_OBJECTS)}, '
                             f'got {self.n_objects}')
        if self.object_zone + 0.5 > self.arena_half_size:
            raise ValueError(f'WorldConfig.object_zone ({self.object_zone}) must leave 0.5 m to the walls '
                             f'(arena_half_size {self.arena_half_size}); shrink it or enlarge the arena')


@dataclass(frozen=True)
class World:
    """One scene: the robot's start pose and the objects present."""

    seed: int | None
    robot_start: tuple[float, float, float]        # x, y, yaw (world frame)
    objects: tuple[WorldObject, ...]
    config: WorldConfig = field(default_factory=WorldConfig)

    def get(self, name: str) -> WorldObject:
        for o in self.objects:
            if o.name == name:
                return o
        raise KeyError(f"no object '{name}' in this world; present: {', '.join(o.name for o in self.objects)}")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(o.name for o in self.objects)


def way_obstructed(world: World, target: WorldObject, gap: float = OBSTRUCTION_GAP, arrive: float = 0.7) -> bool:
    """Whether another object's surface comes closer than ``gap`` to the straight line from the
    robot's start to ``arrive`` m short of ``target``'s centre (where a walk_to ends)."""
    start, goal = np.asarray(world.robot_start[:2]), np.asarray(target.xy, dtype=float)
    length = float(np.linalg.norm(goal - start))
    if length <= arrive:
        return False
    end = start + (goal - start) * (1.0 - arrive / length)
    line = [start + t * (end - start) for t in np.linspace(0.0, 1.0, max(2, int(length / 0.05)))]
    return any(o.surface_distance(p) < gap for o in world.objects if o.name != target.name for p in line)


def start_beside(world: World, target: str, rng: np.random.Generator, tries: int = 200) -> World | None:
    """``world`` with the robot starting where a walk to another object than ``target`` ended: 0.42 to
    0.55 m from that object's surface, facing it (+-0.3 rad), clear of every other object and the
    walls; None when no place is found."""
    others = [o for o in world.objects if o.name != target]
    if not others:
        return None
    half = world.config.arena_half_size
    for _ in range(tries):
        o = others[int(rng.integers(len(others)))]
        ang = float(rng.uniform(-math.pi, math.pi))
        gap = float(rng.uniform(0.42, 0.55))
        xy = np.asarray(o.xy, dtype=float)
        for r in np.arange(0.05, 1.5, 0.01):       # out along the ray until the gap to the surface
            p = xy + r * np.array([math.cos(ang), math.sin(ang)])
            if o.surface_distance(p) >= gap:
                break
        if max(abs(p[0]), abs(p[1])) > half - 0.6:
            continue
        if any(q.surface_distance(p) < 0.5 for q in world.objects if q.name != o.name):
            continue
        yaw = math.atan2(xy[1] - p[1], xy[0] - p[0]) + float(rng.uniform(-0.3, 0.3))
        return replace(world, robot_start=(float(p[0]), float(p[1]), math.atan2(math.sin(yaw), math.cos(yaw))))
    return None

def sample_world(seed: int | None, config: WorldConfig | None = None) -> World:
    """A random scene; the same seed always gives the same scene."""
    config = config or WorldConfig()
    rng = np.random.default_rng(seed)
    z = config.robot_start_zone
    start = (float(rng.uniform(-z, z)), float(rng.uniform(-z, z)), float(rng.uniform(-math.pi, math.pi)))
    n = int(rng.integers(config.n_objects[0], config.n_objects[1] + 1))
    kinds = rng.permutation(len(ALL_OBJECTS))
    placed: list[WorldObject] = []
    for k in kinds:
        if len(placed) == n:
            break
        colour, shape = list(COLOURS)[k // len(SHAPES)], list(SHAPES)[k % len(SHAPES)]
        for _ in range(200):  # rejection sampling; the zone is large enough that this rarely loops
            xy = rng.uniform(-config.object_zone, config.object_zone, size=2)
            if math.dist(xy, start[:2]) < config.robot_clearance:
                continue
            if any(math.dist(xy, o.xy) < config.min_separation for o in placed):
                continue
            rgb = np.clip(np.array(COLOURS[colour]) + rng.uniform(-config.colour_jitter, config.colour_jitter, 3), 0, 1)
            placed.append(WorldObject(colour, shape, (float(xy[0]), float(xy[1])),
                                      float(rng.uniform(-math.pi, math.pi)) if shape == 'box' else 0.0,
                                      (*map(float, rgb), 1.0)))
            break
    return World(seed, start, tuple(placed), config)
