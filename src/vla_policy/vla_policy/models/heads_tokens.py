"""Action head 'rt1_tokens': RT-1-style discretised actions predicted by a small transformer decoder.

Every action dimension of every chunk step is one token over ``head.bins`` (256) uniform bins
of [-1, 1]. A decoder-only transformer reads ``MEMORY_TOKENS`` tokens made from the fused
feature, followed by one learned query per (step, dimension) (a step embedding + a dimension
embedding), and a linear read-out gives each query's bin logits:

    memory = Linear(features) -> (B, 4, head.dim)
    queries = step_emb[t] + dim_emb[d] -> (T*D, head.dim)
    head.layers x TransformerBlock over [memory; queries] (full attention)
    logits = Linear(LN(queries)) -> (B, T, D, head.bins)

Decoding is parallel (non-autoregressive: all T*D tokens in one pass, as RT-1 reads its action
tokens out at once); ``forward`` takes the argmax bin of each token and returns its centre, so
outputs lie on the grid ``-1 + (i + 0.5) * 2 / bins``. ``loss`` is the cross-entropy against the
expert action's bin. The quantisation error is at most half a bin (1/256 = 0.004 with 256 bins).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vla_policy.models.interfaces import ActionHead, dim_mean, masked_step_mean
from vla_policy.models.layers import TransformerBlock

#: tokens the fused feature is spread over, as the decoder's memory
MEMORY_TOKENS = 4
#: initial logit bias -INIT_PRIOR * centre^2 (a broad prior peaked at 0)
INIT_PRIOR = 8.0


def bin_centers(bins: int) -> torch.Tensor:
    """(bins,) centres of ``bins`` uniform bins over [-1, 1]."""
    return -1.0 + (torch.arange(bins, dtype=torch.float32) + 0.5) * (2.0 / bins)


def to_bins(actions: torch.Tensor, bins: int) -> torch.Tensor:
    """Actions in [-1, 1] -> bin indices (int64) in [0, bins); values outside [-1, 1] go to the end bins."""
    return ((actions.clamp(-1.0, 1.0) + 1.0) * (bins / 2.0)).floor().long().clamp(0, bins - 1)


class RT1TokenHead(ActionHead):
    """256-bin action tokens from a small transformer decoder (see the module docstring)."""

    def __init__(self, config, in_dim: int) -> None:
        super().__init__()
        hc = config.head
        self.chunk_size, self.action_dim, self.bins = config.chunk_size, config.action_dim, hc.bins
        d = hc.dim
        self.memory = nn.Linear(in_dim, MEMORY_TOKENS * d)
        self.step_emb = nn.Parameter(torch.randn(config.chunk_size, 1, d) * 0.02)
        self.dim_emb = nn.Parameter(torch.randn(1, config.action_dim, d) * 0.02)
        self.blocks = nn.ModuleList(TransformerBlock(d, hc.num_heads) for _ in range(hc.layers))
        self.norm = nn.LayerNorm(d)
        self.readout = nn.Linear(d, hc.bins)
        centers = bin_centers(hc.bins)
        # Untrained, the bins near 0 win: an untrained policy proposes gentle actions (like tanh_chunk).
        nn.init.normal_(self.readout.weight, std=0.01)
        with torch.no_grad():
            self.readout.bias.copy_(-INIT_PRIOR * centers.square())
        self.register_buffer('centers', centers, persistent=False)

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        """(B, in_dim) -> (B, chunk_size, action_dim, head.bins) bin logits."""
        b = features.shape[0]
        d = self.readout.in_features
        queries = (self.step_emb + self.dim_emb).reshape(1, -1, d).expand(b, -1, -1)
        x = torch.cat([self.memory(features).view(b, MEMORY_TOKENS, d), queries], dim=1)
        for block in self.blocks:
            x = block(x)
        out = self.readout(self.norm(x[:, MEMORY_TOKENS:]))
        return out.view(b, self.chunk_size, self.action_dim, self.bins)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.centers[self.logits(features).argmax(-1)]

    def loss(self, features: torch.Tensor, target: torch.Tensor,
             valid: torch.Tensor | None = None, dim_weights: torch.Tensor | None = None) -> torch.Tensor:
        logits = self.logits(features)
        ce = F.cross_entropy(logits.flatten(0, 2), to_bins(target, self.bins).flatten(), reduction='none')
        return masked_step_mean(dim_mean(ce.view(target.shape), dim_weights), valid)
