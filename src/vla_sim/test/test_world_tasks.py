"""Seeded worlds and the tasks' success predicates (on hand-made states and on real episodes)."""
import math

import pytest

from vla_sim.tasks import TASKS, make_task
from vla_sim.world import ALL_OBJECTS, World, WorldConfig, WorldObject, sample_world


def test_worlds_are_seeded_and_well_spaced():
    cfg = WorldConfig()
    assert sample_world(7) == sample_world(7)
    assert sample_world(7) != sample_world(8)
    sizes = set()
    for seed in range(200):
        w = sample_world(seed, cfg)
        lo, hi = cfg.n_objects
        assert lo <= len(w.objects) <= hi
        sizes.add(len(w.objects))
        assert len(set(w.names)) == len(w.names) and set(w.names) <= set(ALL_OBJECTS)
        for i, a in enumerate(w.objects):
            assert max(abs(a.xy[0]), abs(a.xy[1])) <= cfg.object_zone
            assert math.dist(a.xy, w.robot_start[:2]) >= cfg.robot_clearance
            for b in w.objects[i + 1:]:
                assert math.dist(a.xy, b.xy) >= cfg.min_separation
    assert sizes == set(range(cfg.n_objects[0], cfg.n_objects[1] + 1))


def test_world_config_explains_bad_values():
    with pytest.raises(ValueError, match='n_objects'):
        WorldConfig(n_objects=(0, 3))
    with pytest.raises(ValueError, match='object_zone'):
        WorldConfig(object_zone=4.8)


def test_surface_distance():
    box = WorldObject('red', 'box', (0.0, 0.0), yaw=math.pi / 4)
    assert box.surface_distance((0.1, 0.0)) == 0.0
    assert box.surface_distance((1.0, 1.0)) == pytest.approx(math.sqrt(2) - 0.25)
    ball = WorldObject('red', 'ball', (1.0, 0.0))
    assert ball.surface_distance((3.0, 0.0)) == pytest.approx(1.7)


def test_tasks_are_seeded_and_name_objects_in_the_world():
    assert list(TASKS) == ['walk_to', 'turn_left', 'turn_right', 'raise_left_arm', 'raise_right_arm',
                           'raise_both_arms', 'wave', 'look_at', 'stop']
    for seed in range(20):
        w = sample_world(seed)
        for name in TASKS:
            t = make_task(name, w, seed)
            assert t == make_task(name, w, seed) and t.name == name and t.time_limit > 0
            if name in ('walk_to', 'look_at'):
                o = w.get(t.target)
                assert o.label in t.instruction
    with pytest.raises(ValueError, match='unknown task .* walk_to'):
        make_task('dance', sample_world(0), 0)
    with pytest.raises(ValueError, match='needs a world with objects'):
        make_task('walk_to', World(0, (0.0, 0.0, 0.0), ()), 0)
    assert any(make_task('stop', sample_world(s), s).initial_twist[0] > 0.2 for s in range(3))


def test_raise_check_needs_the_right_arm_up_and_held(sim):
    sim.reset(world=World(None, (0.0, 0.0, 0.0), ()))
    task = make_task('raise_left_arm', sim.world, 0)
    check = task.new_check()
    check.reset(sim.state())
    sim.set_joint_targets({'right_shoulder_pitch_joint': -2.8})      # wrong arm
    for _ in range(15):
        sim.step(0.1)
        assert not check.update(sim.state())
    sim.set_joint_targets({'left_shoulder_pitch_joint': -2.8})       # both up: not "left arm"
    for _ in range(15):
        sim.step(0.1)
        assert not check.update(sim.state())
    sim.set_joint_targets({'right_shoulder_pitch_joint': 0.0})
    results = []
    for _ in range(15):
        sim.step(0.1)
        results.append(check.update(sim.state()))
    first = results.index(True)
    assert all(results[first:])


def test_turn_check_wants_90_degrees_and_rest(sim):
    sim.reset(world=World(None, (0.0, 0.0, 3.0), ()))                 # start near the +-pi seam
    check = make_task('turn_left', sim.world, 0).new_check()
    check.reset(sim.state())
    sim.set_base_twist(0.0, 0.0, -1.0)                                # the wrong way
    for _ in range(16):
        sim.step(0.1)
        assert not check.update(sim.state())
    sim.set_base_twist(0.0, 0.0, 1.0)
    ok = []
    for _ in range(60):
        sim.step(0.1)
        turned = check.turned
        if abs(turned - math.pi / 2) < 0.05:
            sim.set_base_twist(0.0, 0.0, 0.0)
        ok.append(check.update(sim.state()))
    assert any(ok)
    assert check.turned == pytest.approx(math.pi / 2, abs=0.2)


def test_wave_check_counts_full_swings(sim):
    sim.reset(world=World(None, (0.0, 0.0, 0.0), ()))
    check = make_task('wave', sim.world, 0).new_check()
    check.reset(sim.state())
    sim.set_joint_targets({'right_shoulder_pitch_joint': -2.7, 'right_shoulder_roll_joint': -0.5})
    for _ in range(20):                                               # raised but still: no wave
        sim.step(0.1)
        assert not check.update(sim.state())
    for k in range(4):                                                # small swings: no wave
        sim.set_joint_targets({'right_shoulder_roll_joint': -0.5 - 0.1 * (k % 2)})
        for _ in range(5):
            sim.step(0.1)
            assert not check.update(sim.state())
    done = False
    for k in range(8):
        sim.set_joint_targets({'right_shoulder_roll_joint': -0.15 if k % 2 else -0.85})
        for _ in range(5):
            sim.step(0.1)
            done = done or check.update(sim.state())
    assert done and check.count['right'] >= 4


def test_walk_to_and_look_at_checks(sim):
    ball = WorldObject('yellow', 'ball', (2.0, 0.0))
    world = World(None, (0.0, 0.0, 0.0), (ball,))
    sim.reset(world=world)
    walk = make_task('walk_to', world, 0).new_check()
    walk.reset(sim.state())
    assert not walk.update(sim.state())
    sim.reset(world=World(None, (1.2, 0.0, math.pi), (ball,)))      # close, but facing away
    assert not walk.update(sim.state())
    sim.reset(world=World(None, (1.2, 0.0, 0.0), (ball,)))
    assert walk.update(sim.state())
    from vla_sim.tasks import look_error
    sim.reset(world=World(None, (0.0, 0.0, 0.0), (ball,)))
    assert look_error(sim.state(), 'yellow_ball') > 0.12               # camera tilted down 0.3 rad
    tilt = math.atan2(sim.state().camera_position[2] - 0.3, 2.0 - 0.13)
    sim.reset(world=World(None, (0.0, 0.0, 0.0), (ball,)), joint_positions={'head_tilt_joint': tilt})
    assert look_error(sim.state(), 'yellow_ball') < 0.05


def test_the_experts_way_keeps_out_of_the_gates_stop_zone():
    """The expert's way to a target keeps KEEP_OFF from every other object's surface (not from the
    target's, which it must reach): at least vla_safety's default STOP zone, so the gate never holds
    the expert on its way; a field without obstacle_radius keeps only the robot's radius."""
    import numpy as np
    from vla_safety.params import SafetyParams
    from vla_sim.expert import KEEP_OFF
    from vla_sim.navigation import NavigationField
    from vla_sim.world import World, WorldObject
    p = SafetyParams()
    assert KEEP_OFF >= p.footprint_radius + p.stop_margin
    grey = (0.5, 0.5, 0.5)
    box = WorldObject('blue', 'box', (1.5, 0.05), 0.0, grey)
    ball = WorldObject('red', 'ball', (3.0, 0.0), 0.0, grey)
    world = World(0, (0.0, 0.0, 0.0), (box, ball))

    def closest_pass(field):
        xy, gaps = np.array([0.0, 0.0]), []
        for _ in range(80):                   # follow the lookahead in 0.1 m steps
            goal = field.lookahead(xy)
            if np.linalg.norm(goal - xy) < 0.05:
                break
            xy = xy + 0.1 * (goal - xy) / np.linalg.norm(goal - xy)
            gaps.append(box.surface_distance(xy))
        return min(gaps), ball.surface_distance(xy)

    gap, left = closest_pass(NavigationField(world, ball.name, obstacle_radius=KEEP_OFF))
    assert gap >= KEEP_OFF - 0.05 and left <= 0.5, (gap, left)
    gap_robot, _ = closest_pass(NavigationField(world, ball.name))
    assert gap_robot < gap
