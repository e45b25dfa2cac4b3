"""The waist lidar: a planar scan by ray casting (mj_multiRay), in sensor_msgs/LaserScan terms.

Beams lie in the xy plane of the ``laser`` frame, counter-clockwise from ``angle_min``
(REP 103: 0 = straight ahead, +pi/2 = left). The robot's own geoms are not hit (a real
waist lidar would have a mask for the arms and legs); readings with no return within
``range_max`` are +inf (REP 117).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import mujoco
import numpy as np

from vla_sim.model_builder import GROUP_OBJECTS, GROUP_STATIC


@dataclass(frozen=True)
class ScanConfig:
    """Lidar geometry and noise. Angles in radians, ranges in metres.

    n_beams:      beams per scan, spread evenly over [angle_min, angle_min + fov).
    angle_min:    first beam's angle.
    fov:          angular span covered (2*pi for a full turn; the last beam stops one step short).
    range_min:    readings closer than this are reported as -inf (too close to measure).
    range_max:    no return within this is +inf.
    noise_std:    Gaussian range noise (0 = exact).
    """

    n_beams: int = 360
    angle_min: float = -math.pi
    fov: float = 2.0 * math.pi
    range_min: float = 0.1
    range_max: float = 10.0
    noise_std: float = 0.0

    def __post_init__(self) -> None:
        if self.n_beams < 1:
            raise ValueError(f'ScanConfig.n_beams must be >= 1, got {self.n_beams}')
        if not (0 < self.fov <= 2 * math.pi):
            raise ValueError(f'ScanConfig.fov must be in (0, 2*pi], got {self.fov}')
        if not (0 <= self.range_min < self.range_max):
            raise ValueError(f'ScanConfig needs 0 <= range_min < range_max, got {self.range_min}, {self.range_max}')

    @property
    def angle_increment(self) -> float:
        full = self.fov >= 2 * math.pi - 1e-9
        return self.fov / (self.n_beams if full else max(self.n_beams - 1, 1))

    @property
    def angle_max(self) -> float:
        return self.angle_min + (self.n_beams - 1) * self.angle_increment

    @property
    def angles(self) -> np.ndarray:
        return self.angle_min + self.angle_increment * np.arange(self.n_beams)


class LaserScanner:
    """Casts the scan's rays from a site of the model."""

    def __init__(self, model: mujoco.MjModel, site: int, config: ScanConfig | None = None) -> None:
        self.config = config or ScanConfig()
        self._model = model
        self._site = site
        a = self.config.angles
        self._local = np.stack([np.cos(a), np.sin(a), np.zeros_like(a)], axis=1)   # (n, 3) in the laser frame
        self._groups = np.zeros(6, dtype=np.uint8)
        self._groups[[GROUP_STATIC, GROUP_OBJECTS]] = 1          # not the robot (group 2)
        self._geomid = np.zeros(self.config.n_beams, dtype=np.int32)
        self._dist = np.zeros(self.config.n_beams, dtype=np.float64)

    def scan(self, data: mujoco.MjData, rng: np.random.Generator | None = None) -> np.ndarray:
        """Ranges (n_beams,) float32 for the current state of ``data`` (after mj_forward / mj_step)."""
        c = self.config
        origin = data.site_xpos[self._site].copy()
        R = data.site_xmat[self._site].reshape(3, 3)
        vec = (self._local @ R.T).reshape(-1)
        mujoco.mj_multiRay(self._model, data, origin, vec, self._groups, 1, -1, self._geomid, self._dist,
                           None, c.n_beams, c.range_max)
        r = self._dist.copy()
        hit = self._geomid >= 0
        if c.noise_std > 0 and rng is not None:
            r[hit] += rng.normal(0.0, c.noise_std, int(hit.sum()))
        out = np.full(c.n_beams, np.inf, dtype=np.float32)
        out[hit] = r[hit]
        out[hit & (r > c.range_max)] = np.inf
        out[hit & (r < c.range_min)] = -np.inf
        return out
