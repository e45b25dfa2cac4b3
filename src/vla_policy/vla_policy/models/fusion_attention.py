"""Fusion 'cross_attention': the instruction's tokens query the image's feature map.

Direction: language -> vision. Each language token (a hashed word / n-gram for 'hash_bag', the
one sentence token for 'minilm_l6') is a query; the visual tokens of the encoder's feature map,
plus fixed 2-D sin/cos position codes, are keys and values. So the instruction decides *where*
to look ("the red box on the left"), and the result has one vector per language token, which
is pooled over the real tokens. We chose this direction (rather than visual tokens querying the
words) because the output size then follows the short instruction, not the image grid, and it
is the Perceiver / Flamingo-style read-out used by many VLA policies.

    text (B, L, text_dim) -> Linear -> queries (B, L, d)
    vision (B, N, C) -> Linear + pos -> keys/values (B, N, d)
    layers x [queries += CrossAttn(LN q, LN kv); queries += FFN(LN q)]
    [masked mean of queries over real tokens, mean of keys/values, state] -> Linear, ReLU -> (B, d)

with d = hidden_dim, num_heads heads.
"""
from __future__ import annotations

import torch
from torch import nn

from vla_policy.models.fusion import check_state, masked_mean
from vla_policy.models.interfaces import Fusion
from vla_policy.models.layers import TransformerBlock, sincos_positions


class CrossAttentionFusion(Fusion):
    """Language queries attend to visual tokens (see the module docstring)."""

    def __init__(self, config, vision_dim: int, text_dim: int, state_dim: int) -> None:
        super().__init__()
        fc = config.fusion
        d = fc.hidden_dim
        self.state_dim = state_dim
        self.query_proj = nn.Linear(text_dim, d)
        self.vision_proj = nn.Linear(vision_dim, d)
        self.blocks = nn.ModuleList(TransformerBlock(d, fc.num_heads, dropout=fc.dropout, cross=True)
                                    for _ in range(fc.layers))
        self.norm = nn.LayerNorm(d)
        self.out = nn.Sequential(nn.Linear(2 * d + state_dim, d), nn.ReLU(inplace=True), nn.Dropout(fc.dropout))
        self.out_dim = d

    def forward(self, vision, text, text_mask, state):
        kv = self.vision_proj(vision)
        kv = kv + sincos_positions(kv.shape[1], kv.shape[2]).to(kv.dtype)
        q = self.query_proj(text)
        for block in self.blocks:
            q = block(q, kv)
        parts = [self.norm(masked_mean(q, text_mask)), kv.mean(1)]
        if self.state_dim:
            parts.append(check_state(state, self.state_dim))
        return self.out(torch.cat(parts, dim=-1)), None
