"""A DAgger round: rollouts a policy drives and the teacher labels, the datasets trained on together."""
import json
from pathlib import Path

import numpy as np
import pytest

CONFIG = Path(__file__).resolve().parents[1] / 'configs' / 'default.yaml'
TINY_MODEL = ['model.image_size=32', 'model.vision_channels=[8,8,16]', 'model.vision_strides=[]',
              'train.val_every=2', 'train.log_every=1', 'train.val_batches=1', 'train.batch_size=8',
              'train.warmup_steps=1', 'collect.image_size=32']


def _collection(**kw):
    from vla_learning.config import CollectConfig
    base = dict(episodes=3, workers=1, image_size=32, val_fraction=0.34, range_sectors=16)
    return CollectConfig(**{**base, **kw})


@pytest.fixture(scope='module')
def demos(tmp_path_factory):
    from vla_learning.collect import collect
    root = tmp_path_factory.mktemp('dagger')
    collect(root / 'a', _collection(task_weights={'raise_left_arm': 1.0, 'stop': 1.0}), progress=False)
    collect(root / 'b', _collection(seed=1, task_weights={'wave': 1.0, 'stop': 1.0}), progress=False)
    return root


def test_combined_dataset_renumbers_episodes_frames_and_tasks(demos):
    from vla_learning.dataset import CombinedDataset, LeRobotDataset
    a, b = LeRobotDataset(demos / 'a'), LeRobotDataset(demos / 'b')
    ds = CombinedDataset([a, b])
    assert ds.num_episodes == a.num_episodes + b.num_episodes
    assert ds.total_frames == a.total_frames + b.total_frames == len(ds.frames['index'])
    assert list(ds.frames['index']) == list(range(ds.total_frames))
    # every frame keeps its own instruction, through the union of the task lists
    instr = [ds.tasks[t] for t in ds.frames['task_index']]
    assert instr == [a.tasks[t] for t in a.frames['task_index']] + [b.tasks[t] for t in b.frames['task_index']]
    last = ds.num_episodes - 1
    sl = ds.episode_frames(last)
    assert sl.stop == ds.total_frames and (ds.frames['episode_index'][sl] == last).all()
    np.testing.assert_array_equal(ds.images([sl.start])[0], b.images([b.episode_frames(b.num_episodes - 1).start])[0])
    assert ds.split('val') == a.split('val') + [e + a.num_episodes for e in b.split('val')]
    assert ds.stats() == a.stats()            # the first part's normalisation


def test_combined_dataset_refuses_datasets_that_differ(demos, tmp_path):
    from vla_learning.collect import collect
    from vla_learning.dataset import CombinedDataset, DatasetError, LeRobotDataset
    collect(tmp_path / 'c', _collection(episodes=1, range_sectors=0, task_weights={'stop': 1.0}), progress=False)
    with pytest.raises(DatasetError, match='different columns'):
        CombinedDataset([LeRobotDataset(demos / 'a'), LeRobotDataset(tmp_path / 'c')])


def test_rollout_frames_are_where_the_driver_went_labelled_with_the_teachers_action(tmp_path):
    """'zero' (stand still) drives 'raise your left arm' for 30 % of the time limit: those frames show
    the arm down, each labelled with the teacher's raise; then the teacher raises it."""
    from vla_core.embodiment import load_embodiment
    from vla_learning.collect import collect
    from vla_learning.dataset import LeRobotDataset
    from vla_sim.tasks import TASKS
    summary = collect(tmp_path / 'r', _collection(episodes=2, task_weights={'raise_left_arm': 1.0},
                                                  rollout_policy='zero', rollout_handover=(0.3, 0.3)), progress=False)
    assert summary['episodes_written'] == 2
    ds = LeRobotDataset(tmp_path / 'r')
    emb = load_embodiment('vla_humanoid')
    pitch = [d.target for d in emb.dims].index('joint/left_shoulder_pitch_joint')
    state_pitch = ds.state_names.index('left_shoulder_pitch_joint')
    driven = int(round(0.3 * TASKS['raise_left_arm'].time_limit / 0.1))
    for row in ds.episodes_rows():
        assert row['source'].startswith('sim:rollout:zero:')
        sl = ds.episode_frames(row['episode_index'])
        labels, state = ds.frames['action'][sl, pitch], ds.frames['observation.state'][sl, state_pitch]
        assert len(labels) > driven
        assert (labels < -2.0).all(), 'every label is the teacher raising the arm'
        assert abs(state[driven - 1]) < 0.3, 'while the driver stood still the arm stayed down'
        assert state[-1] < -2.0


def test_a_round_reuses_only_the_rollouts_its_own_weights_drove(demos, tmp_path):
    """The rollouts record the weights that drove them (meta/driven_by.json). A run whose weights
    differ collects them again (another policy's would teach it the states that one drifted into);
    the same weights (a resumed run) reuse them."""
    from vla_learning.train import DRIVEN_BY, load_config, train, weights_digest
    rollouts = tmp_path / 'rollouts'

    def run(name, *extra, resume=False):
        conf = load_config(CONFIG, [f'dataset={demos / "a"}', f'output_dir={tmp_path / name}', 'export_dir=',
                                    *TINY_MODEL, 'train.steps=2', 'collect.workers=1', f'dagger.dataset={rollouts}',
                                    'dagger.episodes=1', 'dagger.steps=1', 'dagger.task_weights={stop: 1.0}', *extra])
        train(conf, resume=resume, progress=False)
        return json.loads((rollouts / 'meta' / DRIVEN_BY).read_text())

    first = run('one')
    assert first == {'checkpoint': str(tmp_path / 'one' / 'checkpoints' / 'best'),
                     'model_sha256': weights_digest(tmp_path / 'one' / 'checkpoints' / 'best')}
    second = run('two', 'seed=1')
    assert second['model_sha256'] == weights_digest(tmp_path / 'two' / 'checkpoints' / 'best')
    assert second['model_sha256'] != first['model_sha256'], 'other weights: collected again'
    (rollouts / 'kept').write_text('')
    assert run('two', 'seed=1', resume=True) == second and (rollouts / 'kept').exists(), 'the same weights: reused'


def test_training_goes_on_over_demonstrations_and_rollouts(demos, tmp_path):
    from vla_learning.dataset import LeRobotDataset
    from vla_learning.train import load_config, train
    from vla_policy.checkpoint import read_checkpoint
    from vla_policy.models.tokenizer import HashWordTokenizer
    run, rollouts = tmp_path / 'run', tmp_path / 'rollouts'
    conf = load_config(CONFIG, [f'dataset={demos / "a"}', f'output_dir={run}', f'export_dir={tmp_path / "export"}',
                                *TINY_MODEL, 'train.steps=4', 'collect.workers=2',
                                f'dagger.dataset={rollouts}', 'dagger.episodes=2', 'dagger.steps=3',
                                'dagger.task_weights={stop: 1.0}', 'dagger.hold_after_success_s=2.0',
                                'dagger.handover=[3.0, 3.0]'])
    summary = train(conf, progress=False)
    assert summary['steps'] == 4 and summary['dagger']['steps'] == 3
    ds = LeRobotDataset(rollouts)
    assert ds.num_episodes >= 1
    assert all(r['source'].startswith('sim:rollout:') for r in ds.episodes_rows())
    # only the round's tasks (dagger.task_weights), not the demonstrations'
    assert {r['task_name'] for r in ds.episodes_rows()} == {'stop'}
    meta = json.loads((tmp_path / 'export' / 'config.json').read_text())['metadata']
    assert meta['training_config'] == conf.to_dict(), 'the run the user configured, not the round'
    assert meta['extra_datasets'] == [str(rollouts)] and meta['initialised_from'] == str(run / 'checkpoints' / 'best')
    assert meta['dataset_episodes'] == LeRobotDataset(demos / 'a').num_episodes + ds.num_episodes
    exported = read_checkpoint(tmp_path / 'export').load_tensors()
    first = read_checkpoint(run / 'checkpoints' / 'best').load_tensors()
    assert any(not np.array_equal(exported[k].numpy(), first[k].numpy()) for k in first), 'trained on'
    assert json.loads((run / 'summary.json').read_text())['dagger']['output_dir'] == str(run / 'dagger')
    # the words it was trained on go with it (vla_policy.models.unknown_words reads others as one of them)
    vocabulary = json.loads((tmp_path / 'export' / 'vocabulary.json').read_text())
    split = HashWordTokenizer(1024, 100, 1).words
    trained = {w for t in LeRobotDataset(demos / 'a').tasks for w in split(t)}
    assert trained <= set(vocabulary['words']) and 'dance' in vocabulary['refused_words']
    assert 'dance' in vocabulary['read_unknown_as'] and not {'red', 'ball', 'the'} & set(vocabulary['read_unknown_as'])
