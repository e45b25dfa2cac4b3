"""The seed VLA network: vision encoder + language encoder -> fusion -> action chunk + confidence.

Built entirely from :class:`SeedVLAConfig` through the component registries; inputs are
already-normalised batches (see :mod:`vla_policy.models.processor_seed_vla`).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vla_policy.models.components import ACTION_HEADS, FUSIONS, LANGUAGE_ENCODERS, VISION_ENCODERS
from vla_policy.models.configuration_seed_vla import SeedVLAConfig
from vla_policy.models.constants import ACTION, CONFIDENCE, OBS_IMAGE, OBS_LANGUAGE_TOKENS, OBS_STATE
from vla_policy.models.heads import ConfidenceHead


class SeedVLAModel(nn.Module):
    """``forward(batch) -> {ACTION: (B, chunk_size, action_dim) in [-1, 1], CONFIDENCE: (B,) in (0, 1)}``."""

    def __init__(self, config: SeedVLAConfig) -> None:
        super().__init__()
        if not isinstance(config, SeedVLAConfig):
            raise TypeError(f'SeedVLAModel needs a SeedVLAConfig, got {type(config).__name__}')
        self.config = config
        self.vision = VISION_ENCODERS.get(config.vision_encoder)(config)
        self.language = LANGUAGE_ENCODERS.get(config.language_encoder)(config)
        self.fusion = FUSIONS.get(config.fusion)(config, self.vision.out_dim, self.language.out_dim,
                                                 config.state_dim)
        self.action_head = ACTION_HEADS.get(config.action_head)(config, self.fusion.out_dim)
        self.confidence_head = ConfidenceHead(self.fusion.out_dim)

    @classmethod
    def from_seed(cls, config: SeedVLAConfig, seed: int) -> 'SeedVLAModel':
        """A randomly initialised model; the same seed gives the same weights, without touching global RNG state."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            return cls(config)

    def encode(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Batch -> fused features (B, fusion.out_dim)."""
        vision = self.vision(batch[OBS_IMAGE])
        text, mask = self.language(batch[OBS_LANGUAGE_TOKENS])
        return self.fusion(vision, text, mask, batch.get(OBS_STATE))

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        features = self.encode(batch)
        return {ACTION: self.action_head(features), CONFIDENCE: self.confidence_head(features)}

    def compute_loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        """Training loss: the action head's loss, plus BCE of the confidence head when the batch has
        CONFIDENCE targets (1 = these actions follow the instruction, 0 = they do not)."""
        features = self.encode(batch)
        action_loss = self.action_head.loss(features, batch[ACTION])
        logs = {'action_loss': float(action_loss.detach())}
        loss = action_loss
        if CONFIDENCE in batch:
            conf_loss = F.binary_cross_entropy_with_logits(self.confidence_head.logits(features),
                                                           batch[CONFIDENCE].to(features.dtype))
            loss = loss + self.config.confidence_loss_weight * conf_loss
            logs['confidence_loss'] = float(conf_loss.detach())
        logs['loss'] = float(loss.detach())
        return loss, logs

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
