"""Compressed camera images (``sensor_msgs/CompressedImage``, JPEG or PNG) to NumPy, without rclpy.

The declared size is read from the image's header (the PNG IHDR chunk or the JPEG
start-of-frame segment; OpenCV has no header-only reader) so that an oversized image is refused
before it is decoded; ``cv2.imdecode`` then does the decoding. Failures raise
:class:`~vla_common.image_conversion.ImageDecodeError` with a one-line reason, and the size
limits are those of :mod:`vla_common.image_conversion`.
"""
from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from vla_common.image_conversion import MAX_BYTES, MAX_SIDE, ImageDecodeError, buffer_as_uint8, short_repr

_PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
#: JPEG start-of-frame markers (SOF0..SOF15 less DHT C4, JPG C8 and DAC CC): they carry the size.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
#: JPEG markers without a length field (TEM, RST0..RST7).
_JPEG_STANDALONE = frozenset([0x01, *range(0xD0, 0xD8)])


def _compressed_header(buf: np.ndarray) -> tuple[str, int, int, str]:
    """(container, width, height, wide) from the first bytes of a JPEG or PNG, without decoding.

    ``wide`` names pixels of more than 8 bits that are not colour ('16-bit grey', '12-bit'),
    or is ''. OpenCV has no header-only reader, so the size check before decoding reads the
    PNG IHDR chunk or the JPEG start-of-frame segment here; anything else is refused.
    """
    head = buf[:8].tobytes()
    if head == _PNG_SIGNATURE:
        ihdr = buf[8:26].tobytes()
        if len(ihdr) < 18:
            raise ValueError('PNG is truncated before the end of its IHDR chunk')
        if ihdr[4:8] != b'IHDR':
            raise ValueError('PNG without an IHDR chunk')
        width, height = int.from_bytes(ihdr[8:12], 'big'), int.from_bytes(ihdr[12:16], 'big')
        bits, colour_type = ihdr[16], ihdr[17]
        grey = colour_type in (0, 4)   # 0 = grey, 4 = grey + alpha: a depth image, not a colour one
        return 'png', width, height, f'{bits}-bit grey' if grey and bits > 8 else ''
    if head[:2] == b'\xff\xd8':
        data, i = memoryview(buf), 2
        while i + 4 <= len(data):
            if data[i] != 0xFF:
                raise ValueError(f'JPEG marker expected at byte {i}')
            marker = data[i + 1]
            if marker == 0xFF:               # fill byte
                i += 1
                continue
            if marker in _JPEG_STANDALONE:
                i += 2
                continue
            if marker in (0xD9, 0xDA):       # end of image / start of scan before any frame header
                raise ValueError('JPEG without a frame header')
            length = int.from_bytes(data[i + 2:i + 4], 'big')
            if marker in _JPEG_SOF:
                if length < 8 or i + 9 > len(data):
                    raise ValueError('JPEG frame header is truncated')
                bits = data[i + 4]
                height, width = int.from_bytes(data[i + 5:i + 7], 'big'), int.from_bytes(data[i + 7:i + 9], 'big')
                return 'jpeg', width, height, f'{bits}-bit' if bits != 8 else ''
            i += 2 + length
        raise ValueError('JPEG is truncated before its frame header')
    raise ValueError('neither JPEG nor PNG')


def decode_compressed(format: Any, data: Any) -> np.ndarray:  # noqa: A002 (message field name)
    """Decode a ``sensor_msgs/CompressedImage`` (JPEG or PNG) to (H, W, 3) uint8 RGB.

    The container is recognised from the bytes, so ``format`` may be anything
    image_transport writes ("jpeg", "png", "rgb8; jpeg compressed bgr8", "");
    "compressedDepth" payloads and 16-bit grey PNGs are refused. A JPEG written from bgr8 by
    OpenCV is a standard JPEG, so the result is true RGB whatever the format string says.
    EXIF orientation is ignored (camera frames are used as the camera took them). Decoded by
    ``cv2.imdecode``; the declared size is checked against ``MAX_SIDE``/``MAX_BYTES`` first.
    """
    if not isinstance(format, str):
        raise ImageDecodeError(f'format must be a string, got {type(format).__name__}')
    if 'compresseddepth' in format.lower():
        raise ImageDecodeError(
            f'format {short_repr(format)} is compressedDepth, which is not supported; '
            'subscribe to the raw depth topic')
    buf = buffer_as_uint8(data)
    if buf.size == 0:
        raise ImageDecodeError('compressed image data is empty')
    if buf.size > MAX_BYTES:
        raise ImageDecodeError(f'compressed data is {buf.size} bytes, more than the {MAX_BYTES} accepted')

    def cannot(reason: str) -> ImageDecodeError:
        return ImageDecodeError(f'cannot decode compressed image ({short_repr(format)}): {reason}'[:200])

    try:
        container, w, h, wide = _compressed_header(buf)
    except ValueError as exc:
        raise cannot(str(exc)) from None
    if w <= 0 or h <= 0 or w > MAX_SIDE or h > MAX_SIDE or w * h * 3 > MAX_BYTES:
        raise ImageDecodeError(f'compressed image is {w}x{h}, outside 1..{MAX_SIDE} a side')
    if wide:
        raise ImageDecodeError(f'compressed image has {wide} pixels; only 8-bit colour or mono is '
                               'decoded (16/32-bit depth: use a raw 16UC1/32FC1 topic)')
    try:
        bgr = cv2.imdecode(buf, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    except cv2.error as exc:   # OpenCV refuses some inputs by raising instead of returning None
        lines = str(exc).strip().splitlines()
        raise cannot(f'cv2.error: {lines[-1] if lines else ""}') from None
    if bgr is None:
        raise cannot(f'OpenCV cannot decode this {container} (corrupt or truncated)')
    if bgr.shape != (h, w, 3) or bgr.dtype != np.uint8:
        raise ImageDecodeError(f'compressed image decoded to unexpected shape {bgr.shape} {bgr.dtype}')
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def compressed_msg_to_rgb(msg: Any) -> np.ndarray:
    """(H, W, 3) uint8 RGB from a ``sensor_msgs/CompressedImage`` (fields format, data)."""
    try:
        fmt, data = msg.format, msg.data
    except AttributeError as exc:
        raise ImageDecodeError(f'not a sensor_msgs/CompressedImage: {exc}') from None
    return decode_compressed(fmt, data)
