"""The head camera: offscreen rendering and pinhole intrinsics in ROS conventions.

MuJoCo's camera looks along its -z with +y up and a vertical field of view ``fovy``; the
images it renders are row 0 = top, like ROS images. Intrinsics follow sensor_msgs/CameraInfo:
pixel (u, v) = (column, row) with integer coordinates at pixel *centres*, so the principal
point of an ideal W x H camera is ((W - 1) / 2, (H - 1) / 2), and fx = fy for square pixels.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass

import mujoco
import numpy as np


@dataclass(frozen=True)
class CameraIntrinsics:
    """Ideal pinhole camera (no distortion), as in sensor_msgs/CameraInfo."""

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float

    @classmethod
    def from_fovy(cls, fovy_deg: float, width: int, height: int) -> 'CameraIntrinsics':
        f = 0.5 * height / math.tan(math.radians(fovy_deg) / 2.0)
        return cls(width, height, f, f, (width - 1) / 2.0, (height - 1) / 2.0)

    @property
    def K(self) -> list[float]:
        return [self.fx, 0.0, self.cx, 0.0, self.fy, self.cy, 0.0, 0.0, 1.0]

    @property
    def P(self) -> list[float]:
        return [self.fx, 0.0, self.cx, 0.0, 0.0, self.fy, self.cy, 0.0, 0.0, 0.0, 1.0, 0.0]

    @property
    def horizontal_fov(self) -> float:
        """radians"""
        return 2.0 * math.atan(self.width / 2.0 / self.fx)

    def project(self, p_optical: np.ndarray) -> tuple[float, float]:
        """A point in the optical frame (z forward) -> (u, v) pixel coordinates."""
        x, y, z = p_optical
        return self.fx * x / z + self.cx, self.fy * y / z + self.cy


def gl_backend() -> str:
    """The OpenGL backend MuJoCo renders with (MUJOCO_GL; vla_sim defaults it to 'egl')."""
    return os.environ.get('MUJOCO_GL', '') or 'default'


class CameraRenderer:
    """Renders one camera of a model at any number of image sizes (one GL context per size).

    Shadows and reflections are off: on a CPU rasteriser (Mesa llvmpipe behind EGL)
    they cost more than the rest of the frame, and a policy learns nothing from them.
    Not thread-safe: render from one thread.
    """

    def __init__(self, model: mujoco.MjModel, camera: int | str) -> None:
        self._model = model
        self._camera = camera
        self._renderers: dict[tuple[int, int], mujoco.Renderer] = {}
        self._depth_renderers: dict[tuple[int, int], mujoco.Renderer] = {}
        self.frames = 0

    def _get(self, cache: dict, width: int, height: int, depth: bool) -> mujoco.Renderer:
        r = cache.get((width, height))
        if r is None:
            max_w, max_h = self._model.vis.global_.offwidth, self._model.vis.global_.offheight
            if width > max_w or height > max_h:
                raise ValueError(f'image {width}x{height} exceeds the offscreen buffer {max_w}x{max_h}; '
                                 'raise ModelConfig.offscreen_size')
            try:
                r = mujoco.Renderer(self._model, height=height, width=width)
            except Exception as exc:  # noqa: BLE001 - GL errors come as several types; re-raise with the fix
                raise RuntimeError(
                    f'MuJoCo could not open an offscreen GL context with MUJOCO_GL={gl_backend()}: {exc}. '
                    'Set MUJOCO_GL=egl (GPU or Mesa llvmpipe) or MUJOCO_GL=osmesa before Python starts, '
                    'and install libegl1 / libosmesa6.') from exc
            for flag in (mujoco.mjtRndFlag.mjRND_SHADOW, mujoco.mjtRndFlag.mjRND_REFLECTION):
                r.scene.flags[flag] = 0
            if depth:
                r.enable_depth_rendering()
            cache[(width, height)] = r
        return r

    def render(self, data: mujoco.MjData, width: int, height: int) -> np.ndarray:
        """H x W x 3 uint8 RGB (a new array)."""
        r = self._get(self._renderers, width, height, False)
        r.update_scene(data, camera=self._camera)
        self.frames += 1
        return r.render()

    def render_depth(self, data: mujoco.MjData, width: int, height: int) -> np.ndarray:
        """H x W float32 metres along the optical axis (ROS 32FC1 depth); NaN where nothing is hit."""
        r = self._get(self._depth_renderers, width, height, True)
        r.update_scene(data, camera=self._camera)
        depth = r.render().astype(np.float32)
        far = self._model.vis.map.zfar * self._model.stat.extent
        depth[depth >= far * 0.999] = np.nan
        return depth

    def close(self) -> None:
        for r in list(self._renderers.values()) + list(self._depth_renderers.values()):
            r.close()
        self._renderers.clear()
        self._depth_renderers.clear()
