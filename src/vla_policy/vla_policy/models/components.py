"""Small registries of model components, so a config names its parts by string.

Each registry maps a name to a lazy ``'module:Class'`` target; nothing is imported until a model
is built, so validating a :class:`~vla_policy.models.configuration_seed_vla.SeedVLAConfig` needs
no PyTorch. Adding a part (FiLM or cross-attention fusion, an RT-1 token or diffusion head, a
pretrained EfficientNet-Lite0 / MiniLM encoder) is a new file with a class that implements the
matching interface in :mod:`vla_policy.models.interfaces`, plus one ``register`` call::

    FUSIONS.register('film', 'vla_policy.models.fusion_film:FiLMFusion')
"""
from __future__ import annotations

import difflib
import re


class ComponentRegistry:
    """Name -> lazily imported component class, for one kind of component."""

    def __init__(self, kind: str, targets: dict[str, str]) -> None:
        self.kind = kind
        self._targets: dict[str, str | type] = dict(targets)

    def register(self, name: str, target: str | type | None = None):
        """Add ``name``; ``target`` is 'module:Class' or a class. Without a target, a class decorator."""
        if not re.match(r'^[a-z0-9_]+$', name or ''):
            raise ValueError(f"{self.kind} name {name!r} must be lowercase letters, digits and '_'")

        def _add(obj):
            self._targets[name] = obj
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

    def get(self, name: str) -> type:
        """The component class (imported now)."""
        self.check(name, self.kind)
        target = self._targets[name]
        if isinstance(target, str):
            from vla_policy.registry import import_target
            target = import_target(target, what=self.kind)
            self._targets[name] = target
        return target


VISION_ENCODERS = ComponentRegistry('vision_encoder', {
    'small_cnn': 'vla_policy.models.vision:SmallCNNEncoder',
})
LANGUAGE_ENCODERS = ComponentRegistry('language_encoder', {
    'hash_bag': 'vla_policy.models.language:HashBagEncoder',
})
TOKENIZERS = ComponentRegistry('tokenizer', {
    'hash_words': 'vla_policy.models.tokenizer:HashWordTokenizer',
})
FUSIONS = ComponentRegistry('fusion', {
    'concat': 'vla_policy.models.fusion:ConcatMLPFusion',
})
ACTION_HEADS = ComponentRegistry('action_head', {
    'tanh_chunk': 'vla_policy.models.heads:TanhChunkHead',
})
