"""Collect -> train -> evaluate on a tiny scale, and the teacher's adaptations."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

CONFIG = Path(__file__).resolve().parents[1] / 'configs' / 'default.yaml'
#: the default's DAgger round (on stop) is test_dagger's; these runs train without it
NO_ROUND = 'dagger.episodes=0'
#: the collection these tests were written for: the defaults before they became the default policy's
#: (no head kicks, facing or start-pose episodes, the head's turn gain 0.5, look_at weighted as walk_to)
TEST_COLLECTION = dict(dart_head_kick=0.0, dart_head_kick_decay=0.7, look_at_facing_fraction=0.0, turn_gaze_gain=0.5,
                       start_pose_fraction=0.0,
                       task_weights={'walk_to': 3.0, 'look_at': 3.0, 'turn_left': 1.5, 'turn_right': 1.5,
                                     'raise_left_arm': 1.0, 'raise_right_arm': 1.0, 'raise_both_arms': 1.0,
                                     'wave': 1.5, 'stop': 1.5})


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    """A 9-episode dataset (one per task, with the lidar's sectors the default model reads) and a
    6-step training run on it."""
    from vla_learning.collect import CollectConfig, collect
    from vla_learning.train import load_config, train
    root = tmp_path_factory.mktemp('pipeline')
    summary = collect(root / 'ds', CollectConfig(episodes=9, workers=1, image_size=32, val_fraction=0.25,
                                                 range_sectors=16, **TEST_COLLECTION), progress=False)
    conf = load_config(CONFIG, [f'dataset={root / "ds"}', f'output_dir={root / "run"}', 'export_dir=', NO_ROUND,
                                'model.image_size=32', 'model.vision_channels=[8,8,16]', 'model.vision_strides=[]',
                                'train.steps=6',
                                'train.val_every=3', 'train.log_every=2', 'train.val_batches=1',
                                'train.batch_size=8', 'train.warmup_steps=2'])
    result = train(conf, progress=False)
    return root, summary, result


def test_collect_writes_successful_episodes(tiny):
    from vla_learning.dataset import LeRobotDataset
    root, summary, _ = tiny
    ds = LeRobotDataset(root / 'ds')
    assert ds.num_episodes == summary['episodes_written'] >= 7
    names = {r['task_name'] for r in ds.episodes_rows()}
    assert {'walk_to', 'wave', 'stop'} <= names | {'walk_to'}
    assert ds.image_shape == (32, 32, 3) and 'val' in ds.info['splits']
    # no held-out (colour, shape) pair is ever a target
    from vla_learning.instructions import HELD_OUT_COMBOS
    targets = {r['target'] for r in ds.episodes_rows() if r['target']}
    assert not targets & {f'{c}_{s}' for c, s in HELD_OUT_COMBOS}


def test_training_outputs_and_resume(tiny):
    from vla_learning.metrics import read_metrics
    from vla_learning.train import load_config, train
    root, _, result = tiny
    run = root / 'run'
    assert result['steps'] == 6
    rows = read_metrics(run / 'metrics.jsonl')
    assert {r['split'] for r in rows} == {'train', 'val'}
    assert all(np.isfinite(r['loss']) for r in rows)
    assert (run / 'metrics.png').exists()
    for d in ('best', 'last'):
        assert (run / 'checkpoints' / d / 'model.safetensors').exists()
    conf = load_config(CONFIG, [f'dataset={root / "ds"}', f'output_dir={run}', 'export_dir=', NO_ROUND,
                                'model.image_size=32', 'model.vision_channels=[8,8,16]', 'model.vision_strides=[]',
                                'train.steps=8',
                                'train.val_every=4', 'train.log_every=2', 'train.val_batches=1', 'train.batch_size=8'])
    again = train(conf, resume=True, progress=False)
    assert again['steps'] == 8
    steps = [r['step'] for r in read_metrics(run / 'metrics.jsonl') if r['split'] == 'train']
    assert steps[-1] == 8 and steps.count(2) == 1             # resumed at 6, not restarted


def test_a_model_reading_farther_than_datasets_record_is_refused_before_training(tiny):
    """Datasets record the lidar up to 5 m; a model.range_max_m past it would learn 5 m where the
    robot sees farther: refused with what to set."""
    from vla_learning.train import load_config, train
    root, _, _ = tiny
    conf = load_config(CONFIG, [f'dataset={root / "ds"}', f'output_dir={root / "far"}', 'export_dir=', NO_ROUND,
                                'model.image_size=32', 'model.vision_channels=[8,8,16]', 'model.vision_strides=[]',
                                'model.range_max_m=6.0', 'train.steps=1'])
    with pytest.raises(ValueError, match='range_max_m is 6.0 m.*up to 5.0 m'):
        train(conf, progress=False)


def test_training_writes_where_its_checkpoints_come_from(tiny):
    """The training command, not a hand, writes each checkpoint's metadata: the effective config
    (every default filled in), the dataset and its size, the start time, the code's commit."""
    import datetime
    import yaml
    from vla_learning.dataset import LeRobotDataset
    from vla_learning.train import load_config
    root, _, _ = tiny
    run = root / 'run'
    effective = yaml.safe_load((run / 'config.yaml').read_text())
    # --set (6 steps; 8 once test_training_outputs_and_resume has resumed this run), then the defaults
    assert effective['train']['steps'] in (6, 8) and effective['train']['lr'] == 0.002
    assert effective['collect'] == load_config(CONFIG, ['output_dir=x']).to_dict()['collect']
    ds = LeRobotDataset(root / 'ds')
    for d in ('best', 'last'):
        meta = json.loads((run / 'checkpoints' / d / 'config.json').read_text())['metadata']
        assert meta['written_by'] == 'vla_learning.train' and meta['training_config']['train'] == effective['train']
        assert (meta['dataset'], meta['dataset_episodes'], meta['dataset_frames']) == (
            str(root / 'ds'), ds.num_episodes, ds.total_frames)
        assert datetime.datetime.fromisoformat(meta['started_utc']).tzinfo is not None
        assert meta['git_commit'] is None or len(meta['git_commit']) == 40
        assert meta['step'] in (3, 4, 6, 8) and 'val_action_loss' in meta


def test_checkpoint_loads_and_evaluates(tiny, tmp_path):
    from vla_policy.registry import make_policy
    from vla_learning.evaluate import evaluate
    root, _, _ = tiny
    ckpt = root / 'run' / 'checkpoints' / 'best'
    policy = make_policy(str(ckpt), 'vla_humanoid')
    assert policy.trained and policy.stats['observation.state']['names']
    pairs = tmp_path / 'pairs.tsv'
    pairs.write_text('# instruction\ttask\napproach the crimson crate\twalk_to\nraise your left arm\traise_left_arm\n')
    report = evaluate(str(ckpt), splits=['seen', 'out_of_scope'], tasks=['raise_left_arm'], episodes=1,
                      out=tmp_path / 'eval', instructions=str(pairs), progress=False)
    res = json.loads((tmp_path / 'eval' / 'results.json').read_text())
    assert report['chunk_steps'] == policy.n_action_steps, "by default the checkpoint's own n_action_steps"
    splits = {r['split'] for r in res['rows']}
    assert splits == {'seen', 'out_of_scope', 'custom'}
    custom = [e for e in res['episodes'] if e['split'] == 'custom']
    assert custom[0]['task'] == 'walk_to' and custom[0]['instruction'] == 'approach the crimson crate'
    assert (tmp_path / 'eval' / 'results.md').read_text().startswith('# Evaluation')
    assert (tmp_path / 'eval' / 'plots' / 'success.png').exists()
    assert report['summary']['latency_ms_p99'] > 0


def _kicked_look_at(head_kick: float, head_kick_decay: float = 0.7, seed: int = 3):
    """One look_at episode run through collection's _Perturbed (no base DART): (perturbed, executed
    actions (T, D), |executed - clean| (T, D))."""
    import vla_sim  # noqa: F401
    from vla_core.policy import Policy
    from vla_sim.lockstep import LockstepConfig, run_episode
    from vla_sim.sim import HumanoidSim
    from vla_learning.collect import _Perturbed
    from vla_learning.teacher import ObservableTeacher
    sim = HumanoidSim()
    perturbed = _Perturbed(ObservableTeacher(sim=sim), np.random.default_rng(1), 0.0, 32, head_kick=head_kick,
                           head_kick_decay=head_kick_decay)
    executed = []

    class Recorded(Policy):
        name, privileged = 'recorded', True

        def reset(self):
            perturbed.reset()

        def infer(self, obs):
            out = perturbed.infer(obs)
            executed.append(out.actions[0].copy())
            return out

    run_episode(Recorded(), 'look_at', seed, sim=sim, config=LockstepConfig(image_size=(32, 32)))
    sim.close()
    executed = np.array(executed)
    return perturbed, executed, np.abs(executed - np.array(perturbed.clean))


def test_dart_head_kicks_move_the_head_off_the_teachers_target_and_nothing_else():
    """Collection's head kicks (look_at): executed head targets leave the teacher's, whose clean
    actions stay the labels; the base (no DART std here) and the arms are the teacher's own."""
    perturbed, executed, diff = _kicked_look_at(0.3)
    head = perturbed._head_idx
    assert len(executed) > 5 and diff[:, head].max() > 0.05
    assert np.delete(diff, head, axis=1).max() == 0.0


def test_head_kick_decay_sets_how_long_a_kick_holds_the_head_off_target():
    """dart_head_kick_decay 1: once kicked, the head's executed targets never return to the
    teacher's; decay 0: they differ only on the steps a kick lands (about 10 % of them)."""
    perturbed, _, held = _kicked_look_at(0.3, head_kick_decay=1.0, seed=5)
    off = (held[:, perturbed._head_idx] > 1e-3).any(1)
    first = int(np.argmax(off))
    assert off.any() and off[first:].all() and len(off) - first > 5
    perturbed, _, brief = _kicked_look_at(0.3, head_kick_decay=0.0, seed=5)
    off = (brief[:, perturbed._head_idx] > 0).any(1)
    assert 0 < off.sum() < 0.4 * len(off)


def test_facing_starts_put_the_look_at_target_in_the_first_frame(tmp_path):
    """look_at_facing_fraction 1: every look_at episode starts with the target in the image, on
    either side of the centre; the same worlds without it mostly do not."""
    from vla_learning.collect import CollectConfig, collect, facing
    from vla_learning.dataset import TARGET_KEY, LeRobotDataset
    from vla_sim.world import sample_world
    world = sample_world(4)
    turned = facing(world, world.objects[0].name, 0.3)
    assert turned.robot_start[:2] == world.robot_start[:2] and turned.objects == world.objects
    first = {}
    for fraction in (0.0, 1.0):
        out = tmp_path / f'facing_{fraction}'
        collect(out, CollectConfig(episodes=8, workers=1, image_size=32, dart_fraction=0.0, val_fraction=0.25,
                                   start_pose_fraction=0.0, look_at_facing_fraction=fraction,
                                   task_weights={'look_at': 1.0}), progress=False)
        ds = LeRobotDataset(out)
        labels = ds.frames[TARGET_KEY]
        first[fraction] = np.array([labels[ds.episode_frames(e).start] for e in range(ds.num_episodes)])
    assert (first[1.0][:, 0] == 1).all() and (first[0.0][:, 0] == 1).mean() < 0.5
    xs = first[1.0][:, 1]
    assert (xs < -0.05).any() and (xs > 0.05).any()


def test_evaluation_refuses_unknown_splits_and_tasks(capsys):
    """A misspelt split ('unseen' for 'unseen_combo') is an error, not a silently different split."""
    from vla_learning.evaluate import main, make_cases
    with pytest.raises(ValueError, match='unseen_combo'):
        make_cases(['unseen'], ['look_at'], 2)
    with pytest.raises(ValueError, match='look_at'):
        make_cases(['seen'], ['look_at_it'], 2)
    with pytest.raises(SystemExit):
        main(['--splits', 'unseen', '--episodes', '1'])
    assert 'unknown split' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(['--tasks', 'look_at_it', '--episodes', '1'])          # every split, no --tasks default hit
    assert 'unknown task' in capsys.readouterr().err
    assert len(make_cases(['unseen_combo'], ['look_at', 'wave'], 2)) == 2     # wave has no object: skipped
    assert len(make_cases(['seen'], None, 1)) == 9                               # None: every task


def test_obstructed_cases_have_an_object_in_the_way():
    """'obstructed': walk_to only, to a seen pair, with another object closer than OBSTRUCTION_GAP
    to the straight way there; an object beside the way or beyond the target does not count."""
    from vla_learning.eval_cases import case_world, make_cases
    from vla_learning.instructions import is_held_out_combo
    from vla_sim.world import OBSTRUCTION_GAP, World, WorldObject, way_obstructed as obstructed
    cases = make_cases(['obstructed'], None, 4)
    assert [c.task for c in cases] == ['walk_to'] * 4 and all(c.split == 'obstructed' for c in cases)
    for c in cases:
        world = case_world(c.seed)
        target = world.get(c.target)
        assert obstructed(world, target) and not is_held_out_combo(target.colour, target.shape)
    grey = (0.5, 0.5, 0.5, 1.0)
    ball = WorldObject('red', 'ball', (3.0, 0.0), 0.0, grey)
    for other_xy, blocks in [((1.5, 0.0), True), ((1.5, 1.5), False), ((4.5, 0.0), False)]:
        world = World(0, (0.0, 0.0, 0.0), (ball, WorldObject('blue', 'box', other_xy, 0.0, grey)))
        assert obstructed(world, ball) == blocks, other_xy
    assert not obstructed(World(0, (0.0, 0.0, 0.0), (ball,)), WorldObject('red', 'ball', (3.0, 0.0), 0.0, grey)), \
        'the target is known by its name: the same object of another copy of the world is not in the way'
    assert OBSTRUCTION_GAP > 0.4, "wider than vla_safety's default stop zone (0.4 m from the base's centre)"


def test_beside_object_cases_start_where_a_walk_to_another_object_ended():
    """'beside_object': walk_to only, to a seen pair, the robot starting 0.42-0.55 m from another
    object's surface and facing it; the case's world (case_world) puts the simulator's robot there."""
    import math
    from vla_learning.eval_cases import case_world, make_cases
    from vla_learning.instructions import is_held_out_combo
    from vla_sim.sim import HumanoidSim
    cases = make_cases(['beside_object'], None, 3)
    assert [c.task for c in cases] == ['walk_to'] * 3 and all(c.start is not None for c in cases)
    assert cases == make_cases(['beside_object'], None, 3), 'deterministic'
    for c in cases:
        world = case_world(c.seed, c.start)
        assert world.robot_start == c.start and not is_held_out_combo(*c.target.split('_'))
        x, y, yaw = c.start
        near = min((o for o in world.objects if o.name != c.target), key=lambda o: o.surface_distance((x, y)))
        assert 0.42 - 1e-6 <= near.surface_distance((x, y)) <= 0.56
        bearing = math.atan2(near.xy[1] - y, near.xy[0] - x) - yaw
        assert abs(math.atan2(math.sin(bearing), math.cos(bearing))) <= 0.3 + 1e-6
    sim = HumanoidSim()
    sim.reset(cases[0].seed, world=case_world(cases[0].seed, cases[0].start))
    np.testing.assert_allclose(sim.state().base_pose, cases[0].start, atol=1e-3)
    sim.close()


def test_obstructed_walk_to_demonstrations_go_around_what_is_in_the_way():
    """collect.walk_to_obstructed_fraction 1: every walk_to episode's target lies past another object,
    and the teacher, through vla_safety's gate, mostly still gets there (only successes are written)."""
    from vla_learning.collect import CollectConfig, _init_worker, collect_one
    from vla_sim.world import sample_world, way_obstructed
    _init_worker(CollectConfig(image_size=32, walk_to_obstructed_fraction=1.0, task_weights={'walk_to': 1.0}))
    episodes = [collect_one((i, 'walk_to')) for i in range(4)]
    written = [e for e in episodes if e['success']]
    assert len(written) >= 3, [e['success'] for e in episodes]
    for episode in written:
        world = sample_world(episode['info']['seed'])
        assert way_obstructed(world, world.get(episode['info']['target']))


def test_walks_from_beside_another_object_start_where_a_walk_there_ended_and_record_the_lidar():
    """collect.walk_to_from_object_fraction 1: every walk_to starts 0.42-0.55 m from another object's
    surface, facing it, clear of the rest; the teacher still gets to the target through the gate, and
    collect.range_sectors records the lidar per frame (an object near at the start, ahead)."""
    import math
    from vla_learning.collect import CollectConfig, _init_worker, collect_one
    from vla_sim.world import start_beside
    from vla_sim.world import sample_world
    rng = np.random.default_rng(0)
    for seed in range(20):
        world = sample_world(seed)
        target = world.objects[0].name
        moved = start_beside(world, target, rng)
        if moved is None:
            continue
        x, y, yaw = moved.robot_start
        gaps = {o.name: o.surface_distance((x, y)) for o in moved.objects}
        near = min((n for n in gaps if n != target), key=gaps.get)
        assert 0.42 - 1e-6 <= gaps[near] <= 0.56 and all(g >= 0.5 for n, g in gaps.items() if n != near), gaps
        o = moved.get(near)
        bearing = math.atan2(o.xy[1] - y, o.xy[0] - x) - yaw
        assert abs(math.atan2(math.sin(bearing), math.cos(bearing))) <= 0.3 + 1e-6
    _init_worker(CollectConfig(image_size=32, walk_to_from_object_fraction=1.0, range_sectors=8,
                               task_weights={'walk_to': 1.0}))
    episodes = [collect_one((i, 'walk_to')) for i in range(4)]
    written = [e for e in episodes if e['success']]
    assert len(written) >= 3, [e['success'] for e in episodes]
    for episode in written:
        r = episode['range_sectors']
        assert r.shape == (len(episode['images']), 8)
        assert r[0, 0] < 0.9, f'the object it faces at the start is in the sector ahead: {r[0]}'


@pytest.mark.parametrize('task, gaze_gain', [('turn_left', 0.5), ('turn_right', 0.5), ('turn_right', 0.0),
                                             ('wave', 0.5)])
def test_teacher_solves_memoryless_variants(task, gaze_gain):
    """The teacher's turn (the head carries the progress, or stays at rest with gain 0) and wave
    (the elbow carries the phase) succeed."""
    import vla_sim  # noqa: F401
    from vla_sim.lockstep import LockstepConfig, run_episode
    from vla_sim.sim import HumanoidSim
    from vla_learning.teacher import ObservableTeacher
    sim = HumanoidSim()
    t = ObservableTeacher(sim=sim, gaze_gain=gaze_gain)
    for seed in range(2):
        r = run_episode(t, task, seed, sim=sim, config=LockstepConfig(image_size=(32, 32), record=True))
        assert r.success, (task, seed)
        if task.startswith('turn'):
            pan = r.trajectory.as_arrays()['joint_positions'][:, sim.joint_names.index('head_pan_joint')]
            assert (abs(pan[-1]) > 0.3) == (gaze_gain > 0), pan[-1]
    sim.close()


def test_torchrun_ddp(tiny, tmp_path):
    """The training command runs unchanged under torchrun (2 CPU processes, gloo)."""
    root, _, _ = tiny
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2', '--master_port', '29533',
           '-m', 'vla_learning.train', '--config', str(CONFIG), '--no-progress', '--set', f'dataset={root / "ds"}',
           f'output_dir={tmp_path / "ddp"}', 'export_dir=', NO_ROUND, 'model.image_size=32',
           'model.vision_channels=[8,8,16]', 'model.vision_strides=[]',
           'train.steps=3', 'train.val_every=3', 'train.log_every=1', 'train.val_batches=1', 'train.batch_size=4',
           'train.num_threads=1']
    env = dict(os.environ, OMP_NUM_THREADS='1')
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-4000:]
    summary = json.loads((tmp_path / 'ddp' / 'summary.json').read_text())
    assert summary['steps'] == 3
    from vla_learning.metrics import read_metrics
    rows = read_metrics(tmp_path / 'ddp' / 'metrics.jsonl')
    assert rows[0]['samples_per_s'] > 0 and (tmp_path / 'ddp' / 'checkpoints' / 'best' / 'config.json').exists()


def test_ablation_trains_and_tabulates_each_variant(tiny, tmp_path):
    import yaml
    from vla_learning.ablation import main as ablation_main
    from vla_learning.train import load_config
    root, _, _ = tiny
    base = load_config(CONFIG, [f'dataset={root / "ds"}', 'output_dir=unused', 'model.image_size=32',
                                'model.vision_channels=[8,8,16]', 'model.vision_strides=[]', 'train.val_batches=1',
                                'train.batch_size=8', 'train.warmup_steps=1'])
    (tmp_path / 'base.yaml').write_text(yaml.safe_dump(base.to_dict()))
    conf = {'base_config': str(tmp_path / 'base.yaml'), 'output_dir': str(tmp_path / 'ab'),
            'train': {'steps': 2, 'val_every': 2, 'log_every': 1},
            'eval': {'episodes': 1, 'splits': ['seen', 'out_of_scope'], 'tasks': ['raise_left_arm']},
            'variants': {'late_fusion': {'model': {'fusion': 'concat', 'spatial_pooling': 'mean'}},
                         'rt1': {'model': {'action_head': 'rt1_tokens', 'head_dim': 16}}}}
    (tmp_path / 'ab.yaml').write_text(yaml.safe_dump(conf))
    assert ablation_main(['--config', str(tmp_path / 'ab.yaml'), '--only', 'late_fusion']) == 0
    rows = json.loads((tmp_path / 'ab' / 'ablation.json').read_text())
    assert [r['variant'] for r in rows] == ['late_fusion']
    assert rows[0]['fusion'] == 'concat' and rows[0]['steps'] == 2 and 0 <= rows[0]['seen'] <= 1
    assert ablation_main(['--config', str(tmp_path / 'ab.yaml')]) == 0          # late_fusion is not redone
    rows = json.loads((tmp_path / 'ab' / 'ablation.json').read_text())
    assert [(r['variant'], r['head']) for r in rows] == [('late_fusion', 'tanh_chunk'), ('rt1', 'rt1_tokens')]
    table = (tmp_path / 'ab' / 'ablation.md').read_text()
    assert '| late_fusion | small_cnn | hash_bag | concat | mean | tanh_chunk |' in table


def test_instruction_augmentations():
    import torch
    from vla_learning.batches import _drop_words, _insert_unknown_word, _unknown_words
    gen = np.random.default_rng(0)
    tokens = torch.tensor([[5, 6, 7, 0, 0], [9, 0, 0, 0, 0], [3, 4, 8, 2, 1]])
    dropped = _drop_words(tokens.repeat(200, 1), gen, 0.9)
    assert ((dropped != 0).sum(1) >= 1).all(), 'every instruction keeps a word'
    assert ((dropped != 0) <= (tokens.repeat(200, 1) != 0)).all(), 'nothing appears where there was padding'
    assert (dropped != 0).sum() < (tokens != 0).sum() * 200 * 0.5
    inserted = _insert_unknown_word(tokens, np.random.default_rng(1), 1.0, 4096)
    assert (inserted[tokens != 0] == tokens[tokens != 0]).all(), 'words kept in place'
    assert inserted[0, 3] > 0 and inserted[1, 1] > 0, 'one new word in the first free slot'
    assert ((inserted != 0).sum(1) == torch.tensor([4, 2, 5])).all(), 'full rows unchanged'
    swapped = _unknown_words(tokens, np.random.default_rng(2), 1.0, 4096)
    assert ((swapped == 0) == (tokens == 0)).all() and (swapped[tokens != 0] != tokens[tokens != 0]).any()
    # object negatives: 'walk to the red box' (ids 11 12 13 1 2) -> verb or object made unknown
    from vla_learning.batches import _object_negatives
    objects, articles = torch.tensor([1, 2]), torch.tensor([13])
    neg = _object_negatives(torch.tensor([[11, 12, 13, 1, 2, 0]]).repeat(100, 1), np.random.default_rng(3),
                            objects, articles, 4096)
    kept_object = (neg[:, 2:5] == torch.tensor([13, 1, 2])).all(1)
    kept_verb = (neg[:, :3] == torch.tensor([11, 12, 13])).all(1)
    assert 20 < int(kept_object.sum()) < 80 and int((kept_object ^ kept_verb).sum()) == 100
    assert (neg[kept_object][:, :2] != torch.tensor([11, 12])).all(), 'the verb is unknown'
    assert (neg[kept_verb][:, 3:5] != torch.tensor([1, 2])).all(), 'the object is unknown'
    assert (neg[:, 5] == 0).all(), 'padding stays padding'


def test_training_with_dataset_action_normalisation(tiny, tmp_path):
    from vla_policy.registry import make_policy
    from vla_learning.train import load_config, train
    root, _, _ = tiny
    conf = load_config(CONFIG, [f'dataset={root / "ds"}', f'output_dir={tmp_path / "run"}', 'export_dir=', NO_ROUND,
                                'model.image_size=32', 'model.vision_channels=[8,8,16]', 'model.vision_strides=[]',
                                'model.action_normalization=dataset', 'train.steps=2', 'train.val_every=2',
                                'train.val_batches=1', 'train.batch_size=8', 'train.warmup_steps=1'])
    train(conf, progress=False)
    policy = make_policy(str(tmp_path / 'run' / 'checkpoints' / 'best'), 'vla_humanoid')
    assert policy.config.action_normalization == 'dataset' and policy.action_rescaler is not None
    stats = policy.stats['action']
    assert len(stats['min']) == len(stats['max']) == policy.config.action_dim
    from vla_core.policy import Observation
    out = policy.infer(Observation(np.zeros((32, 32, 3), np.uint8), 'wave', {})).actions
    lo = policy.action_rescaler.centre - policy.action_rescaler.half
    hi = policy.action_rescaler.centre + policy.action_rescaler.half
    assert (out >= np.maximum(lo, -1) - 1e-6).all() and (out <= np.minimum(hi, 1) + 1e-6).all()


def test_collected_frames_carry_grounding_labels(tiny):
    """Object tasks label every frame with where the named object is (in view or not); the label's
    pixel shows the object's colour. Other tasks have no label (NaN)."""
    from vla_learning.dataset import TARGET_KEY, LeRobotDataset
    from vla_learning.instructions import OBJECT_TASKS
    root, _, _ = tiny
    ds = LeRobotDataset(root / 'ds')
    label = ds.frames[TARGET_KEY]
    checked = hits = 0
    for row in ds.episodes_rows():
        sl = ds.episode_frames(row['episode_index'])
        if row['task_name'] not in OBJECT_TASKS:
            assert np.isnan(label[sl]).all()
            continue
        assert not np.isnan(label[sl, 0]).any() and label[sl, 0].max() == 1.0
        colour = row['target'].split('_')[0]
        rows = np.arange(sl.start, sl.stop)[label[sl, 0] == 1.0]
        for i, im in zip(rows, ds.images(rows)):
            h, w, _ = im.shape
            c = min(int((label[i, 1] + 1) / 2 * w), w - 1)
            r = min(int((label[i, 2] + 1) / 2 * h), h - 1)
            red, green, blue = (int(v) for v in im[r, c])
            hits += {'red': red > green + 40 and red > blue + 40, 'green': green > red + 40 and green > blue + 40,
                     'blue': blue > red + 40 and blue > green + 40,
                     'yellow': min(red, green) > blue + 40}[colour]
            checked += 1
    assert checked >= 5 and hits >= 0.8 * checked, (hits, checked)


def test_collected_frames_label_every_object_and_train_the_attribute_map(tiny):
    """Every frame labels each catalogue object: NaN when it is not in the scene (3 to 6 are), the
    target's own label for the named object. Batches pair a colour or shape word with the objects
    in view that have it, and the default config trains on them."""
    import torch
    from vla_policy.models.constants import ATTRIBUTE_IN_IMAGE, ATTRIBUTE_QUERY
    from vla_sim.world import ALL_OBJECTS
    from vla_learning.dataset import OBJECTS_KEY, TARGET_KEY, LeRobotDataset
    from vla_learning.batches import make_batch
    from vla_learning.metrics import read_metrics
    root, _, _ = tiny
    ds = LeRobotDataset(root / 'ds')
    assert ds.object_names == list(ALL_OBJECTS)
    objects = ds.frames[OBJECTS_KEY].reshape(ds.total_frames, len(ALL_OBJECTS), 3)
    present = ~np.isnan(objects[..., 0])
    for row in ds.episodes_rows():
        sl = ds.episode_frames(row['episode_index'])
        assert (present[sl] == present[sl.start]).all() and 3 <= present[sl.start].sum() <= 6
        if row['target']:
            k = ALL_OBJECTS.index(row['target'])
            np.testing.assert_array_equal(objects[sl, k], ds.frames[TARGET_KEY][sl])
    assert (objects[..., 0] == 1.0).any(1).mean() > 0.5, 'most frames see some object'

    from vla_learning.training_data import TrainingData
    from vla_core.embodiment import load_embodiment
    from vla_policy.models.configuration_loss import SeedVLALossConfig
    from vla_policy.models.configuration_seed_vla import SeedVLAConfig
    emb = load_embodiment('vla_humanoid')
    cfg = SeedVLAConfig.for_embodiment(emb, vision={'image_size': 32}, fusion={'pooling': 'grounded_query'})
    data = TrainingData(ds, cfg, emb, ds.stats())
    assert data.attribute_tokens.shape[0] == data.attribute_objects.shape[0] == 21
    rows = np.arange(ds.total_frames)
    batch = make_batch(data, rows, np.random.default_rng(0), None, cfg, None, 'cpu',
                       SeedVLALossConfig(attribute_weight=1.0))
    labels, has = batch[ATTRIBUTE_IN_IMAGE], batch[ATTRIBUTE_QUERY]
    assert labels.shape == (len(rows), len(ALL_OBJECTS), 3) and has.shape[0] == len(rows)
    # a word's label marks only objects with its attribute that are in view
    words = [data.attribute_tokens.tolist().index(t) for t in has.tolist()]
    marked = labels[..., 0] == 1.0
    assert marked.any()
    assert not (marked & ~data.attribute_objects[torch.tensor(words)]).any()
    assert not (marked & ~torch.from_numpy(objects[..., 0] == 1.0)).any()
    # the objectness map's labels: every object's place, whichever the instruction names
    from vla_policy.models.constants import OBJECTS_IN_IMAGE
    plain = make_batch(data, rows, np.random.default_rng(0), None, cfg, None, 'cpu',
                       SeedVLALossConfig(objectness_weight=1.0))
    assert OBJECTS_IN_IMAGE not in batch and ATTRIBUTE_QUERY not in plain
    np.testing.assert_array_equal(plain[OBJECTS_IN_IMAGE].numpy(), objects)
    rows_logged = read_metrics(root / 'run' / 'metrics.jsonl')
    assert any('attribute_loss' in r for r in rows_logged), 'the default config trains the attribute map'
    from vla_policy.models.constants import OBS_ELAPSED
    assert OBS_ELAPSED not in batch
    timed = SeedVLAConfig.for_embodiment(emb, vision={'image_size': 32}, elapsed_horizon_s=6.0)
    batch = make_batch(data, rows, np.random.default_rng(0), None, timed, None, 'cpu')
    elapsed = batch[OBS_ELAPSED].numpy()[:, 0]
    np.testing.assert_allclose(elapsed, ds.frames['timestamp'], atol=1e-6)
    first = ds.frames['frame_index'] == 0
    assert (elapsed[first] == 0).all() and elapsed.max() > 1.0, 'seconds since each episode began'


def test_paraphrase_split_holds_out_frames_not_words():
    """The module's promise: a paraphrase's sentence frame never occurs in training, its words do."""
    import re
    from vla_learning.instructions import COLOUR_WORDS, PARAPHRASE_TEMPLATES, SHAPE_WORDS, train_templates
    words = {w for ws in (*COLOUR_WORDS.values(), *SHAPE_WORDS.values()) for w in ws}
    for task in PARAPHRASE_TEMPLATES:
        for t in train_templates(task):
            words |= set(re.findall('[a-z]+', t.replace('{obj}', '')))
    for task, frames in PARAPHRASE_TEMPLATES.items():
        for frame in frames:
            assert frame not in train_templates(task)
            missing = set(re.findall('[a-z]+', frame.replace('{obj}', ''))) - words
            assert not missing, f"'{frame}' ({task}) uses {missing}, never seen in training"


def test_held_episodes_go_on_after_success_with_a_label_for_every_frame(tmp_path):
    """hold_after_success_s: the wave goes on after its success (the teacher is still called, every
    held frame has its action and grounding label), instead of the episode ending at success."""
    from vla_learning.collect import CollectConfig, collect
    from vla_learning.dataset import LeRobotDataset
    out = tmp_path / 'held'
    collect(out, CollectConfig(episodes=4, workers=1, image_size=32, dart_fraction=0.0, val_fraction=0.25,
                               start_pose_fraction=0.0, hold_after_success_s=2.0, task_weights={'wave': 1.0}),
            progress=False)
    ds = LeRobotDataset(out)
    def length(d, e):
        f = d.episode_frames(e)
        return f.stop - f.start
    lengths = [length(ds, e) for e in range(ds.num_episodes)]
    plain = tmp_path / 'plain'
    collect(plain, CollectConfig(episodes=4, workers=1, image_size=32, dart_fraction=0.0, val_fraction=0.25,
                                 start_pose_fraction=0.0, task_weights={'wave': 1.0}), progress=False)
    ds0 = LeRobotDataset(plain)
    assert ds.num_episodes == ds0.num_episodes == 4
    assert sum(lengths) > sum(length(ds0, e) for e in range(4)), 'nothing was held after success'
