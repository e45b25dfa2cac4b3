"""Obstacle geometry for the safety gate, vectorised with numpy. No ROS imports.

Obstacles are 2-D points (x, y) in the base frame (REP 103: x forward, y left, metres).
The node turns its sensor messages into such points with:

    laser_scan_to_points(ranges, angle_min, angle_increment, range_min, range_max,
                         sensor_pose_xyyaw=(0, 0, 0)) -> (N, 2)       LaserScan
    depth_image_to_points(depth, fx, fy, cx, cy, depth_scale=1.0, stride=1) -> (N, 3)
                                                                      depth image -> optical frame
    points_in_base(points_xyz, translation, rotation_xyzw, min_height=-inf, max_height=inf) -> (N, 2)
                                                                      PointCloud2 / depth, via TF
    transform_points_2d(points_xy, pose_xyyaw) -> (N, 2)              planar sensor pose

The gate then asks a Footprint (polygon or circle) three questions, as Nav2's collision
monitor does with its STOP / SLOWDOWN / APPROACH polygons:

    Footprint(polygon=None, radius=None)
        .distance(points) -> (N,)      metres from the footprint's outline, 0 inside
        .zones(points, stop_margin, slowdown_margin) -> (nearest distance, n in stop, n in slowdown)
        .safe_fraction(points, vx, vy, wz, horizon, step, margin, min_points) -> float in [0, 1]
            the footprint moves along the twist for ``horizon`` s in ``step`` s steps; returns
            1.0 if no step brings ``min_points`` points within ``margin`` of it, else the last
            collision-free time / horizon. Scaling the twist by that fraction keeps the path
            (arcs scale with it) and pushes the collision at least ``horizon`` s away.
    polygon_problem(vertices) -> str | None   why a footprint polygon is unusable, or None
"""
from __future__ import annotations

import math

import numpy as np

def polygon_problem(vertices) -> str | None:
    """Reason a footprint polygon is unusable (few/non-finite vertices, no area, self-crossing)."""
    try:
        v = np.asarray(vertices, dtype=float)
    except (TypeError, ValueError):
        return 'footprint vertices must be numbers'
    if v.ndim != 2 or v.shape[1] != 2:
        return f'footprint must be a list of (x, y) vertices, got shape {v.shape}'
    if len(v) < 3:
        return f'footprint needs at least 3 vertices, got {len(v)}'
    if not np.isfinite(v).all():
        return 'footprint vertices must be finite'
    n = len(v)
    edge = np.hypot(*(np.roll(v, -1, axis=0) - v).T)
    if (edge < 1e-9).any():
        i = int(np.argmax(edge < 1e-9))
        return f'footprint vertices {i} and {(i + 1) % n} are the same point; remove one'
    for i in range(n):
        for j in range(i + 1, n):
            if j == i + 1 or (i == 0 and j == n - 1):
                continue    # neighbouring edges share a vertex
            if _segments_cross(v[i], v[(i + 1) % n], v[j], v[(j + 1) % n]):
                return f'footprint edges {i} and {j} cross; list the vertices in order around the outline'
    x, y = v[:, 0], v[:, 1]
    area = 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))
    if abs(area) < 1e-6:
        return 'footprint has no area (collinear or repeated vertices)'
    return None


def _segments_cross(p1, p2, q1, q2) -> bool:
    def orient(a, b, c) -> float:
        return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
    d1, d2 = orient(q1, q2, p1), orient(q1, q2, p2)
    d3, d4 = orient(p1, p2, q1), orient(p1, p2, q2)
    return d1 * d2 <= 0 and d3 * d4 <= 0 and not (d1 == d2 == 0)


class Footprint:
    """The robot's outline in the base frame: a simple polygon, or a circle about the origin."""

    def __init__(self, polygon=None, radius: float | None = None) -> None:
        if polygon is not None and len(polygon) > 0:
            problem = polygon_problem(polygon)
            if problem:
                raise ValueError(problem)
            v = np.asarray(polygon, dtype=float)
            self.polygon: np.ndarray | None = v
            self.radius: float | None = None
            self._ax, self._ay = v[:, 0].copy(), v[:, 1].copy()
            self._by = np.roll(self._ay, -1)          # end vertex's y, exact (not ay + ey)
            e = np.roll(v, -1, axis=0) - v
            self._ex, self._ey = e[:, 0].copy(), e[:, 1].copy()
            self._inv_ee = 1.0 / (self._ex ** 2 + self._ey ** 2)
            self._sign_ey = np.sign(self._ey)
            self.circumradius = float(np.hypot(v[:, 0], v[:, 1]).max())
            # distance from the origin to the outline when the origin is inside (else None): for
            # a point at range r, r - circumradius <= distance <= r - inradius
            d0 = float(self._distance_xy(np.zeros(1), np.zeros(1))[0])
            self.inradius = float(self._edge_distance(np.zeros(1), np.zeros(1))[0]) if d0 == 0.0 else None
        else:
            if radius is None or not (math.isfinite(radius) and radius > 0.0):
                raise ValueError(f'footprint radius must be finite and > 0, got {radius}')
            self.polygon = None
            self.radius = float(radius)
            self.circumradius = self.radius
            self.inradius = self.radius

    def __repr__(self) -> str:
        if self.polygon is None:
            return f'Footprint(radius={self.radius})'
        return f'Footprint(polygon={self.polygon.tolist()})'

    # -- distance ----------------------------------------------------------------------------
    def distance(self, points: np.ndarray) -> np.ndarray:
        """Distance (m) of each (x, y) point from the footprint's outline; 0 inside."""
        pts = np.asarray(points, dtype=float).reshape(-1, 2)
        return self._distance_xy(pts[:, 0], pts[:, 1])

    def _edge_distance(self, px: np.ndarray, py: np.ndarray) -> np.ndarray:
        """Distance of each point from the polygon's nearest edge (inside or out)."""
        rx = px[:, None] - self._ax           # (N, M): point relative to each edge's start
        ry = py[:, None] - self._ay
        t = (rx * self._ex + ry * self._ey) * self._inv_ee
        np.clip(t, 0.0, 1.0, out=t)
        dx = rx - t * self._ex
        dy = ry - t * self._ey
        return np.sqrt((dx * dx + dy * dy).min(axis=1))

    def _distance_xy(self, px: np.ndarray, py: np.ndarray) -> np.ndarray:
        if self.polygon is None:
            return np.maximum(np.hypot(px, py) - self.radius, 0.0)
        d = self._edge_distance(px, py)
        # even-odd rule: count edges crossed by a ray from the point towards +x. The ray crosses
        # a straddling edge where px < ax + (py - ay) * ex / ey; multiplied out by ey (keeping
        # its sign) so that no division can overflow
        pyc = py[:, None]
        straddle = (self._ay > pyc) != (self._by > pyc)
        side = (self._ex * (pyc - self._ay) - self._ey * (px[:, None] - self._ax)) * self._sign_ey
        crossing = straddle & (side > 0.0)
        inside = (np.count_nonzero(crossing, axis=1) & 1).astype(bool)
        d[inside] = 0.0
        return d

    def zones(self, points: np.ndarray, stop_margin: float, slowdown_margin: float) -> tuple[float, int, int]:
        """(distance of the nearest point, points within stop_margin, points within slowdown_margin).

        Same answer as ``distance`` but the exact distance is computed only for points that can
        matter: those within slowdown_margin of the circumcircle and those that may be nearest.
        """
        pts = np.asarray(points, dtype=float).reshape(-1, 2)
        if len(pts) == 0:
            return math.inf, 0, 0
        r = np.hypot(pts[:, 0], pts[:, 1])
        if self.polygon is None:
            d = np.maximum(r - self.radius, 0.0)
        else:
            window = slowdown_margin + self.circumradius
            if self.inradius is not None:
                window = max(window, float(r.min()) + self.circumradius - self.inradius)
            else:
                window = math.inf
            sel = r <= window
            d = self._distance_xy(pts[sel, 0], pts[sel, 1])
        return (float(d.min()) if len(d) else math.inf, int(np.count_nonzero(d <= stop_margin)),
                int(np.count_nonzero(d <= slowdown_margin)))

    # -- time to collision ("approach") ---------------------------------------------------------
    def safe_fraction(self, points: np.ndarray, vx: float, vy: float, wz: float, horizon: float,
                      step: float, margin: float, min_points: int = 1) -> float:
        """Fraction in [0, 1] to scale the twist (vx, vy, wz) by so that the footprint,
        grown by ``margin``, meets fewer than ``min_points`` points within ``horizon`` s.

        Poses are sampled every ``step`` s on the exact constant-twist arc (the last sample at
        ``horizon``); the obstacle points are moved into each future base frame at once.
        """
        if horizon <= 0.0 or (vx == 0.0 and vy == 0.0 and wz == 0.0):
            return 1.0
        pts = np.asarray(points, dtype=float).reshape(-1, 2)
        speed = math.hypot(vx, vy)
        reach = self.circumradius + margin + speed * horizon
        pts = pts[np.einsum('ij,ij->i', pts, pts) <= reach * reach]
        if len(pts) < min_points:
            return 1.0
        k = max(1, math.ceil(horizon / step - 1e-9))
        t = np.minimum(np.arange(1, k + 1) * step, horizon)
        th = wz * t
        s, c = np.sin(th), np.cos(th)
        if abs(wz) > 1e-9:
            x = (vx * s - vy * (1.0 - c)) / wz
            y = (vx * (1.0 - c) + vy * s) / wz
        else:
            x, y = vx * t, vy * t
        dx = pts[None, :, 0] - x[:, None]      # (K, N): points relative to each future position
        dy = pts[None, :, 1] - y[:, None]
        d2 = dx * dx + dy * dy
        if self.polygon is None:                 # a circle about the origin ignores the heading
            reach = self.radius + margin
            hits = np.count_nonzero(d2 <= reach * reach, axis=1) >= min_points
        else:
            reach = self.circumradius + margin
            near = d2 <= reach * reach           # only these can touch the grown polygon
            if np.count_nonzero(near) < min_points:
                return 1.0
            kk = np.nonzero(near)[0]
            ndx, ndy = dx[near], dy[near]
            ck, sk = c[kk], s[kk]
            qx = ck * ndx + sk * ndy             # R(-theta) @ (p - position)
            qy = ck * ndy - sk * ndx
            d = self._distance_xy(qx, qy)
            hits = np.bincount(kk[d <= margin], minlength=k) >= min_points
        if not hits.any():
            return 1.0
        first = int(np.argmax(hits))
        return float(t[first - 1] / horizon) if first > 0 else 0.0


# -- sensors -> points ------------------------------------------------------------------------
def transform_points_2d(points_xy, pose_xyyaw) -> np.ndarray:
    """Points from a planar sensor frame into the base frame; pose = sensor (x, y, yaw) in base."""
    pts = np.asarray(points_xy, dtype=float).reshape(-1, 2)
    x, y, yaw = (float(v) for v in pose_xyyaw)
    if not (math.isfinite(x) and math.isfinite(y) and math.isfinite(yaw)):
        raise ValueError(f'sensor pose must be finite, got {tuple(pose_xyyaw)}')
    if x == 0.0 and y == 0.0 and yaw == 0.0:
        return pts
    c, s = math.cos(yaw), math.sin(yaw)
    out = np.empty_like(pts)
    out[:, 0] = c * pts[:, 0] - s * pts[:, 1] + x
    out[:, 1] = s * pts[:, 0] + c * pts[:, 1] + y
    return out


def laser_scan_to_points(ranges, angle_min: float, angle_increment: float, range_min: float,
                         range_max: float, sensor_pose_xyyaw=(0.0, 0.0, 0.0)) -> np.ndarray:
    """sensor_msgs/LaserScan -> (N, 2) obstacle points in the base frame.

    Ranges outside [range_min, range_max], NaN and +-inf (REP 117: no return / error) are
    dropped. ``sensor_pose_xyyaw`` is the laser frame's (x, y, yaw) in the base frame.
    """
    if not (math.isfinite(angle_min) and math.isfinite(angle_increment)):
        raise ValueError(f'angle_min and angle_increment must be finite, got {angle_min}, {angle_increment}')
    r = np.asarray(ranges, dtype=float).ravel()
    lo = range_min if math.isfinite(range_min) else 0.0
    ok = np.isfinite(r) & (r >= lo) & (r <= range_max)
    idx = np.flatnonzero(ok)
    r = r[idx]
    ang = angle_min + angle_increment * idx
    pts = np.column_stack((r * np.cos(ang), r * np.sin(ang)))
    return transform_points_2d(pts, sensor_pose_xyyaw)


def quaternion_matrix(xyzw) -> np.ndarray:
    """3x3 rotation matrix of a quaternion (x, y, z, w); normalised first."""
    q = np.asarray(xyzw, dtype=float).ravel()
    n = float(np.dot(q, q))
    if q.shape != (4,) or not math.isfinite(n) or n < 1e-12:
        raise ValueError(f'rotation must be a finite non-zero quaternion (x, y, z, w), got {tuple(q)}')
    x, y, z, w = q * math.sqrt(2.0 / n)
    return np.array([
        [1.0 - (y * y + z * z), x * y - z * w, x * z + y * w],
        [x * y + z * w, 1.0 - (x * x + z * z), y * z - x * w],
        [x * z - y * w, y * z + x * w, 1.0 - (x * x + y * y)],
    ])


def points_in_base(points_xyz, translation=(0.0, 0.0, 0.0), rotation_xyzw=(0.0, 0.0, 0.0, 1.0),
                   min_height: float = -math.inf, max_height: float = math.inf) -> np.ndarray:
    """3-D sensor points (PointCloud2, depth) -> (N, 2) obstacle points in the base frame.

    ``translation``/``rotation_xyzw`` are the sensor frame's pose in the base frame (a TF
    base <- sensor). Points whose base-frame z is outside [min_height, max_height] (the floor,
    the ceiling) and non-finite points are dropped.
    """
    pts = np.asarray(points_xyz, dtype=float).reshape(-1, 3)
    t = np.asarray(translation, dtype=float).ravel()
    if t.shape != (3,) or not np.isfinite(t).all():
        raise ValueError(f'translation must be 3 finite numbers, got {tuple(t)}')
    base = pts @ quaternion_matrix(rotation_xyzw).T + t
    z = base[:, 2]
    keep = np.isfinite(base).all(axis=1) & (z >= min_height) & (z <= max_height)
    return base[keep, :2]


def depth_image_to_points(depth, fx: float, fy: float, cx: float, cy: float,
                          depth_scale: float = 1.0, stride: int = 1) -> np.ndarray:
    """Depth image (H, W) -> (N, 3) points in the camera's optical frame (z forward, x right,
    y down). ``depth_scale`` converts pixel values to metres (0.001 for 16UC1 millimetres);
    zero, negative and non-finite depths are dropped; ``stride`` keeps every stride-th pixel."""
    if not (fx > 0.0 and fy > 0.0) or stride < 1:
        raise ValueError(f'need fx, fy > 0 and stride >= 1, got fx={fx} fy={fy} stride={stride}')
    d = np.asarray(depth)
    if d.ndim != 2:
        raise ValueError(f'depth image must be 2-D (H, W), got shape {d.shape}')
    d = d[::stride, ::stride].astype(float) * depth_scale
    v, u = np.mgrid[0:d.shape[0], 0:d.shape[1]]
    u = u * stride
    v = v * stride
    ok = np.isfinite(d) & (d > 0.0)
    z = d[ok]
    return np.column_stack(((u[ok] - cx) * z / fx, (v[ok] - cy) * z / fy, z))
