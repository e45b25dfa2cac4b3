"""The typed configs: defaults defined once (those the shipped checkpoint was trained with), YAML
files as overrides, unknown keys and bad values rejected with errors that say what to write."""
import json
from pathlib import Path

import pytest

from vla_learning.config import (CollectConfig, ConfigError, DaggerConfig, EvalConfig, RunConfig, TrainConfig,
                                 from_dict, load_config)

CONFIGS = Path(__file__).resolve().parents[1] / 'configs'
SHIPPED = Path(__file__).resolve().parents[2] / 'vla_policy' / 'checkpoints' / 'default' / 'config.json'


#: settings added after the shipped checkpoint was trained -> the value that does what it was trained with
ADDED_SINCE_THE_SHIPPED_CHECKPOINT: dict = {
    'collect': {'rollout_policy': '', 'rollout_handover': [0.5, 1.0]},     # the teacher drives every episode
    'dagger': {'episodes': 0, 'dataset': '', 'seed': 1, 'handover': [0.5, 1.0], 'task_weights': {},
               'hold_after_success_s': -1.0, 'steps': 8000, 'lr': 0.0005,
               'warmup_steps': 100, 'time_limit_s': 900.0},                # no DAgger round
}


def test_default_yaml_gives_the_training_config_the_shipped_checkpoint_was_trained_with():
    """configs/default.yaml no longer lists the train: block, yet its effective config is the one the
    shipped checkpoint's metadata records (written by the training command that made it), and a
    setting added since holds the value that does what the checkpoint was trained with."""
    shipped = json.loads(SHIPPED.read_text())['metadata']['training_config']
    run = load_config(CONFIGS / 'default.yaml')
    effective = run.to_dict()
    for key in ('dataset', 'seed', 'embodiment', 'collect', 'model', 'train', 'dagger'):
        expected = shipped.get(key, {})
        if key in ADDED_SINCE_THE_SHIPPED_CHECKPOINT:
            expected = {**ADDED_SINCE_THE_SHIPPED_CHECKPOINT[key], **expected}
        assert effective[key] == expected, key
    assert run.export_dir == 'src/vla_policy/checkpoints/default'


def test_yaml_files_hold_overrides_only():
    """No key of the shipped YAML files restates a dataclass default."""
    import yaml
    default = yaml.safe_load((CONFIGS / 'default.yaml').read_text())
    assert set(default) == {'dataset', 'output_dir', 'export_dir', 'collect', 'model', 'dagger'}
    for key, value in default['collect'].items():
        assert getattr(CollectConfig(), key) != value, key
    for key, value in default['dagger'].items():
        assert getattr(DaggerConfig(), key) != getattr(DaggerConfig(**{key: value}), key), key
    ablation = yaml.safe_load((CONFIGS / 'ablation.yaml').read_text())
    for key, value in ablation['train'].items():
        assert getattr(TrainConfig(), key) != value, key
    for key, value in ablation['eval'].items():
        assert getattr(EvalConfig(), key) != value, key


@pytest.mark.parametrize('override, named, valid', [
    ('train.stepz=3', 'stepz', 'steps'),
    ('train.augment.shift=1', 'shift', 'shift_px'),
    ('collect.episode=5', 'episode', 'episodes'),
    ('datset=x', 'datset', 'dataset'),
])
def test_an_unknown_key_is_an_error_naming_it_and_the_valid_ones(override, named, valid):
    with pytest.raises(ConfigError, match=f"'{named}'.*valid keys there: .*{valid}"):
        load_config(CONFIGS / 'default.yaml', [override])


def test_overrides_change_only_their_key():
    run = load_config(CONFIGS / 'default.yaml', ['train.augment.shift_px=0', 'train.lr=1e-3'],
                      updates={'collect': {'episodes': 9}})
    assert run.train.augment.shift_px == 0 and run.train.augment.brightness == TrainConfig().augment.brightness
    assert run.train.lr == 0.001 and run.train.steps == TrainConfig().steps      # YAML's '1e-3' is a string
    assert run.collect.episodes == 9 and run.collect.task_weights == CollectConfig().task_weights
    assert isinstance(run.collect.light_range, tuple)


@pytest.mark.parametrize('cls, data, message', [
    (RunConfig, {'output_dir': 'x'}, "'dataset' is required"),
    (TrainConfig, {'augment': {'word_dropout': 1.5}}, r'word_dropout is a share: give a value in \[0, 1\]'),
    (TrainConfig, {'steps': 0}, 'train.steps must be > 0'),
    (TrainConfig, {'lr': 'fast'}, "'lr' must be a number"),
    (CollectConfig, {'light_range': [1.2, 0.5]}, 'low <= high'),
    (CollectConfig, {'task_weights': {}}, 'e.g. {walk_to: 1.0'),
    (EvalConfig, {'splits': ['unseen']}, 'unseen_combo'),
])
def test_bad_values_are_errors_that_say_how_to_fix_them(cls, data, message):
    with pytest.raises(ConfigError, match=message):
        from_dict(cls, data)


def test_the_commands_refuse_a_bad_config_as_a_usage_error(capsys):
    from vla_learning.collect import main as collect_main
    from vla_learning.train import main as train_main
    with pytest.raises(SystemExit):
        train_main(['--config', str(CONFIGS / 'default.yaml'), '--set', 'train.stpes=3'])
    assert "unknown key(s) ['stpes']" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        collect_main(['--out', 'unused', '--episodes', '0'])
    assert 'collect.episodes must be > 0' in capsys.readouterr().err
