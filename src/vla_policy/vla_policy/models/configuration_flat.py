"""The old flat layout of the seed VLA config (every field at the top level) -> the nested one.

Checkpoints written before the config had component blocks, and the training YAML's ``model:``
block, list every field at the top level. :func:`convert_flat_config` is the one place that reads
that layout. Plain Python.
"""
from __future__ import annotations

from typing import Any, Mapping

from vla_policy.models.configuration_seed_vla import BLOCKS

#: old flat key -> (block, field): '' = SeedVLAConfig itself, 'loss' = SeedVLALossConfig
FLAT_KEYS: dict[str, tuple[str, str]] = {
    **{k: ('', k) for k in ('state_joints', 'elapsed_horizon_s', 'odometry_input', 'odometry_features',
                            'odometry_scale_m', 'range_sectors', 'range_max_m', 'action_dim', 'chunk_size', 'n_action_steps',
                            'step_dt', 'action_normalization', 'residual_joints')},
    **{k: ('vision', k) for k in ('image_size', 'image_resize', 'image_mean', 'image_std')},
    'vision_encoder': ('vision', 'encoder'), 'vision_channels': ('vision', 'channels'),
    'vision_strides': ('vision', 'strides'),
    'language_encoder': ('language', 'encoder'), 'tokenizer': ('language', 'tokenizer'),
    'text_dim': ('language', 'dim'), 'vocab_size': ('language', 'vocab_size'),
    'max_tokens': ('language', 'max_tokens'), 'text_ngrams': ('language', 'ngrams'),
    'text_cache_size': ('language', 'cache_size'), 'sentence_dim': ('language', 'sentence_dim'),
    'fusion': ('fusion', 'type'), 'hidden_dim': ('fusion', 'hidden_dim'), 'fusion_layers': ('fusion', 'layers'),
    'dropout': ('fusion', 'dropout'), 'spatial_pooling': ('fusion', 'pooling'),
    'grounding_keys': ('fusion', 'grounding_keys'), 'point_features': ('fusion', 'point_features'),
    'in_view_jitter': ('fusion', 'in_view_jitter'), 'obstacle_cells': ('fusion', 'obstacle_cells'),
    'action_head': ('head', 'type'), 'action_bins': ('head', 'bins'), 'head_dim': ('head', 'dim'),
    'head_layers': ('head', 'layers'), 'flow_steps': ('head', 'steps'), 'sampling_seed': ('head', 'sampling_seed'),
    'confidence_loss_weight': ('loss', 'confidence_weight'), 'agreement_threshold': ('loss', 'agreement_threshold'),
    'grounding_loss_weight': ('loss', 'grounding_weight'), 'grounding_attribute_weight': ('loss', 'attribute_weight'),
    'objectness_loss_weight': ('loss', 'objectness_weight'), 'action_loss_weights': ('loss', 'action_weights'),
}
#: removed old flat keys -> the value that behaves as the model does now (other values: an error)
REMOVED_FLAT_KEYS = {'map_query': 'sentence', 'in_view_jitter_mean': 0.0, 'chunk_basis': 0, 'vision_finetune': False,
                     'confidence_target': 'agreement', 'num_experts': None}


def convert_flat_config(flat: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """An old flat config (every field at the top level: old config.json files, the training YAML's
    ``model:`` block) -> (SeedVLAConfig.from_dict input, SeedVLALossConfig.from_dict input).

    Fields the chosen component does not read are dropped (the flat layout stored them all); 'num_heads'
    goes to the fusion or the head, whichever reads it. Removed knobs are refused unless they hold the
    value that behaves as the model does now. Keys already in the nested layout pass through.
    """
    model: dict[str, Any] = {}
    loss: dict[str, Any] = {}
    blocks: dict[str, dict[str, Any]] = {name: {} for name in BLOCKS}
    for key, value in flat.items():
        if key in REMOVED_FLAT_KEYS:
            keep = REMOVED_FLAT_KEYS[key]
            if keep is not None and value != keep:
                raise ValueError(f'{key}={value!r} is no longer supported (a knob of single past runs); only '
                                 f'{key}={keep!r}, the behaviour of every model since, converts')
        elif key == 'num_heads':
            blocks['fusion'][key] = blocks['head'][key] = value
        elif key in FLAT_KEYS:
            block, name = FLAT_KEYS[key]
            (model if not block else loss if block == 'loss' else blocks[block])[name] = value
        elif key in BLOCKS and isinstance(value, Mapping):
            blocks[key].update(value)
        elif key == 'loss' and isinstance(value, Mapping):
            loss.update(value)
        else:
            raise ValueError(f'{key!r} is not a field of the flat seed_vla config; known: {", ".join(FLAT_KEYS)}')
    if flat.get('fusion') == 'moe':
        raise ValueError("fusion 'moe' is no longer supported (no shipped or ablated model used it); use "
                         "'concat', 'cross_attention' or 'film'")
    for name, cls in BLOCKS.items():
        model[name] = cls.applicable(blocks[name])
    return model, loss
