"""LeRobot interop checks, run with the real lerobot (see scripts/lerobot_interop.sh, which builds its venv).

Not a CI test: lerobot 0.4 pins torch < 2.11. CI keeps the checks that need no lerobot
(src/vla_learning/test/test_dataset.py: the v3.0 meta layout, tasks indexed by text, quantiles).

Writes a small dataset with our writer (synthetic frames, 4 episodes, 3 instructions, annotations),
then checks, each printing PASS/FAIL and one line of figures:

  load      LeRobotDataset loads it: item['task'] is the instruction, images decode exactly, fps int
  stats     quantiles in meta/stats.json; our per-episode stats against LeRobot's compute_episode_stats
  split     LeRobot's split_dataset / delete_episodes / merge_datasets; our reader reads their output
  append    LeRobot appends an episode (add_frame, save_episode); LeRobot and our reader reload it
  foreign   our reader reads a dataset LeRobot wrote from scratch
  act       ACT trains on it (one optimiser step); our backend's chunk equals LeRobot's own exactly
  diffusion our backend runs Diffusion with use_chunk (through select_action), at the image size of
            the policy's config (48 x 48, the camera gives 64 x 64)

Exit status: the number of failed checks.
"""
from __future__ import annotations

import shutil
import sys
import tempfile
import traceback
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / 'src' / 'vla_learning'), str(REPO / 'src' / 'vla_policy'), str(REPO / 'src' / 'vla_core')]

from vla_learning.dataset import (ACTION_KEY, IMAGE_KEY, OBJECTS_KEY, STATE_KEY, TARGET_KEY,  # noqa: E402
                                  DatasetWriter, Episode, LeRobotDataset as OurDataset)

INSTRUCTIONS = ['wave', 'walk to the red box', 'wave', 'turn left']
RESULTS: list[tuple[str, bool, str]] = []


def check(name):
    def wrap(fn):
        def run(*a):
            try:
                detail = fn(*a)
                RESULTS.append((name, True, detail or ''))
                print(f'PASS {name:9s} {detail or ""}', flush=True)
            except Exception as exc:  # noqa: BLE001 - report every failure and go on
                traceback.print_exc()
                RESULTS.append((name, False, f'{type(exc).__name__}: {exc}'))
                print(f'FAIL {name:9s} {type(exc).__name__}: {exc}', flush=True)
        return run
    return wrap


def write_ours(root: Path) -> list[Episode]:
    rng = np.random.default_rng(0)
    emb_state = ['head_pan_joint', 'left_elbow_joint']
    w = DatasetWriter(root, fps=10, image_shape=(64, 64, 3), state_names=emb_state,
                      action_names=['base_linear_x', 'base_angular_z', 'left_elbow'], target_annotations=True,
                      object_names=['red_box', 'blue_ball'])
    eps = []
    for i, instr in enumerate(INSTRUCTIONS):
        n = 20 + 3 * i
        label = np.full((n, 3), np.nan, np.float32) if i != 1 else rng.uniform(-1, 1, (n, 3)).astype(np.float32)
        ep = Episode(rng.integers(0, 256, (n, 64, 64, 3), dtype=np.uint8), rng.normal(size=(n, 2)).astype(np.float32),
                     rng.normal(size=(n, 3)).astype(np.float32), np.arange(n) / 10, instr,
                     {'task_name': instr.split()[0], 'seed': i, 'success': True, 'source': 'interop'},
                     target_in_image=label, objects_in_image=np.stack([label, label], axis=1))
        w.add_episode(ep)
        eps.append(ep)
    w.close(val_fraction=0.25)
    return eps


def lerobot_ds(root: Path, **kw):
    from lerobot.datasets.lerobot_dataset import LeRobotDataset
    return LeRobotDataset(f'local/{root.name}', root=root, **kw)


@check('load')
def check_load(root: Path, eps: list[Episode]):
    ds = lerobot_ds(root)
    assert isinstance(ds.meta.fps, int) and ds.meta.fps == 10, ds.meta.fps
    n = 0
    for e, ep in enumerate(eps):
        start = sum(len(x.images) for x in eps[:e])
        for j in (0, len(ep.images) - 1):
            item = ds[start + j]
            assert item['task'] == ep.instruction, (item['task'], ep.instruction)
            img = (item[IMAGE_KEY].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
            np.testing.assert_array_equal(img, ep.images[j])
            np.testing.assert_array_equal(item[STATE_KEY].numpy(), ep.state[j])
            n += 1
        assert ds.meta.get_task_index(ep.instruction) == ['wave', 'walk to the red box', 'turn left'].index(
            ep.instruction)
    return f'{len(ds)} frames, {ds.meta.total_episodes} episodes; task text and exact images on {n} frames'


@check('stats')
def check_stats(root: Path, eps: list[Episode]):
    from lerobot.datasets.compute_stats import compute_episode_stats
    ds = lerobot_ds(root)
    qs = ['q01', 'q10', 'q50', 'q90', 'q99']
    missing = [(k, q) for k, st in ds.meta.stats.items() for q in qs if q not in st]
    assert not missing, missing
    # LeRobot's statistics of episode 1, from the same arrays (its images from files, as it records)
    ep = eps[1]
    tmp = Path(tempfile.mkdtemp())
    paths = []
    from PIL import Image
    for i, im in enumerate(ep.images):
        paths.append(str(tmp / f'{i}.png'))
        Image.fromarray(im).save(paths[-1])
    feats = {k: ds.meta.features[k] for k in (IMAGE_KEY, STATE_KEY, ACTION_KEY, TARGET_KEY)}
    theirs = compute_episode_stats({IMAGE_KEY: paths, STATE_KEY: ep.state, ACTION_KEY: ep.actions,
                                    TARGET_KEY: ep.target_in_image}, feats)
    row = OurDataset(root, load_data=False).episodes_rows()[1]
    worst = {}
    # lerobot 0.4.4 squares uint8 pixels without a cast (RunningQuantileStats.update): its image std
    # wraps around and comes out 0; ours is checked against the true per-channel std instead
    px = ep.images.reshape(-1, 3).astype(np.float64) / 255
    np.testing.assert_allclose(np.ravel(row[f'stats/{IMAGE_KEY}/std']), px.std(0), rtol=1e-9)
    lerobot_image_std = np.ravel(theirs[IMAGE_KEY]['std'])
    theirs[IMAGE_KEY]['std'] = px.std(0).reshape(3, 1, 1)
    for k in feats:
        for s, v in theirs[k].items():
            ours = np.asarray(row[f'stats/{k}/{s}'], dtype=np.float64)
            tol = 1e-6 if s in ('min', 'max', 'mean', 'std', 'count') else \
                1e-3 * float(np.max(np.asarray(theirs[k]['max']) - np.asarray(theirs[k]['min'])))
            err = float(np.max(np.abs(ours - np.asarray(v, dtype=np.float64))))
            assert ours.shape == np.shape(v) and err <= tol, (k, s, ours.shape, np.shape(v), err, tol)
            kind = 'quantiles' if s.startswith('q') else 'moments'
            worst[kind] = max(worst.get(kind, 0.0), err)
    shutil.rmtree(tmp)
    return (f'q01..q99 for all {len(ds.meta.stats)} features; episode stats vs LeRobot: max |diff| moments '
            f'{worst["moments"]:.1e}, quantiles {worst["quantiles"]:.1e} (LeRobot: 5000-bin histogram); '
            f'image std ours {px.std(0).round(3).tolist()}, LeRobot {lerobot_image_std.round(3).tolist()} (its uint8 '
            'overflow)')


@check('split')
def check_split(root: Path, eps: list[Episode], work: Path):
    from lerobot.datasets.dataset_tools import delete_episodes, merge_datasets, split_dataset
    ds = lerobot_ds(root)
    sp = split_dataset(ds, {'train': [0, 1, 2], 'val': [3]}, output_dir=work / 'split')
    assert sp['train'].meta.total_episodes == 3 and sp['val'][0]['task'] == 'turn left'
    d = delete_episodes(ds, [1], output_dir=work / 'deleted', repo_id='local/deleted')
    assert d.meta.total_episodes == 3 and d.meta.get_task_index('walk to the red box') is None
    m = merge_datasets([sp['val'], sp['train']], 'local/merged', output_dir=work / 'merged')
    assert m.meta.total_episodes == 4 and m[0]['task'] == 'turn left' and len(m) == len(ds)
    out = []
    for name, path, want in (('split/train', work / 'split' / 'train', INSTRUCTIONS[:3]),
                             ('deleted', work / 'deleted', [INSTRUCTIONS[i] for i in (0, 2, 3)]),
                             ('merged', work / 'merged', [INSTRUCTIONS[3]] + INSTRUCTIONS[:3])):
        ours = OurDataset(path)
        got = [ours.tasks[int(ours.frames['task_index'][ours.episode_frames(e).start])]
               for e in range(ours.num_episodes)]
        assert got == want, (name, got, want)
        assert 'q50' in ours.stats()[ACTION_KEY]
        out.append(f'{name} {ours.num_episodes} ep')
    np.testing.assert_array_equal(OurDataset(work / 'merged').images(range(1)), eps[3].images[:1])
    return 'LeRobot split/delete/merge ok; our reader reads ' + ', '.join(out)


@check('append')
def check_append(root: Path, eps: list[Episode], work: Path):
    dst = work / 'appended'
    shutil.copytree(root, dst)
    ds = lerobot_ds(dst)
    rng = np.random.default_rng(1)
    n = 7
    for j in range(n):
        ds.add_frame({IMAGE_KEY: rng.integers(0, 256, (64, 64, 3), dtype=np.uint8),
                      STATE_KEY: rng.normal(size=2).astype(np.float32),
                      ACTION_KEY: rng.normal(size=3).astype(np.float32),
                      TARGET_KEY: np.array([1, 0.1 * j, -0.2], np.float32),
                      OBJECTS_KEY: np.zeros(6, np.float32), 'task': 'pick up the blue ball'})
    ds.save_episode()
    ds.finalize()
    again = lerobot_ds(dst)
    assert again.meta.total_episodes == 5 and again[len(again) - 1]['task'] == 'pick up the blue ball'
    assert again[0]['task'] == 'wave'
    ours = OurDataset(dst)
    assert ours.num_episodes == 5 and ours.tasks[-1] == 'pick up the blue ball'
    sl = ours.episode_frames(4)
    np.testing.assert_allclose(ours.frames[TARGET_KEY][sl][:, 1], 0.1 * np.arange(n), atol=1e-6)
    return f'LeRobot appended episode 4 ({n} frames, a new task); LeRobot and our reader reload {len(again)} frames'


@check('foreign')
def check_foreign(work: Path):
    from lerobot.datasets.lerobot_dataset import LeRobotDataset
    feats = {'observation.images.front': {'dtype': 'image', 'shape': (32, 48, 3),
                                          'names': ['height', 'width', 'channels']},
             STATE_KEY: {'dtype': 'float32', 'shape': (2,), 'names': {'motors': ['j1', 'j2']}},
             ACTION_KEY: {'dtype': 'float32', 'shape': (2,), 'names': ['a1', 'a2']}}
    ds = LeRobotDataset.create('local/foreign', fps=15, features=feats, root=work / 'foreign', use_videos=False)
    rng = np.random.default_rng(2)
    frames = []
    for ep, task in enumerate(['stack the cups', 'open the drawer']):
        for _ in range(5 + ep):
            f = {'observation.images.front': rng.integers(0, 256, (32, 48, 3), dtype=np.uint8),
                 STATE_KEY: rng.normal(size=2).astype(np.float32), ACTION_KEY: rng.normal(size=2).astype(np.float32),
                 'task': task}
            frames.append(f)
            ds.add_frame(dict(f))
        ds.save_episode()
    ds.finalize()
    ours = OurDataset(work / 'foreign')
    assert ours.tasks == ['stack the cups', 'open the drawer'] and ours.fps == 15
    assert ours.state_names == ['j1', 'j2'] and ours.image_key == 'observation.images.front'
    np.testing.assert_array_equal(ours.images(), np.stack([f['observation.images.front'] for f in frames]))
    np.testing.assert_array_equal(ours.frames[STATE_KEY], np.stack([f[STATE_KEY] for f in frames]))
    assert [ours.tasks[t] for t in ours.frames['task_index']] == [f['task'] for f in frames]
    return f'our reader: {ours.num_episodes} episodes, {ours.total_frames} frames, tasks and exact images'


def _obs(eps, k=0):
    from vla_core.policy import Observation
    ep = eps[1]
    return Observation(ep.images[k], ep.instruction, {'head_pan_joint': float(ep.state[k, 0]),
                                                      'left_elbow_joint': float(ep.state[k, 1])})


def _save_policy(policy, ds, path: Path):
    from lerobot.policies.factory import make_pre_post_processors
    pre, post = make_pre_post_processors(policy.config, dataset_stats=ds.meta.stats)
    policy.save_pretrained(path)
    pre.save_pretrained(path)
    post.save_pretrained(path)


def _mapping():
    # the dataset's 3 action columns onto vla_humanoid's 11 dimensions (-1: held at the middle)
    return {'units': 'physical', 'indices': [0, -1, 1, -1, -1, -1, -1, 2, -1, -1, -1]}


@check('act')
def check_act(root: Path, eps: list[Episode], work: Path):
    import torch
    from lerobot.datasets.utils import dataset_to_policy_features
    from lerobot.policies.act.configuration_act import ACTConfig
    from lerobot.policies.act.modeling_act import ACTPolicy
    from lerobot.policies.factory import make_pre_post_processors
    from vla_policy.backends.lerobot_policy import LeRobotPolicy, pack_lerobot_batch
    from vla_core.embodiment import load_embodiment
    torch.manual_seed(0)
    meta = lerobot_ds(root).meta
    pf = dataset_to_policy_features(meta.features)
    inputs = {k: f for k, f in pf.items() if k in (IMAGE_KEY, STATE_KEY)}
    cfg = ACTConfig(input_features=inputs, output_features={ACTION_KEY: pf[ACTION_KEY]}, chunk_size=10,
                    n_action_steps=10, dim_model=64, dim_feedforward=128, n_heads=4, n_encoder_layers=1,
                    n_decoder_layers=1, pretrained_backbone_weights=None, device='cpu')
    ds = lerobot_ds(root, delta_timestamps={ACTION_KEY: [i / 10 for i in range(10)]})
    policy = ACTPolicy(cfg)
    pre, _ = make_pre_post_processors(cfg, dataset_stats=ds.meta.stats)
    batch = pre(next(iter(torch.utils.data.DataLoader(ds, batch_size=4, shuffle=True))))
    opt = torch.optim.AdamW(policy.parameters(), lr=1e-4)
    loss, _ = policy.forward(batch)
    loss.backward()
    opt.step()
    assert torch.isfinite(loss)
    policy.eval()
    _save_policy(policy, ds, work / 'act')
    emb = load_embodiment('vla_humanoid')
    ours = LeRobotPolicy(emb, pretrained_path=work / 'act', state_joints=['head_pan_joint', 'left_elbow_joint'],
                         actions=_mapping(), device='cpu')
    out = ours.infer(_obs(eps))
    # LeRobot's own chunk for the same observation
    from lerobot.policies.act.modeling_act import ACTPolicy as P
    ref = P.from_pretrained(str(work / 'act')).eval()
    rpre, rpost = make_pre_post_processors(ref.config, pretrained_path=str(work / 'act'))
    b = pack_lerobot_batch(_obs(eps), [IMAGE_KEY], ['head_pan_joint', 'left_elbow_joint'])
    with torch.inference_mode():
        chunk = rpost(ref.predict_action_chunk(rpre(b)))[0].numpy()
    np.testing.assert_array_equal(ours.mapping.apply(chunk, emb), out.actions)
    return (f'one training step (loss {float(loss):.3f}); backend chunk {out.actions.shape} equals LeRobot\'s '
            'predict_action_chunk exactly')


@check('diffusion')
def check_diffusion(root: Path, eps: list[Episode], work: Path):
    import torch
    from lerobot.configs.types import FeatureType, PolicyFeature
    from lerobot.datasets.utils import dataset_to_policy_features
    from lerobot.policies.diffusion.configuration_diffusion import DiffusionConfig
    from lerobot.policies.diffusion.modeling_diffusion import DiffusionPolicy
    from lerobot.policies.factory import make_pre_post_processors
    from vla_policy.backends.lerobot_policy import LeRobotPolicy, pack_lerobot_batch
    from vla_core.embodiment import load_embodiment
    torch.manual_seed(0)
    meta = lerobot_ds(root).meta
    pf = dataset_to_policy_features(meta.features)
    inputs = {IMAGE_KEY: PolicyFeature(FeatureType.VISUAL, (3, 48, 48)), STATE_KEY: pf[STATE_KEY]}
    cfg = DiffusionConfig(input_features=inputs, output_features={ACTION_KEY: pf[ACTION_KEY]}, n_obs_steps=2,
                          horizon=8, n_action_steps=4, down_dims=(32, 64), num_inference_steps=3,
                          pretrained_backbone_weights=None, use_group_norm=True, device='cpu')
    policy = DiffusionPolicy(cfg).eval()
    _save_policy(policy, lerobot_ds(root), work / 'diffusion')
    emb = load_embodiment('vla_humanoid')
    ours = LeRobotPolicy(emb, pretrained_path=work / 'diffusion', state_joints=['head_pan_joint', 'left_elbow_joint'],
                         actions=_mapping(), device='cpu')
    assert ours.use_chunk and ours.image_size == {IMAGE_KEY: (48, 48)}, ours.image_size
    torch.manual_seed(1)
    a = [ours.infer(_obs(eps, k)).actions for k in range(3)]
    assert all(x.shape == (4, emb.action_dim) and np.isfinite(x).all() for x in a)
    # the same observations through LeRobot's select_action: the first chunk is its first 4 actions
    ref = DiffusionPolicy.from_pretrained(str(work / 'diffusion')).eval()
    rpre, rpost = make_pre_post_processors(ref.config, pretrained_path=str(work / 'diffusion'))
    torch.manual_seed(1)
    steps = []
    with torch.inference_mode():
        for _ in range(4):
            b = pack_lerobot_batch(_obs(eps, 0), [IMAGE_KEY], ['head_pan_joint', 'left_elbow_joint'],
                                   image_size=(48, 48))
            steps.append(rpost(ref.select_action(rpre(b)))[0].numpy())
    np.testing.assert_allclose(ours.mapping.apply(np.stack(steps), emb), a[0], rtol=1e-5, atol=1e-6)
    return ('backend use_chunk: 3 chunks of 4 steps at the config\'s 48x48; first chunk equals LeRobot\'s '
            'select_action sequence')


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix='lerobot_interop_'))
    try:
        import lerobot
        print(f'lerobot {lerobot.__version__}, data in {work}', flush=True)
        root = work / 'ours'
        eps = write_ours(root)
        check_load(root, eps)
        check_stats(root, eps)
        check_split(root, eps, work)
        check_append(root, eps, work)
        check_foreign(work)
        check_act(root, eps, work)
        check_diffusion(root, eps, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    failed = [n for n, ok, _ in RESULTS if not ok]
    print(f'{len(RESULTS) - len(failed)} of {len(RESULTS)} checks passed' + (f'; failed: {failed}' if failed else ''))
    return len(failed)


if __name__ == '__main__':
    raise SystemExit(main())
