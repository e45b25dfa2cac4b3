"""Output heads: the 'tanh_chunk' action head and the confidence head (shared by every action head).

The other action heads live in ``heads_tokens`` ('rt1_tokens') and ``heads_flow`` ('flow_matching').
"""
from __future__ import annotations

import torch
from torch import nn

from vla_policy.models.interfaces import ActionHead, dim_mean, masked_step_mean


class TanhChunkHead(ActionHead):
    """Regress the whole chunk at once: Linear -> tanh -> (B, chunk_size, action_dim); MSE loss."""

    def __init__(self, config, in_dim: int) -> None:
        super().__init__()
        self.chunk_size = config.chunk_size
        self.action_dim = config.action_dim
        self.proj = nn.Linear(in_dim, config.chunk_size * config.action_dim)
        # Small outputs at initialisation: an untrained policy proposes gentle actions.
        nn.init.normal_(self.proj.weight, std=0.01)
        nn.init.zeros_(self.proj.bias)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.proj(features)).view(-1, self.chunk_size, self.action_dim)

    def loss(self, features: torch.Tensor, target: torch.Tensor,
             valid: torch.Tensor | None = None, dim_weights: torch.Tensor | None = None) -> torch.Tensor:
        per_step = dim_mean((self.forward(features) - target).square(), dim_weights)      # (B, T)
        return masked_step_mean(per_step, valid)


class ConfidenceHead(nn.Module):
    """Features (B, in_dim) -> (B,) in (0, 1): Linear -> sigmoid. Trained with BCE against the confidence
    target of :meth:`SeedVLAModel.compute_loss` (labels, out-of-scope negatives or expert agreement).

    Initialised unconfident (about 0.05): an untrained model must not look trustworthy to the
    safety gate.
    """

    INIT_LOGIT = -3.0

    def __init__(self, in_dim: int) -> None:
        super().__init__()
        self.proj = nn.Linear(in_dim, 1)
        nn.init.normal_(self.proj.weight, std=0.01)
        nn.init.constant_(self.proj.bias, self.INIT_LOGIT)

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        return self.proj(features).squeeze(-1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits(features))
