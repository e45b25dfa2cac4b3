"""What each kind of model component must implement (PyTorch).

A component is an ``nn.Module`` built as ``Class(config, ...)`` from a
:class:`~vla_policy.models.configuration_seed_vla.SeedVLAConfig` and registered by name in
:mod:`vla_policy.models.components`. The interfaces pass *token sequences* between parts, so
late fusion (pool + concat) and later cross-attention / FiLM / MoE fusion see the same inputs.
"""
from __future__ import annotations

import abc

import torch
from torch import nn


class VisionEncoder(nn.Module, abc.ABC):
    """Normalised images (B, 3, S, S) -> visual tokens (B, N, out_dim)."""

    #: width of each visual token
    out_dim: int

    @abc.abstractmethod
    def forward(self, pixels: torch.Tensor) -> torch.Tensor: ...


class LanguageEncoder(nn.Module, abc.ABC):
    """Token ids (B, L) (0 = padding) -> (tokens (B, L, out_dim), mask (B, L) bool, True = real token)."""

    out_dim: int

    @abc.abstractmethod
    def forward(self, token_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]: ...


class Fusion(nn.Module, abc.ABC):
    """Visual tokens, language tokens + mask, optional state (B, state_dim) -> features (B, out_dim).

    Built as ``Class(config, vision_dim, text_dim, state_dim)``.
    """

    out_dim: int

    @abc.abstractmethod
    def forward(self, vision: torch.Tensor, text: torch.Tensor, text_mask: torch.Tensor,
                state: torch.Tensor | None) -> torch.Tensor: ...


class ActionHead(nn.Module, abc.ABC):
    """Fused features (B, in_dim) -> an action chunk (B, chunk_size, action_dim) in [-1, 1].

    Built as ``Class(config, in_dim)``. The head owns its training loss, so a diffusion head
    (denoising loss, iterative sampling in ``forward``) or an RT-1 token head (cross-entropy over
    action bins) fits behind the same interface.
    """

    @abc.abstractmethod
    def forward(self, features: torch.Tensor) -> torch.Tensor: ...

    @abc.abstractmethod
    def loss(self, features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Scalar training loss for target chunks (B, chunk_size, action_dim)."""
