"""Planar navigation for the scripted expert: a cost-to-go field over the arena.

The field is computed once per (world, goal) by relaxing a grid (Dijkstra's recurrence,
vectorised with NumPy), so the way to the goal is known from *every* cell: the expert can be
pushed off its path, or start anywhere, and still find its way. Obstacles are inflated by the
robot's radius (near-lethal cost) and carry a soft penalty band beyond that, so paths keep a
margin from objects and walls.
"""
from __future__ import annotations

import math

import numpy as np

from vla_sim.world import SHAPES, World, WorldObject

_NEIGHBOURS = [(di, dj, math.hypot(di, dj)) for di in (-1, 0, 1) for dj in (-1, 0, 1) if di or dj]
LETHAL = 1000.0


def surface_distance_grid(o: WorldObject, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Planar distance from each (X, Y) to the object's footprint (0 inside)."""
    dx, dy = X - o.xy[0], Y - o.xy[1]
    if o.shape == 'box':
        c, s = math.cos(o.yaw), math.sin(o.yaw)
        lx, ly = np.abs(c * dx + s * dy), np.abs(-s * dx + c * dy)
        hx, hy = SHAPES['box'][:2]
        return np.hypot(np.maximum(lx - hx, 0.0), np.maximum(ly - hy, 0.0))
    return np.maximum(np.hypot(dx, dy) - SHAPES[o.shape][0], 0.0)


class NavigationField:
    """Cost-to-go to the cells within ``goal_distance`` of the target's surface.

    resolution:    grid cell size, m.
    robot_radius:  the robot's footprint radius (arms hanging), m: closer than this to an
                   obstacle is a collision.
    clearance:     width of the penalty band beyond ``robot_radius``, m.
    obstacle_radius: how near the robot's centre may come to the surface of an object other than the
                   target, m (default ``robot_radius``): e.g. where vla_safety's STOP zone begins,
                   so a path never asks for what the gate will not let through.
    """

    def __init__(self, world: World, target: str, *, resolution: float = 0.1, robot_radius: float = 0.3,
                 clearance: float = 0.3, goal_distance: float = 0.45, penalty: float = 15.0,
                 obstacle_radius: float | None = None) -> None:
        self.world, self.target, self.resolution = world, world.get(target), resolution
        half = world.config.arena_half_size
        self.half = half
        n = int(round(2 * half / resolution))
        self.n = n
        centres = -half + resolution * (0.5 + np.arange(n))
        X, Y = np.meshgrid(centres, centres, indexing='ij')
        cost = np.ones((n, n))
        lethal = np.zeros((n, n), dtype=bool)
        wall = half - np.maximum(np.abs(X), np.abs(Y))
        lethal |= wall < robot_radius
        cost += penalty * np.clip(1.0 - (wall - robot_radius) / clearance, 0.0, 1.0)
        keep_off = robot_radius if obstacle_radius is None else obstacle_radius
        for o in world.objects:
            sd = surface_distance_grid(o, X, Y)
            if o.name == target:
                lethal |= sd < robot_radius
                goal = sd <= goal_distance
            else:
                lethal |= sd < keep_off
                cost += penalty * np.clip(1.0 - (sd - keep_off) / clearance, 0.0, 1.0)
        cost[lethal] = LETHAL
        goal &= ~lethal
        if not goal.any():
            raise ValueError(f"no free cell within {goal_distance} m of '{target}'")
        self.cost = cost
        self.goal = goal
        self.to_go = self._relax(cost, goal)

    @staticmethod
    def _relax(cost: np.ndarray, goal: np.ndarray) -> np.ndarray:
        n = cost.shape[0]
        D = np.full((n + 2, n + 2), np.inf)
        D[1:-1, 1:-1][goal] = 0.0
        C = np.full((n + 2, n + 2), np.inf)
        C[1:-1, 1:-1] = cost
        inner = (slice(1, -1), slice(1, -1))
        edges = [(di, dj, length * (cost + C[1 + di:n + 1 + di, 1 + dj:n + 1 + dj]) / 2.0)
                 for di, dj, length in _NEIGHBOURS]
        for _ in range(8 * n):
            cur = D[inner]
            best = cur.copy()
            for di, dj, e in edges:
                np.minimum(best, D[1 + di:n + 1 + di, 1 + dj:n + 1 + dj] + e, out=best)
            if np.array_equal(best, cur):
                break
            D[inner] = best
        return D[inner]

    def cell(self, xy) -> tuple[int, int]:
        i = int((xy[0] + self.half) / self.resolution)
        j = int((xy[1] + self.half) / self.resolution)
        return min(max(i, 0), self.n - 1), min(max(j, 0), self.n - 1)

    def centre(self, ij) -> np.ndarray:
        return -self.half + self.resolution * (0.5 + np.asarray(ij, dtype=float))

    def path(self, xy, max_cells: int = 25) -> list[tuple[int, int]]:
        """Steepest descent of the cost-to-go from ``xy``, at most ``max_cells`` cells."""
        ij = self.cell(xy)
        out = [ij]
        for _ in range(max_cells):
            i, j = ij
            best, nxt = self.to_go[i, j], None
            for di, dj, _ in _NEIGHBOURS:
                a, b = i + di, j + dj
                if 0 <= a < self.n and 0 <= b < self.n and self.to_go[a, b] < best:
                    best, nxt = self.to_go[a, b], (a, b)
            if nxt is None:
                break
            ij = nxt
            out.append(ij)
        return out

    def lookahead(self, xy, distance: float = 1.5) -> np.ndarray:
        """The farthest point of the descent path (within ``distance``) that the robot can reach in a
        straight line without crossing costlier ground than the path itself."""
        xy = np.asarray(xy, dtype=float)
        cells = self.path(xy, max_cells=int(distance / self.resolution) + 1)
        if len(cells) < 2:
            return self.target.position[:2] if not self.goal[cells[0]] else xy
        path_cost = np.maximum.accumulate([self.cost[c] for c in cells])
        chosen = self.centre(cells[1])
        for k in range(2, len(cells)):
            p = self.centre(cells[k])
            if np.linalg.norm(p - xy) > distance:
                break
            if self._segment_cost(xy, p) <= path_cost[k] + 0.5:
                chosen = p
        return chosen

    def _segment_cost(self, a: np.ndarray, b: np.ndarray) -> float:
        n = max(2, int(np.linalg.norm(b - a) / (self.resolution * 0.5)))
        worst = 0.0
        for t in np.linspace(0.0, 1.0, n):
            worst = max(worst, self.cost[self.cell(a + t * (b - a))])
        return worst
