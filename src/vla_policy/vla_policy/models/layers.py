"""Small building blocks shared by fusions and heads (PyTorch).

Attention is written with plain matmul + softmax (no ``nn.MultiheadAttention`` fast path), so
every block exports to ONNX with the TorchScript exporter and runs the same in onnxruntime.
"""
from __future__ import annotations

import functools
import math

import torch
from torch import nn


class MultiHeadAttention(nn.Module):
    """Queries (B, Lq, dim) attend to keys/values (B, Lk, dim); no masking (every key is real)."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f'attention width {dim} is not divisible by num_heads={num_heads}')
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        b, lq, d = x.shape
        h, hd = self.num_heads, self.head_dim
        q = self.q(x).view(b, lq, h, hd).transpose(1, 2)                       # (B, h, Lq, hd)
        k, v = self.kv(context).view(b, -1, 2, h, hd).permute(2, 0, 3, 1, 4)   # 2 x (B, h, Lk, hd)
        att = torch.softmax(q @ k.transpose(-1, -2) * (1.0 / math.sqrt(hd)), dim=-1)
        return self.out((att @ v).transpose(1, 2).reshape(b, lq, d))


class FeedForward(nn.Sequential):
    def __init__(self, dim: int, hidden: int, dropout: float = 0.0) -> None:
        super().__init__(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, dim))


class TransformerBlock(nn.Module):
    """Pre-LayerNorm block: x += attn(LN(x), LN(context or x)); x += FFN(LN(x))."""

    def __init__(self, dim: int, num_heads: int, ff_mult: int = 2, dropout: float = 0.0,
                 cross: bool = False) -> None:
        super().__init__()
        self.norm_q = nn.LayerNorm(dim)
        self.norm_kv = nn.LayerNorm(dim) if cross else None
        self.attn = MultiHeadAttention(dim, num_heads)
        self.norm_ff = nn.LayerNorm(dim)
        self.ff = FeedForward(dim, ff_mult * dim, dropout)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        q = self.norm_q(x)
        kv = q if self.norm_kv is None or context is None else self.norm_kv(context)
        x = x + self.drop(self.attn(q, kv))
        return x + self.drop(self.ff(self.norm_ff(x)))


@functools.lru_cache(maxsize=32)
def _sincos_table(n: int, dim: int) -> torch.Tensor:
    side = math.isqrt(n)
    if side * side == n and dim % 4 == 0:      # square grid: half the channels for rows, half for columns
        ys, xs = torch.meshgrid(torch.arange(side), torch.arange(side), indexing='ij')
        return torch.cat([_sincos_1d(ys.reshape(-1), dim // 2), _sincos_1d(xs.reshape(-1), dim // 2)], dim=1)
    return _sincos_1d(torch.arange(n), dim)


def _sincos_1d(pos: torch.Tensor, dim: int) -> torch.Tensor:
    half = dim // 2
    freq = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float64) / max(half, 1))
    ang = pos.to(torch.float64)[:, None] * freq[None]
    out = torch.zeros(len(pos), dim, dtype=torch.float64)
    out[:, 0:2 * half:2], out[:, 1:2 * half:2] = ang.sin(), ang.cos()
    return out.float()


def sincos_positions(n: int, dim: int) -> torch.Tensor:
    """(n, dim) fixed sin/cos position codes: 2-D (row, column) when n is a square number, else 1-D.

    A constant (no parameters), so any encoder's grid works and ONNX gets a folded initializer.
    """
    return _sincos_table(int(n), int(dim))


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 1000.0) -> torch.Tensor:
    """Scalar times t (B,) in [0, 1] -> (B, dim) sin/cos features (as in diffusion models)."""
    half = dim // 2
    freq = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    ang = (t.float() * max_period)[:, None] * freq[None]
    return torch.cat([ang.sin(), ang.cos()], dim=-1)
