"""Footprint geometry, zones, time to collision and the sensor -> point conversions."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vla_safety.collision import (Footprint, depth_image_to_points, laser_scan_to_points, points_in_base,
                                  polygon_problem, quaternion_matrix, transform_points_2d)

SQUARE = [(0.2, 0.2), (-0.2, 0.2), (-0.2, -0.2), (0.2, -0.2)]
LONG = [(0.3, 0.1), (-0.3, 0.1), (-0.3, -0.1), (0.3, -0.1)]          # 0.6 x 0.2, long in x
L_SHAPE = [(0, 0), (1, 0), (1, 0.4), (0.4, 0.4), (0.4, 1), (0, 1)]     # concave, origin on a corner


def reference_distance(poly, p):
    """Plain-Python distance of p from a polygon's outline, 0 inside (even-odd)."""
    n = len(poly)
    best = math.inf
    inside = False
    for i in range(n):
        (ax, ay), (bx, by) = poly[i], poly[(i + 1) % n]
        ex, ey = bx - ax, by - ay
        t = max(0.0, min(1.0, ((p[0] - ax) * ex + (p[1] - ay) * ey) / (ex * ex + ey * ey)))
        best = min(best, math.hypot(p[0] - ax - t * ex, p[1] - ay - t * ey))
        if (ay > p[1]) != (by > p[1]) and p[0] < ax + (p[1] - ay) * ex / ey:
            inside = not inside
    return 0.0 if inside else best


# -- footprint and distance ---------------------------------------------------------------------------
def test_circle_distance():
    fp = Footprint(radius=0.3)
    d = fp.distance([(1.0, 0.0), (0.0, -0.5), (0.1, 0.1), (0.3, 0.0)])
    assert d == pytest.approx([0.7, 0.2, 0.0, 0.0])


def test_polygon_distance_inside_edge_and_corner():
    fp = Footprint(SQUARE)
    d = fp.distance([(0.0, 0.0), (0.5, 0.0), (0.0, -0.3), (0.5, 0.6), (0.2, 0.0), (0.19, 0.19)])
    assert d == pytest.approx([0.0, 0.3, 0.1, 0.5, 0.0, 0.0])


def test_concave_polygon_notch_is_outside():
    fp = Footprint(L_SHAPE)
    d = fp.distance([(0.7, 0.7), (0.2, 0.7), (0.7, 0.2), (0.45, 0.45)])
    assert d[0] == pytest.approx(0.3) and d[1] == 0.0 and d[2] == 0.0      # 0.3 above the inner edge
    assert d[3] == pytest.approx(0.05)                                      # in the notch, near both edges


def test_distance_of_no_points_is_empty():
    assert Footprint(SQUARE).distance(np.zeros((0, 2))).shape == (0,)
    assert Footprint(SQUARE).zones(np.zeros((0, 2)), 0.1, 0.4) == (math.inf, 0, 0)


@pytest.mark.parametrize('poly, match', [
    ([(0, 0), (1, 0)], 'at least 3'),
    ([(0, 0), (1, 0), (2, 0)], 'no area'),
    ([(0, 0), (1, 1), (1, 0), (0, 1)], 'cross'),
    ([(0, 0), (1, 0), (1, 0), (1, 1)], 'same point'),
    ([(0, 0), (1, math.nan), (1, 1)], 'finite'),
    ([[0, 0, 0], [1, 0, 0], [0, 1, 0]], r'\(x, y\)'),
])
def test_bad_polygons(poly, match):
    assert polygon_problem(poly) is not None
    with pytest.raises(ValueError, match=match):
        Footprint(poly)
    assert polygon_problem(SQUARE) is None and polygon_problem(L_SHAPE) is None


def test_bad_radius():
    for r in (0.0, -1.0, math.nan, math.inf, None):
        with pytest.raises(ValueError, match='radius'):
            Footprint(None, r)


@st.composite
def star_polygons(draw):
    """Simple polygons: sorted angles with random radii around a random centre."""
    n = draw(st.integers(3, 9))
    angles = sorted(draw(st.lists(st.floats(0, 2 * math.pi - 0.05), min_size=n, max_size=n, unique=True)))
    radii = draw(st.lists(st.floats(0.05, 0.6), min_size=n, max_size=n))
    cx, cy = draw(st.floats(-0.3, 0.3)), draw(st.floats(-0.3, 0.3))
    poly = [(cx + r * math.cos(a), cy + r * math.sin(a)) for a, r in zip(angles, radii)]
    if polygon_problem(poly) is not None:
        return SQUARE
    return poly


points_strategy = st.lists(st.tuples(st.floats(-2, 2), st.floats(-2, 2)), min_size=1, max_size=40)


@settings(max_examples=150, deadline=None)
@given(star_polygons(), points_strategy, st.floats(0, 0.3), st.floats(0, 0.6))
def test_vectorised_distance_and_zones_match_the_reference(poly, pts, stop, slow):
    slow = max(slow, stop)
    fp = Footprint(poly)
    d = fp.distance(pts)
    ref = np.array([reference_distance(poly, p) for p in pts])
    np.testing.assert_allclose(d, ref, atol=1e-9)
    nearest, n_stop, n_slow = fp.zones(np.array(pts), stop, slow)
    assert nearest == pytest.approx(ref.min(), abs=1e-9)
    # the prefilter may only skip points that are in neither zone
    assert n_stop == np.count_nonzero(d <= stop) and n_slow == np.count_nonzero(d <= slow)


# -- time to collision ------------------------------------------------------------------------------------
def wall(x0, y_from=-1.0, y_to=1.0, n=81):
    return np.column_stack((np.full(n, x0), np.linspace(y_from, y_to, n)))


@pytest.mark.parametrize('fp', [Footprint(radius=0.3), Footprint(SQUARE)])
def test_straight_approach_to_a_wall(fp):
    # front of the grown footprint at 0.3 (0.2 + 0.1 or radius 0.3 ... + 0.1 margin), wall at 1.0
    front = (fp.radius if fp.radius else 0.2) + 0.1
    frac = fp.safe_fraction(wall(1.0), 0.5, 0.0, 0.0, 1.5, 0.1, 0.1)
    t_hit = (1.0 - front) / 0.5
    # last collision-free sample before the hit, as a fraction of the horizon
    assert (t_hit - 0.1) / 1.5 - 1e-9 <= frac <= t_hit / 1.5 + 1e-9
    # the scaled twist reaches the wall no earlier than the horizon
    assert fp.safe_fraction(wall(1.0), 0.5 * frac, 0.0, 0.0, 1.5, 0.1, 0.1) == 1.0
    # slower, or farther: no scaling
    assert fp.safe_fraction(wall(1.0), 0.2, 0.0, 0.0, 1.5, 0.1, 0.1) == 1.0
    assert fp.safe_fraction(wall(2.0), 0.5, 0.0, 0.0, 1.5, 0.1, 0.1) == 1.0


def test_obstacle_behind_or_beside_does_not_slow_forward_motion():
    fp = Footprint(SQUARE)
    assert fp.safe_fraction(wall(-0.5), 0.5, 0.0, 0.0, 1.5, 0.1, 0.1) == 1.0
    side = np.column_stack((np.linspace(-1, 2, 61), np.full(61, 0.45)))   # a corridor wall
    assert fp.safe_fraction(side, 0.5, 0.0, 0.0, 1.5, 0.1, 0.1) == 1.0
    assert fp.safe_fraction(side, 0.0, 0.3, 0.0, 1.5, 0.1, 0.1) < 1.0     # strafing into it
    assert fp.safe_fraction(wall(-0.8), -0.5, 0.0, 0.0, 1.5, 0.1, 0.1) < 1.0  # reversing into it


def test_already_touching_gives_zero():
    fp = Footprint(radius=0.3)
    assert fp.safe_fraction(wall(0.42), 0.5, 0.0, 0.0, 1.5, 0.1, 0.1) == 0.0


def test_turning_in_place():
    post = np.array([[0.0, 0.25]])   # beside the long side of LONG (|y| <= 0.1): 0.15 away
    assert Footprint(radius=0.15).safe_fraction(post, 0.0, 0.0, 1.0, 1.5, 0.1, 0.05) == 1.0
    frac = Footprint(LONG).safe_fraction(post, 0.0, 0.0, 1.0, 1.5, 0.1, 0.05)
    assert 0.0 < frac < 1.0          # the rectangle's end sweeps into the post


def test_arc_motion_follows_the_arc():
    fp = Footprint(radius=0.3)
    ahead = np.array([[1.0, 0.0]])
    assert fp.safe_fraction(ahead, 0.5, 0.0, 0.0, 1.5, 0.1, 0.1) < 1.0
    assert fp.safe_fraction(ahead, 0.5, 0.0, 1.0, 1.5, 0.1, 0.1) == 1.0   # turning radius 0.5: passes by
    on_arc = np.array([[0.5 * math.sin(1.3) + 0.4 * math.sin(1.3), 0.5 - (0.5 + 0.4) * math.cos(1.3)]])
    assert fp.safe_fraction(on_arc, 0.5, 0.0, 1.0, 1.5, 0.1, 0.1) < 1.0


def test_safe_fraction_edge_cases():
    fp = Footprint(SQUARE)
    assert fp.safe_fraction(np.zeros((0, 2)), 0.5, 0, 0, 1.5, 0.1, 0.1) == 1.0
    assert fp.safe_fraction(wall(0.5), 0.0, 0.0, 0.0, 1.5, 0.1, 0.1) == 1.0     # not moving
    assert fp.safe_fraction(wall(0.5), 0.5, 0.0, 0.0, 0.0, 0.1, 0.1) == 1.0     # horizon 0
    single = np.array([[0.8, 0.0]])
    assert fp.safe_fraction(single, 0.5, 0, 0, 1.5, 0.1, 0.1, min_points=1) < 1.0
    assert fp.safe_fraction(single, 0.5, 0, 0, 1.5, 0.1, 0.1, min_points=2) == 1.0
    # a horizon that is not a multiple of the step still ends at the horizon
    assert fp.safe_fraction(wall(1.0), 0.5, 0.0, 0.0, 1.55, 0.5, 0.1) < 1.0


# -- sensors -> points ------------------------------------------------------------------------------------
def test_laser_scan_to_points():
    ranges = [1.0, math.inf, math.nan, 0.01, 30.0, 2.0, -math.inf, 5.0]
    pts = laser_scan_to_points(ranges, -math.pi / 2, math.pi / 4, 0.05, 10.0)
    # kept: index 0 (-90 deg, 1 m), 5 (+135 deg, 2 m), 7 (+225 deg, 5 m)
    expected = [(0.0, -1.0), (2 * math.cos(3 * math.pi / 4), 2 * math.sin(3 * math.pi / 4)),
                (5 * math.cos(5 * math.pi / 4), 5 * math.sin(5 * math.pi / 4))]
    np.testing.assert_allclose(pts, expected, atol=1e-12)


def test_laser_scan_sensor_pose():
    # a laser 0.11 m ahead of base_link, mounted backwards (yaw = pi)
    pts = laser_scan_to_points([1.0], 0.0, 0.1, 0.0, 10.0, (0.11, 0.0, math.pi))
    np.testing.assert_allclose(pts, [(-0.89, 0.0)], atol=1e-12)
    pts = laser_scan_to_points([1.0], 0.0, 0.1, 0.0, 10.0, (0.0, 0.5, math.pi / 2))
    np.testing.assert_allclose(pts, [(0.0, 1.5)], atol=1e-12)


def test_laser_scan_edge_cases():
    assert laser_scan_to_points([], 0.0, 0.1, 0.0, 10.0).shape == (0, 2)
    assert laser_scan_to_points([math.inf] * 10, 0.0, 0.1, 0.0, 10.0).shape == (0, 2)
    with pytest.raises(ValueError, match='finite'):
        laser_scan_to_points([1.0], math.nan, 0.1, 0.0, 10.0)
    with pytest.raises(ValueError, match='pose'):
        laser_scan_to_points([1.0], 0.0, 0.1, 0.0, 10.0, (0.0, math.inf, 0.0))


def test_transform_points_2d():
    pts = transform_points_2d([(1.0, 0.0), (0.0, 1.0)], (1.0, 2.0, math.pi / 2))
    np.testing.assert_allclose(pts, [(1.0, 3.0), (0.0, 2.0)], atol=1e-12)


def test_quaternion_matrix():
    half = math.sqrt(0.5)
    np.testing.assert_allclose(quaternion_matrix((0, 0, half, half)) @ [1, 0, 0], [0, 1, 0], atol=1e-12)
    np.testing.assert_allclose(quaternion_matrix((0, 0, 0, 2.0)), np.eye(3), atol=1e-12)  # normalised
    with pytest.raises(ValueError, match='quaternion'):
        quaternion_matrix((0, 0, 0, 0))


def test_points_in_base_transforms_and_filters_height():
    # camera optical frame 1 m up, looking forward: optical z -> base x, optical x -> base -y, optical y -> base -z
    q = (-0.5, 0.5, -0.5, 0.5)
    pts = np.array([[0.0, 0.0, 2.0],        # 2 m ahead at camera height (z = 1.0)
                    [0.0, 0.95, 2.0],       # near the floor (z = 0.05)
                    [0.5, 0.0, 1.0],        # 1 m ahead, 0.5 m to the right
                    [0.0, 0.0, math.nan]])
    out = points_in_base(pts, (0.1, 0.0, 1.0), q, min_height=0.1, max_height=1.5)
    np.testing.assert_allclose(out, [(2.1, 0.0), (1.1, -0.5)], atol=1e-12)
    assert points_in_base(np.zeros((0, 3))).shape == (0, 2)
    with pytest.raises(ValueError, match='translation'):
        points_in_base(pts, (0.0, 0.0))


def test_depth_image_to_points():
    depth = np.zeros((4, 6), dtype=np.uint16)
    depth[2, 4] = 2000      # the principal point, 2 m (millimetres)
    depth[0, 5] = 1000
    pts = depth_image_to_points(depth, fx=100.0, fy=100.0, cx=4.0, cy=2.0, depth_scale=0.001)
    pts = pts[np.argsort(pts[:, 2])]
    np.testing.assert_allclose(pts, [(0.01, -0.02, 1.0), (0.0, 0.0, 2.0)], atol=1e-12)
    strided = depth_image_to_points(depth, 100.0, 100.0, 4.0, 2.0, 0.001, stride=2)
    np.testing.assert_allclose(strided, [(0.0, 0.0, 2.0)], atol=1e-12)   # (0, 5) is skipped
    f = np.full((2, 2), math.nan)
    assert depth_image_to_points(f, 1.0, 1.0, 0.0, 0.0).shape == (0, 3)
    with pytest.raises(ValueError):
        depth_image_to_points(depth, 0.0, 1.0, 0.0, 0.0)
