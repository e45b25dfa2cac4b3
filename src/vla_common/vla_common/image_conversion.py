"""Camera images to NumPy and back, without rclpy.

Decoding takes the plain fields of a ``sensor_msgs/Image`` (or a duck-typed message) and
returns NumPy arrays in the units the policy uses: colour as H x W x 3 uint8 RGB, depth as
H x W float32 metres with NaN where unknown. Every malformed input raises
:class:`ImageDecodeError` (a ``ValueError``) with a one-line reason, never anything else,
so the node can count the frame as bad and carry on (a bad frame is a missing frame: the
policy gets no new observation and the safety node stops the robot once actions go stale).

Public API::

    decode_image(height, width, encoding, is_bigendian, step, data) -> DecodedImage
        .kind == 'rgb'   -> .rgb   (H, W, 3) uint8 RGB   (mono replicated, alpha dropped)
        .kind == 'depth' -> .depth (H, W) float32 metres (16UC1 mm -> m, 0 mm -> NaN)
    encode_image(array, encoding, *, is_bigendian=False, row_padding=0) -> EncodedImage
        # a NamedTuple (height, width, encoding, is_bigendian, step, data) for a publisher
    image_msg_to_rgb(msg, *, use_cv_bridge=True) -> (H, W, 3) uint8 RGB
    image_msg_to_depth(msg) -> (H, W) float32 metres
    cv_bridge_available() -> bool

Compressed images (``decode_compressed``, ``compressed_msg_to_rgb``) are decoded by
:mod:`vla_common.image_compressed`, and ``resize_rgb`` lives in :mod:`vla_common.image_resize`;
both use this module's limits and :class:`ImageDecodeError`.

Encodings (``SUPPORTED_ENCODINGS``, matched case-insensitively): rgb8, bgr8, rgba8, bgra8,
mono8, and the OpenCV aliases 8UC1 (= mono8), 8UC3 (= bgr8), 8UC4 (= bgra8), as cv_bridge
reads them; depth 16UC1 (millimetres, REP 118: 0 = no reading) and 32FC1 (metres, NaN/inf
kept as they are). ``is_bigendian`` matters only for 16UC1 and 32FC1.

Decoding rules: row padding (``step`` > ``width * bytes_per_pixel``) is skipped; ``data``
must hold exactly ``step * height`` bytes; 16/32-bit rows must start on a pixel boundary
(``step`` a multiple of 2 or 4); images larger than ``MAX_SIDE`` pixels a side or
``MAX_BYTES`` bytes are refused. ``data`` may be bytes, bytearray, memoryview or
array.array (read as raw bytes; rclpy gives ``array('B')``), a uint8 NumPy array, or a
sequence of ints in 0..255. The arrays returned are fresh, C-contiguous and writable: they
never alias the message buffer.

Who does what. OpenCV (``cv2``, PyPI ``opencv-python-headless``, rosdep ``python3-opencv``)
does the pixel work: channel order and alpha/mono (``cv2.cvtColor``), JPEG/PNG decoding
(``cv2.imdecode``) and resizing (``cv2.resize``). This module keeps only what OpenCV does not:
checking the message fields, skipping row padding (a strided NumPy view), and reading
16UC1/32FC1 in the message's byte order and converting to metres. cv_bridge is not on PyPI;
where it is installed, ``image_msg_to_rgb`` uses it for the encodings not listed above
(bayer, yuv422, ...). Per-frame costs: ``vla_benchmark --decode-only``.
"""
from __future__ import annotations

import array
import functools
import operator
from dataclasses import dataclass
from typing import Any, NamedTuple

import cv2
import numpy as np

#: Largest accepted height or width, in pixels.
MAX_SIDE = 8192
#: Largest accepted payload (``step * height`` or compressed size), in bytes (200 MiB).
MAX_BYTES = 200 * 1024 * 1024


class ImageDecodeError(ValueError):
    """An image message cannot be decoded; the message is a one-line reason."""


@dataclass(frozen=True, eq=False)
class DecodedImage:
    """Result of :func:`decode_image`.

    kind:     'rgb' or 'depth'.
    encoding: the message's encoding string, as given.
    rgb:      (H, W, 3) uint8 RGB when kind == 'rgb', else None.
    depth:    (H, W) float32 metres, NaN = unknown, when kind == 'depth', else None.
    """

    kind: str
    encoding: str
    rgb: np.ndarray | None = None
    depth: np.ndarray | None = None


class EncodedImage(NamedTuple):
    """The fields of a ``sensor_msgs/Image``, in message order (header excluded)."""

    height: int
    width: int
    encoding: str
    is_bigendian: int
    step: int
    data: bytes


@dataclass(frozen=True)
class _Encoding:
    name: str          # canonical ROS name
    kind: str          # 'rgb' | 'depth'
    channels: int
    itemsize: int      # bytes per channel
    # cv2.cvtColor codes; None = the pixels are copied as they are
    to_rgb: int | None = None       # message pixels -> RGB
    from_rgb: int | None = None     # (H, W, 3) RGB -> message pixels
    from_rgba: int | None = None    # (H, W, 4) RGBA -> message pixels (4-channel encodings)

    @property
    def bytes_per_pixel(self) -> int:
        return self.channels * self.itemsize


_RGBA = (cv2.COLOR_RGBA2RGB, cv2.COLOR_RGB2RGBA, None)
_BGR = (cv2.COLOR_BGR2RGB, cv2.COLOR_RGB2BGR, None)
_BGRA = (cv2.COLOR_BGRA2RGB, cv2.COLOR_RGB2BGRA, cv2.COLOR_RGBA2BGRA)
_MONO = (cv2.COLOR_GRAY2RGB, None, None)
_ENCODINGS = {e.name.lower(): e for e in (
    _Encoding('rgb8', 'rgb', 3, 1),
    _Encoding('bgr8', 'rgb', 3, 1, *_BGR),
    _Encoding('rgba8', 'rgb', 4, 1, *_RGBA),
    _Encoding('bgra8', 'rgb', 4, 1, *_BGRA),
    _Encoding('mono8', 'rgb', 1, 1, *_MONO),
    _Encoding('8UC1', 'rgb', 1, 1, *_MONO),
    _Encoding('8UC3', 'rgb', 3, 1, *_BGR),
    _Encoding('8UC4', 'rgb', 4, 1, *_BGRA),
    _Encoding('16UC1', 'depth', 1, 2),
    _Encoding('32FC1', 'depth', 1, 4),
)}
#: Encodings :func:`decode_image` and :func:`encode_image` accept (case-insensitive).
SUPPORTED_ENCODINGS = tuple(e.name for e in _ENCODINGS.values())


def short_repr(value: Any) -> str:
    """repr() cut to a readable length, always one line (repr escapes newlines)."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + '...'


def _lookup(encoding: Any) -> _Encoding:
    if not isinstance(encoding, str):
        raise ImageDecodeError(f'encoding must be a string, got {type(encoding).__name__}')
    spec = _ENCODINGS.get(encoding.lower())
    if spec is None:
        raise ImageDecodeError(
            f'unsupported encoding {short_repr(encoding)}; supported: {", ".join(SUPPORTED_ENCODINGS)}')
    return spec


def _as_int(name: str, value: Any) -> int:
    if isinstance(value, bool):
        raise ImageDecodeError(f'{name} must be an integer, got bool')
    try:
        return operator.index(value)
    except TypeError:
        raise ImageDecodeError(f'{name} must be an integer, got {type(value).__name__}') from None


def buffer_as_uint8(data: Any) -> np.ndarray:
    """Any supported ``data`` value as a flat uint8 array (a view where possible)."""
    if isinstance(data, (bytes, bytearray, memoryview, array.array)):
        try:
            mv = memoryview(data)
            if mv.nbytes > MAX_BYTES:
                raise ImageDecodeError(f'data is {mv.nbytes} bytes, more than the {MAX_BYTES} accepted')
            if not mv.c_contiguous:
                mv = memoryview(mv.tobytes())
            return np.frombuffer(mv.cast('B'), dtype=np.uint8)
        except (TypeError, ValueError) as exc:  # e.g. a released memoryview
            if isinstance(exc, ImageDecodeError):
                raise
            raise ImageDecodeError(f'data buffer cannot be read: {exc}') from None
    if isinstance(data, np.ndarray) and data.dtype == np.uint8:
        return np.ascontiguousarray(data.reshape(-1))
    if isinstance(data, (str, dict, set)) or data is None:
        raise ImageDecodeError(f'data must be bytes or a sequence of ints, got {type(data).__name__}')
    try:
        arr = np.asarray(data)
    except (TypeError, ValueError, OverflowError):
        raise ImageDecodeError(f'data of type {type(data).__name__} is not a sequence of ints') from None
    if arr.ndim != 1 or arr.dtype.kind not in 'iub':
        if arr.size == 0 and arr.ndim == 1:
            return np.zeros(0, np.uint8)
        raise ImageDecodeError(
            f'data must be a flat sequence of ints 0..255, got {arr.ndim}-D {arr.dtype} values')
    if arr.size and (arr.min() < 0 or arr.max() > 255):
        raise ImageDecodeError('data values must be bytes (0..255)')
    return arr.astype(np.uint8)


def decode_image(height: Any, width: Any, encoding: Any, is_bigendian: Any, step: Any,
                 data: Any) -> DecodedImage:
    """Decode the fields of a ``sensor_msgs/Image``; see the module docstring."""
    spec = _lookup(encoding)
    h = _as_int('height', height)
    w = _as_int('width', width)
    stride = _as_int('step', step)
    big = is_bigendian if isinstance(is_bigendian, bool) else _as_int('is_bigendian', is_bigendian)
    if h <= 0 or w <= 0:
        raise ImageDecodeError(f'image is empty or negative: height={h} width={w}')
    if h > MAX_SIDE or w > MAX_SIDE:
        raise ImageDecodeError(f'image {w}x{h} is larger than {MAX_SIDE} pixels a side')
    row_bytes = w * spec.bytes_per_pixel
    if stride < row_bytes:
        raise ImageDecodeError(
            f'step {stride} is less than width*bytes_per_pixel = {w}*{spec.bytes_per_pixel} '
            f'= {row_bytes} for {spec.name}')
    if stride % spec.itemsize:
        raise ImageDecodeError(
            f'step {stride} is not a multiple of {spec.itemsize} bytes, required for {spec.name}')
    size = stride * h
    if size > MAX_BYTES:
        raise ImageDecodeError(f'step*height = {size} bytes is more than the {MAX_BYTES} accepted')
    buf = buffer_as_uint8(data)
    if buf.size != size:
        short = 'short' if buf.size < size else 'long'
        raise ImageDecodeError(
            f'data is {buf.size} bytes, expected step*height = {stride}*{h} = {size} ({short})')
    rows = buf.reshape(h, stride)
    if spec.kind == 'rgb':
        # a strided view that skips the row padding; cvtColor and copy() both write a fresh
        # C-contiguous array that never aliases `data`
        pixels = rows[:, :row_bytes].reshape(h, w, spec.channels)
        if spec.to_rgb is None:
            rgb = pixels.copy()
        else:
            rgb = cv2.cvtColor(pixels if spec.channels > 1 else pixels[:, :, 0], spec.to_rgb)
        return DecodedImage('rgb', encoding, rgb=rgb)
    order = '>' if big else '<'
    if spec.itemsize == 2:
        mm = rows.view(f'{order}u2')[:, :w]
        depth = mm.astype(np.float32) / np.float32(1000.0)
        depth[mm == 0] = np.nan
    else:
        depth = rows.view(f'{order}f4')[:, :w].astype(np.float32)
    return DecodedImage('depth', encoding, depth=depth)


def encode_image(array: np.ndarray, encoding: str, *, is_bigendian: bool = False,
                 row_padding: int = 0) -> EncodedImage:
    """Encode an array as ``sensor_msgs/Image`` fields; raises ValueError on bad input.

    rgb8/bgr8/8UC3:     (H, W, 3) uint8 RGB.
    rgba8/bgra8/8UC4:   (H, W, 3) uint8 RGB (alpha written as 255) or (H, W, 4) RGBA.
    mono8/8UC1:         (H, W) or (H, W, 1) uint8.
    16UC1:              (H, W) uint16 millimetres, or float metres (rounded to mm;
                        NaN/inf -> 0 = no reading; finite values must lie in 0..65.535 m).
    32FC1:              (H, W) float metres.
    is_bigendian applies to 16UC1 and 32FC1 only; row_padding adds that many zero bytes
    to each row (step = width * bytes_per_pixel + row_padding).
    """
    try:
        spec = _lookup(encoding)
    except ImageDecodeError as exc:
        raise ValueError(str(exc)) from None
    a = np.asarray(array)
    if spec.kind == 'depth' or spec.channels == 1:
        if a.ndim == 3 and a.shape[2] == 1:
            a = a[:, :, 0]
        if a.ndim != 2:
            raise ValueError(f'{spec.name} needs an (H, W) array, got shape {a.shape}')
    elif a.ndim != 3 or a.shape[2] not in ((3, 4) if spec.channels == 4 else (3,)):
        want = '(H, W, 3) or (H, W, 4)' if spec.channels == 4 else '(H, W, 3)'
        raise ValueError(f'{spec.name} needs a {want} RGB array, got shape {a.shape}')
    h, w = a.shape[:2]
    if not (0 < h <= MAX_SIDE and 0 < w <= MAX_SIDE):
        raise ValueError(f'image {w}x{h} must be 1..{MAX_SIDE} pixels a side')
    pad = row_padding if isinstance(row_padding, (int, np.integer)) else -1
    if pad < 0 or pad % spec.itemsize:
        raise ValueError(
            f'row_padding must be >= 0 and a multiple of {spec.itemsize} for {spec.name}, got {pad}')
    order = '>' if is_bigendian else '<'
    if spec.kind == 'rgb':
        if a.dtype != np.uint8:
            raise ValueError(f'{spec.name} needs a uint8 array, got {a.dtype}')
        code = spec.from_rgba if a.ndim == 3 and a.shape[2] == 4 else spec.from_rgb
        px = a if code is None else cv2.cvtColor(np.ascontiguousarray(a), code)   # alpha: 255
        big = 0
    elif spec.itemsize == 2:
        px = _metres_to_mm(a).astype(f'{order}u2')
        big = int(bool(is_bigendian))
    else:
        if a.dtype.kind not in 'fiu':
            raise ValueError(f'32FC1 needs a float array of metres, got {a.dtype}')
        px = a.astype(f'{order}f4')
        big = int(bool(is_bigendian))
    row_bytes = w * spec.bytes_per_pixel
    raw = np.ascontiguousarray(px).view(np.uint8).reshape(h, row_bytes)
    if pad:
        raw = np.concatenate([raw, np.zeros((h, pad), np.uint8)], axis=1)
    return EncodedImage(h, w, spec.name, big, row_bytes + pad, raw.tobytes())


def _metres_to_mm(a: np.ndarray) -> np.ndarray:
    if a.dtype == np.uint16:
        return a
    if a.dtype.kind != 'f':
        raise ValueError(f'16UC1 needs uint16 millimetres or float metres, got {a.dtype}')
    mm = np.where(np.isfinite(a), a, 0.0) * 1000.0
    if mm.size and (mm.min() < 0 or mm.max() > 65535.49):
        raise ValueError('16UC1 depth must lie in 0..65.535 m; use 32FC1 for other ranges')
    return np.rint(mm).astype(np.uint16)


# ------------------------------------------------------------------- message wrappers


def _image_fields(msg: Any) -> tuple:
    try:
        return (msg.height, msg.width, msg.encoding, msg.is_bigendian, msg.step, msg.data)
    except AttributeError as exc:
        raise ImageDecodeError(f'not a sensor_msgs/Image: {exc}') from None


@functools.lru_cache(maxsize=1)
def _cv_bridge() -> Any:
    """A CvBridge instance, or None when cv_bridge is not installed (imported lazily)."""
    try:
        from cv_bridge import CvBridge
    except ImportError:
        return None
    return CvBridge()


def cv_bridge_available() -> bool:
    """True when cv_bridge can be imported (it is only used as a fallback)."""
    return _cv_bridge() is not None


def _rgb_via_cv_bridge(bridge: Any, msg: Any) -> np.ndarray:
    try:
        rgb = np.array(bridge.imgmsg_to_cv2(msg, desired_encoding='rgb8'), dtype=np.uint8)
    # cv_bridge raises CvBridgeError, cv2.error, TypeError... for what it cannot convert.
    except Exception as exc:  # noqa: BLE001
        raise ImageDecodeError(
            f'cv_bridge cannot convert {short_repr(msg.encoding)} to rgb8: {type(exc).__name__}') from None
    if rgb.ndim != 3 or rgb.shape[2] != 3 or 0 in rgb.shape:
        raise ImageDecodeError(f'cv_bridge returned shape {rgb.shape} for {short_repr(msg.encoding)}')
    return np.ascontiguousarray(rgb)


def image_msg_to_rgb(msg: Any, *, use_cv_bridge: bool = True) -> np.ndarray:
    """(H, W, 3) uint8 RGB from a ``sensor_msgs/Image`` (any object with its fields).

    Decoded here for the supported encodings; other encodings go to cv_bridge when
    ``use_cv_bridge`` and it is installed. Depth encodings raise ImageDecodeError.
    """
    fields = _image_fields(msg)
    encoding = fields[2]
    if (use_cv_bridge and isinstance(encoding, str) and encoding.lower() not in _ENCODINGS
            and _cv_bridge() is not None):
        return _rgb_via_cv_bridge(_cv_bridge(), msg)
    decoded = decode_image(*fields)
    if decoded.rgb is None:
        raise ImageDecodeError(f'encoding {short_repr(encoding)} is depth, not colour; use image_msg_to_depth')
    return decoded.rgb


def image_msg_to_depth(msg: Any) -> np.ndarray:
    """(H, W) float32 metres (NaN = unknown) from a 16UC1 or 32FC1 ``sensor_msgs/Image``."""
    fields = _image_fields(msg)
    decoded = decode_image(*fields)
    if decoded.depth is None:
        raise ImageDecodeError(f'encoding {short_repr(fields[2])} is colour, not depth; use image_msg_to_rgb')
    return decoded.depth
