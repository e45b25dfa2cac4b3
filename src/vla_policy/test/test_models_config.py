"""SeedVLAConfig component switches: defaults stay the seed model's, unset fields follow the components."""
from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from vla_policy.models import constants
from vla_policy.models.components import (ACTION_HEADS, FUSIONS, LANGUAGE_ENCODERS, TOKENIZERS, VISION_ENCODERS,
                                          ComponentRegistry)
from vla_policy.models.configuration_seed_vla import IMAGENET_MEAN, IMAGENET_STD, SeedVLAConfig

#: config.json 'config' of a checkpoint written before the component fields existed
OLD_CHECKPOINT_CONFIG = {
    'image_size': 96, 'image_mean': list(IMAGENET_MEAN), 'image_std': list(IMAGENET_STD), 'state_joints': [],
    'vision_encoder': 'small_cnn', 'vision_channels': [32, 64, 128, 128], 'tokenizer': 'hash_words',
    'language_encoder': 'hash_bag', 'vocab_size': 4096, 'max_tokens': 32, 'text_ngrams': 2, 'text_dim': 128,
    'fusion': 'concat', 'hidden_dim': 256, 'fusion_layers': 2, 'dropout': 0.1, 'action_head': 'tanh_chunk',
    'action_dim': 11, 'chunk_size': 8, 'step_dt': 0.1, 'confidence_loss_weight': 0.1,
}


def test_defaults_are_the_seed_model():
    cfg = SeedVLAConfig()
    assert (cfg.image_size, cfg.image_mean, cfg.image_std, cfg.tokenizer) == (96, IMAGENET_MEAN, IMAGENET_STD,
                                                                                'hash_words')
    assert (cfg.vision_encoder, cfg.language_encoder, cfg.fusion, cfg.action_head) == (
        'small_cnn', 'hash_bag', 'concat', 'tanh_chunk')
    assert SeedVLAConfig.from_dict(OLD_CHECKPOINT_CONFIG) == cfg
    assert SeedVLAConfig.from_dict(cfg.to_dict()) == cfg


def test_unset_fields_follow_the_components():
    cfg = SeedVLAConfig.from_dict({'vision_encoder': 'efficientnet_lite0', 'language_encoder': 'minilm_l6'})
    assert cfg.image_size == 224 and cfg.image_mean == pytest.approx((127 / 255,) * 3)
    assert cfg.image_std == pytest.approx((128 / 255,) * 3) and cfg.tokenizer == 'minilm_l6'
    # explicit values win; the saved dict holds resolved values, so it reloads identically
    cfg = SeedVLAConfig(vision_encoder='efficientnet_lite0', image_size=128, image_mean=IMAGENET_MEAN)
    assert cfg.image_size == 128 and cfg.image_mean == IMAGENET_MEAN
    assert cfg.image_std == pytest.approx((128 / 255,) * 3)
    assert SeedVLAConfig.from_dict(cfg.to_dict()) == cfg
    # replace() keeps resolved values unless they are reset to None
    base = SeedVLAConfig()
    assert dataclasses.replace(base, vision_encoder='efficientnet_lite0').image_size == 96
    assert dataclasses.replace(base, vision_encoder='efficientnet_lite0', image_size=None).image_size == 224


@pytest.mark.parametrize('overrides, match', [
    ({'language_encoder': 'minilm_l6', 'tokenizer': 'hash_words'},
     r"writes 'observation.language.tokens' but language_encoder='minilm_l6' reads "
     r"'observation.language.embedding'; use tokenizer='minilm_l6' \(or leave tokenizer unset"),
    ({'tokenizer': 'minilm_l6'}, "use tokenizer='hash_words'"),
    ({'fusion': 'cross_attention', 'hidden_dim': 30, 'num_heads': 4}, 'num_heads=4 must divide hidden_dim=30'),
    ({'action_head': 'rt1_tokens', 'head_dim': 20, 'num_heads': 3}, 'num_heads=3 must divide head_dim=20'),
    ({'vision_finetune': 'yes'}, 'vision_finetune must be true or false'),
    ({'num_experts': 1}, r'num_experts must be an integer in \[2, 64\]'),
    ({'action_bins': 1}, 'action_bins'),
    ({'flow_steps': 0}, r'flow_steps must be an integer in \[1, 100\]'),
    ({'sampling_seed': -1}, 'sampling_seed'),
    ({'text_cache_size': 0}, 'text_cache_size'),
    ({'confidence_target': 'success'}, 'confidence_target must be one of agreement, label'),
    ({'agreement_threshold': 0}, r'agreement_threshold must be a number > 0 \(RMS distance'),
    ({'fusion': 'flim'}, "not a known fusion. Did you mean 'film'.*cross_attention, film, moe"),
    ({'action_head': 'flow_match'}, "Did you mean 'flow_matching'"),
    ({'vision_encoder': 'efficientnet'}, "Did you mean 'efficientnet_lite0'"),
    ({'vision_strides': (2, 1)}, r'one stride \(1 or 2\) per vision_channels stage \(4\)'),
    ({'vision_channels': (8, 8), 'vision_strides': (2, 3)}, r'vision_strides must be \(\) or one stride'),
    ({'image_size': 32, 'vision_channels': (8,) * 6, 'vision_strides': (2,) * 6}, 'needs >= 64'),
    ({'chunk_size': 4, 'chunk_basis': 5}, r'chunk_basis must be an integer in \[0, 4\]'),
    ({'action_normalization': 'minmax'}, 'action_normalization must be one of bounds, dataset'),
    ({'image_resize': 'pad'}, 'image_resize must be one of stretch, crop'),
    ({'spatial_pooling': 'max'}, 'spatial_pooling must be one of mean, spatial_softmax'),
])
def test_errors_say_how_to_fix(overrides, match):
    with pytest.raises(ValueError, match=match):
        SeedVLAConfig.from_dict(overrides)


def test_registries_list_every_component():
    assert VISION_ENCODERS.names() == ['efficientnet_lite0', 'small_cnn']
    assert LANGUAGE_ENCODERS.names() == ['hash_bag', 'minilm_l6']
    assert TOKENIZERS.names() == ['hash_words', 'minilm_l6']
    assert FUSIONS.names() == ['concat', 'cross_attention', 'film', 'moe']
    assert ACTION_HEADS.names() == ['flow_matching', 'rt1_tokens', 'tanh_chunk']
    # the batch keys the registries declare are the shared constants
    for reg in (LANGUAGE_ENCODERS, TOKENIZERS):
        for name in reg.names():
            assert reg.batch_key(name) in (constants.OBS_LANGUAGE_TOKENS, constants.OBS_LANGUAGE_EMBEDDING)


def test_every_registered_target_imports():
    for reg in (VISION_ENCODERS, LANGUAGE_ENCODERS, TOKENIZERS, FUSIONS, ACTION_HEADS):
        for name in reg.names():
            assert isinstance(reg.get(name), type)


def test_third_party_component_defaults():
    reg = ComponentRegistry('vision_encoder', {})
    reg.register('big_vit', 'my_pkg.vit:ViT', defaults={'image_size': 384})
    assert reg.defaults('big_vit') == {'image_size': 384} and reg.batch_key('big_vit') is None
    VISION_ENCODERS.register('test_vit', 'vla_policy.models.vision:SmallCNNEncoder', defaults={'image_size': 64})
    try:
        assert SeedVLAConfig(vision_encoder='test_vit').image_size == 64
    finally:
        VISION_ENCODERS._targets.pop('test_vit')
        VISION_ENCODERS._info.pop('test_vit')


def test_config_needs_no_torch():
    code = ('import sys; from vla_policy.models.configuration_seed_vla import SeedVLAConfig; '
            "SeedVLAConfig(vision_encoder='efficientnet_lite0', language_encoder='minilm_l6', fusion='moe', "
            "action_head='flow_matching'); assert 'torch' not in sys.modules")
    subprocess.run([sys.executable, '-c', code], check=True)
