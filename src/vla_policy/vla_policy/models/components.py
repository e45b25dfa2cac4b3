"""Small registries of model components, so a config names its parts by string.

Each registry maps a name to a lazy ``'module:Class'`` target; nothing is imported until a model
is built, so validating a :class:`~vla_policy.models.configuration_seed_vla.SeedVLAConfig` needs
no PyTorch. Adding a part is a new file with a class that implements the matching interface in
:mod:`vla_policy.models.interfaces`, plus one ``register`` call::

    FUSIONS.register('my_fusion', 'my_pkg.fusion:MyFusion')

A registration may carry plain-Python facts the config uses before anything is imported:

* ``defaults``: fields of its config block the component fills in when the config leaves them
  unset (None), e.g. a pretrained vision encoder's input size and pixel statistics;
* ``batch_key``: for tokenizers, the batch key they write; for language encoders, the one they
  read (the config refuses a pair that does not match).

=====================  ===================  ===============================================
Registry               Name                 What
=====================  ===================  ===============================================
VISION_ENCODERS        small_cnn            CNN trained from scratch (default)
                       efficientnet_lite0   pretrained EfficientNet-Lite0, frozen
TOKENIZERS             hash_words           hashed words + n-grams -> ids (default)
                       minilm_l6            frozen all-MiniLM-L6-v2 sentence embedding, cached
LANGUAGE_ENCODERS      hash_bag             embedding bag over hashed ids (default)
                       minilm_l6            projection of the MiniLM sentence embedding
FUSIONS                concat               late fusion: pooled features -> MLP (default)
                       cross_attention      language tokens attend to visual tokens
                       film                 language-conditioned affine modulation of vision
ACTION_HEADS           tanh_chunk           regression of the chunk, tanh (default)
                       rt1_tokens           256-bin action tokens, transformer decoder, CE
                       flow_matching        flow matching, Euler integration of a chunk
=====================  ===================  ===============================================
"""
from __future__ import annotations

import difflib
import re
from typing import Any, Mapping

from vla_policy.models.constants import OBS_LANGUAGE_EMBEDDING, OBS_LANGUAGE_TOKENS
from vla_policy.registry import import_target


class ComponentRegistry:
    """Name -> lazily imported component class (plus plain-Python facts), for one kind of component."""

    def __init__(self, kind: str, targets: Mapping[str, str | type],
                 info: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self.kind = kind
        self._targets: dict[str, str | type] = dict(targets)
        self._info: dict[str, dict[str, Any]] = {k: dict(v) for k, v in (info or {}).items()}

    def register(self, name: str, target: str | type | None = None, *,
                 defaults: Mapping[str, Any] | None = None, batch_key: str | None = None):
        """Add ``name``; ``target`` is 'module:Class' or a class. Without a target, a class decorator.

        ``defaults``: config fields filled in when left unset (see the module docstring);
        ``batch_key``: the batch key a tokenizer writes / a language encoder reads.
        """
        if not re.match(r'^[a-z0-9_]+$', name or ''):
            raise ValueError(f"{self.kind} name {name!r} must be lowercase letters, digits and '_'")

        def _add(obj):
            self._targets[name] = obj
            info: dict[str, Any] = {}
            if defaults:
                info['defaults'] = dict(defaults)
            if batch_key:
                info['batch_key'] = batch_key
            self._info[name] = info
            return obj
        return _add if target is None else _add(target)

    def names(self) -> list[str]:
        return sorted(self._targets)

    def __contains__(self, name: object) -> bool:
        return name in self._targets

    def check(self, name: str, field: str) -> None:
        """Raise ValueError naming the choices when ``name`` is not registered."""
        if name not in self._targets:
            close = difflib.get_close_matches(str(name), self.names(), n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ''
            raise ValueError(f"SeedVLAConfig.{field}={name!r} is not a known {self.kind}.{hint} "
                             f"Choose one of: {', '.join(self.names())}, or register yours with "
                             f"vla_policy.models.components.{self.kind.upper()}S.register(name, 'module:Class').")

    def defaults(self, name: str) -> dict[str, Any]:
        """Config fields ``name`` fills in when the config leaves them unset (None)."""
        return dict(self._info.get(name, {}).get('defaults', {}))

    def batch_key(self, name: str) -> str | None:
        return self._info.get(name, {}).get('batch_key')

    def get(self, name: str) -> type:
        """The component class (imported now)."""
        self.check(name, self.kind)
        target = self._targets[name]
        if isinstance(target, str):
            target = import_target(target, what=self.kind)
            self._targets[name] = target
        return target


_IMAGENET = {'image_mean': (0.485, 0.456, 0.406), 'image_std': (0.229, 0.224, 0.225)}

VISION_ENCODERS = ComponentRegistry('vision_encoder', {
    'small_cnn': 'vla_policy.models.vision:SmallCNNEncoder',
    'efficientnet_lite0': 'vla_policy.models.vision_efficientnet:EfficientNetLite0Encoder',
}, info={
    'small_cnn': {'defaults': {'image_size': 96, **_IMAGENET}},
    # EfficientNet-Lite was trained on [-1, 1] pixels ((x - 127) / 128); measured on sample photos,
    # these statistics classify better than ImageNet mean/std with the packaged weights.
    'efficientnet_lite0': {'defaults': {'image_size': 224, 'image_mean': (127 / 255,) * 3,
                                        'image_std': (128 / 255,) * 3}},
})
LANGUAGE_ENCODERS = ComponentRegistry('language_encoder', {
    'hash_bag': 'vla_policy.models.language:HashBagEncoder',
    'minilm_l6': 'vla_policy.models.language_minilm:MiniLMProjectionEncoder',
}, info={
    'hash_bag': {'defaults': {'tokenizer': 'hash_words'}, 'batch_key': OBS_LANGUAGE_TOKENS},
    'minilm_l6': {'defaults': {'tokenizer': 'minilm_l6'}, 'batch_key': OBS_LANGUAGE_EMBEDDING},
})
TOKENIZERS = ComponentRegistry('tokenizer', {
    'hash_words': 'vla_policy.models.tokenizer:HashWordTokenizer',
    'minilm_l6': 'vla_policy.models.language_minilm:MiniLMTextEmbedder',
}, info={
    'hash_words': {'batch_key': OBS_LANGUAGE_TOKENS},
    'minilm_l6': {'batch_key': OBS_LANGUAGE_EMBEDDING},
})
FUSIONS = ComponentRegistry('fusion', {
    'concat': 'vla_policy.models.fusion:ConcatMLPFusion',
    'cross_attention': 'vla_policy.models.fusion_attention:CrossAttentionFusion',
    'film': 'vla_policy.models.fusion_film:FiLMFusion',
})
ACTION_HEADS = ComponentRegistry('action_head', {
    'tanh_chunk': 'vla_policy.models.heads:TanhChunkHead',
    'rt1_tokens': 'vla_policy.models.heads_tokens:RT1TokenHead',
    'flow_matching': 'vla_policy.models.heads_flow:FlowMatchingHead',
})
