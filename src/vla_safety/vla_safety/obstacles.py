"""Rule 2 of the gate (gate.py's doc) and the zones: which obstacle sources count, and where
their points lie around the footprint. No ROS imports.

    read_obstacles(sensors, params, now) -> Obstacles
        points    the fresh sources' points, (N, 2) base frame, or None if there are none
        reasons   '<source>_timeout' of every required source that is missing, empty or stale
        nearest   distance from the footprint to the nearest point, m (inf if none)
        in_stop / in_slowdown   at least min_points points in the STOP / SLOWDOWN zone
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .gate_types import SensorSnapshot, fresh, source_timeout_reason
from .params import SafetyParams


@dataclass(frozen=True)
class Obstacles:
    points: np.ndarray | None = None
    reasons: tuple[str, ...] = ()
    nearest: float = math.inf
    in_stop: bool = False
    in_slowdown: bool = False

    @property
    def base_stop(self) -> bool:
        """A required source is not usable: the base must stop (the joints go on)."""
        return bool(self.reasons)


def read_obstacles(sensors: SensorSnapshot, params: SafetyParams, now: float) -> Obstacles:
    points, reasons = _fresh_points(sensors, params, now)
    if points is None:
        return Obstacles(reasons=reasons)
    nearest, n_stop, n_slow = params.footprint_shape.zones(points, params.stop_margin, params.slowdown_margin)
    return Obstacles(points, reasons, nearest, n_stop >= params.min_points, n_slow >= params.min_points)


def _fresh_points(sensors: SensorSnapshot, params: SafetyParams, now: float
                  ) -> tuple[np.ndarray | None, tuple[str, ...]]:
    """Only fresh sources' points are used; a required source that is not fresh is a reason."""
    clouds = []
    reasons = []
    for name in sorted(set(sensors.sources) | sensors.required):
        reading = sensors.sources.get(name)
        ok = (reading is not None and reading.points is not None
              and fresh(reading.received_time, now, params.timeout_of(name)))
        if ok:
            if len(reading.points):
                clouds.append(reading.points)
        elif name in sensors.required:
            reasons.append(source_timeout_reason(name))
    points = clouds[0] if len(clouds) == 1 else (np.concatenate(clouds) if clouds else None)
    return points, tuple(reasons)
