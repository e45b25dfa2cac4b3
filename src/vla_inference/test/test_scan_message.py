"""A sensor_msgs/LaserScan as the policy reads it (vla_inference.messages.planar_scan)."""
import math

import numpy as np
from sensor_msgs.msg import LaserScan

from vla_core.policy import nearest_by_sector
from vla_inference.messages import planar_scan


def _scan(ranges, angle_min=-math.pi, range_min=0.1, range_max=8.0):
    msg = LaserScan()
    msg.angle_min, msg.angle_increment = angle_min, 2 * math.pi / len(ranges) if ranges else 0.01
    msg.range_min, msg.range_max = range_min, range_max
    msg.ranges = [float(v) for v in ranges]
    return msg


def test_readings_outside_the_scan_limits_are_discarded_and_infinities_kept():
    """REP 117: a finite reading below range_min or above range_max is no reading (a driver that
    reports 0 for "nothing" must not read as contact); -inf (too close) and +inf (no return) stay."""
    ranges = [0.0, 0.05, 0.5, 9.0, -math.inf, math.inf, math.nan, 2.0]
    scan = planar_scan(_scan(ranges))
    assert scan.angle_min == -math.pi and math.isclose(scan.angle_increment, 2 * math.pi / 8, rel_tol=1e-6)
    r = scan.ranges
    assert np.isnan(r[[0, 1, 3, 6]]).all()
    assert r[2] == np.float32(0.5) and r[7] == np.float32(2.0) and r[4] == -np.inf and r[5] == np.inf
    # beams at -180, -135, ..., 135 deg; 8 sectors: the beam at 0 deg (index 4, -inf) is sector 0
    np.testing.assert_allclose(nearest_by_sector(scan, 8, 1.5), [0.0, 1.5, 1.5, 1.5, 1.5, 1.5, 0.5, 1.5])


def test_a_scan_without_ranges_or_with_nonfinite_angles_is_none():
    assert planar_scan(_scan([])) is None
    assert planar_scan(_scan([1.0, 1.0], angle_min=math.nan)) is None
