"""Resizing (H, W, 3) uint8 RGB images with OpenCV, for tools and benchmarks.

Policies resize with their own pre-processing, not with :func:`resize_rgb`: the seed_vla
processor uses PyTorch's antialiased bilinear kernel, the one its checkpoints were trained
with.
"""
from __future__ import annotations

import operator

import cv2
import numpy as np

from vla_common.image_conversion import MAX_SIDE

#: ``resize_rgb`` methods and the OpenCV interpolation each uses.
_INTERPOLATION = {
    'area': cv2.INTER_AREA,                    # pixel-area average when shrinking (antialiased)
    'bilinear': cv2.INTER_LINEAR,              # 2x2 taps: no antialiasing; for enlarging
    'nearest': cv2.INTER_NEAREST_EXACT,        # the pixel under each output pixel's centre
}
RESIZE_METHODS = tuple(_INTERPOLATION)


def resize_rgb(rgb: np.ndarray, height: int, width: int, method: str = 'area') -> np.ndarray:
    """Resize (H, W, 3) uint8 RGB to (height, width, 3) with ``cv2.resize``; raises ValueError on bad input.

    'area' averages the source pixels each output pixel covers (use it to shrink: no
    aliasing); 'bilinear' is OpenCV's 2x2-tap bilinear (fine to enlarge, aliases when
    shrinking by more than 2x); 'nearest' takes the pixel under each output pixel's centre.
    Always a new C-contiguous array. Policies do not resize through here: see the module
    docstring.
    """
    if not isinstance(rgb, np.ndarray) or rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f'resize_rgb needs an (H, W, 3) uint8 array, got {getattr(rgb, "shape", type(rgb))}')
    height, width = operator.index(height), operator.index(width)
    if not (0 < height <= MAX_SIDE and 0 < width <= MAX_SIDE) or 0 in rgb.shape:
        raise ValueError(f'cannot resize {rgb.shape[1]}x{rgb.shape[0]} to {width}x{height}')
    if method not in _INTERPOLATION:
        raise ValueError(f'unknown resize method {method!r}; use one of {RESIZE_METHODS}')
    if rgb.shape[:2] == (height, width):
        return np.array(rgb, order='C', copy=True)
    return cv2.resize(rgb, (width, height), interpolation=_INTERPOLATION[method])
