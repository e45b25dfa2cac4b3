"""sensor_msgs/PointCloud2 -> (N, 3) float array of x, y, z (plain NumPy, no ROS imports).

sensor_msgs_py is not installable from PyPI; this reads the common layouts (FLOAT32 or
FLOAT64 x/y/z fields at any offsets, any point_step/row_step, either endianness).
"""
from __future__ import annotations

import numpy as np

_FLOAT32, _FLOAT64 = 7, 8   # sensor_msgs/PointField datatypes
MAX_POINTS = 5_000_000


def pointcloud2_to_xyz(msg) -> np.ndarray:
    """x, y, z of every point of ``msg`` (duck-typed PointCloud2); ValueError when malformed."""
    fields = {f.name: f for f in msg.fields}
    if not all(k in fields for k in 'xyz'):
        raise ValueError(f"PointCloud2 needs x, y and z fields, has {sorted(fields)}")
    n = int(msg.width) * int(msg.height)
    if n == 0:
        return np.zeros((0, 3))
    if n > MAX_POINTS:
        raise ValueError(f'PointCloud2 of {n} points exceeds {MAX_POINTS}')
    step, row_step = int(msg.point_step), int(msg.row_step)
    data = msg.data
    buf = np.frombuffer(data if isinstance(data, (bytes, bytearray, memoryview)) else bytes(data), np.uint8)
    if step <= 0 or row_step < step * int(msg.width) or buf.size < row_step * int(msg.height):
        raise ValueError(f'PointCloud2 layout inconsistent: point_step={step} row_step={row_step} '
                         f'width={msg.width} height={msg.height} data={buf.size} bytes')
    order = '>' if msg.is_bigendian else '<'
    out = np.empty((n, 3))
    rows = buf[: row_step * int(msg.height)].reshape(int(msg.height), row_step)[:, : step * int(msg.width)]
    pts = rows.reshape(n, step)
    for i, k in enumerate('xyz'):
        f = fields[k]
        if f.datatype not in (_FLOAT32, _FLOAT64):
            raise ValueError(f'PointCloud2 field {k} has datatype {f.datatype}; FLOAT32 (7) or FLOAT64 (8) expected')
        size = 4 if f.datatype == _FLOAT32 else 8
        if f.offset + size > step:
            raise ValueError(f'PointCloud2 field {k} at offset {f.offset} does not fit point_step {step}')
        dt = np.dtype(order + ('f4' if size == 4 else 'f8'))
        out[:, i] = np.ascontiguousarray(pts[:, f.offset:f.offset + size]).view(dt).ravel()
    return out
