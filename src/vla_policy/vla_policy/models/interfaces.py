"""What each kind of model component must implement (PyTorch).

A component is an ``nn.Module`` built as ``Class(config, ...)`` from a whole
:class:`~vla_policy.models.configuration_seed_vla.SeedVLAConfig` (it reads its own block,
``config.vision`` / ``language`` / ``fusion`` / ``head``, and the chunk's shape from the top level)
and registered by name in :mod:`vla_policy.models.components`. The interfaces pass *token
sequences* between parts, so late fusion (pool + concat), cross-attention and FiLM see the same
inputs, and every action head sits behind the same ``forward`` / ``loss`` pair.

Tokenizers are plain objects, not modules: ``Class.from_config(config)``, called with a string or
a list of strings, return a NumPy array with a leading batch dimension, written to the batch
under their ``batch_key`` (see :mod:`vla_policy.models.constants`).
"""
from __future__ import annotations

import abc
from typing import Any

import torch
from torch import nn

from vla_policy.models.constants import OBS_LANGUAGE_TOKENS


class VisionEncoder(nn.Module, abc.ABC):
    """Normalised images (B, 3, S, S) -> visual tokens (B, N, out_dim), N = positions of a feature map
    in row-major order (fusions that use position assume a square grid)."""

    #: width of each visual token
    out_dim: int

    @abc.abstractmethod
    def forward(self, pixels: torch.Tensor) -> torch.Tensor: ...


class LanguageEncoder(nn.Module, abc.ABC):
    """The batch entry under ``input_key`` -> (tokens (B, L, out_dim), mask (B, L) bool, True = real token).

    'hash_bag' reads token ids (B, L) (0 = padding); 'minilm_l6' reads a sentence embedding
    (B, 384) and returns one token (L = 1).
    """

    out_dim: int
    #: batch key this encoder reads (must match the tokenizer's ``batch_key``)
    input_key: str = OBS_LANGUAGE_TOKENS

    @abc.abstractmethod
    def forward(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]: ...


class Fusion(nn.Module, abc.ABC):
    """Visual tokens, language tokens + mask, optional state (B, state_dim) -> (features (B, out_dim),
    the grounded pooling's map for the training losses or None; see fusion.Grounding).

    Built as ``Class(config, vision_dim, text_dim, state_dim)``. What the losses need is returned,
    never kept on the module.
    """

    out_dim: int

    @abc.abstractmethod
    def forward(self, vision: torch.Tensor, text: torch.Tensor, text_mask: torch.Tensor,
                state: torch.Tensor | None) -> tuple[torch.Tensor, Any]: ...


class ActionHead(nn.Module, abc.ABC):
    """Fused features (B, in_dim) -> an action chunk (B, chunk_size, action_dim) in [-1, 1].

    Built as ``Class(config, in_dim)``. The head owns its training loss, so a regression head
    (MSE), a token head (cross-entropy over action bins) and a flow-matching head (velocity
    regression in ``loss``, Euler integration in ``forward``) fit behind the same interface.
    ``forward`` is the inference path: deterministic in eval mode, and exportable to ONNX
    (no data-dependent Python control flow).
    """

    @abc.abstractmethod
    def forward(self, features: torch.Tensor) -> torch.Tensor: ...

    @abc.abstractmethod
    def loss(self, features: torch.Tensor, target: torch.Tensor,
             valid: torch.Tensor | None = None, dim_weights: torch.Tensor | None = None) -> torch.Tensor:
        """Per-sample training loss (B,) for target chunks (B, chunk_size, action_dim).

        ``valid`` (B, chunk_size) bool marks real (not padded) steps; the loss of a sample is the
        mean over its valid steps (0 for a sample with none). Use :func:`masked_step_mean`.
        ``dim_weights`` (action_dim,): a step's loss is the weighted mean over the action's
        dimensions instead of the plain mean. Use :func:`dim_mean`.
        """


def dim_mean(per_dim: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    """(..., D) per-dimension values -> (...) their mean over D, weighted by ``weights`` (D,) if given."""
    if weights is None:
        return per_dim.mean(-1)
    w = weights.to(per_dim.dtype)
    return (per_dim * w).sum(-1) / w.sum()


def masked_step_mean(per_step: torch.Tensor, valid: torch.Tensor | None) -> torch.Tensor:
    """(B, T) per-step values -> (B,) mean over the steps where ``valid`` (B, T) is True (0 where none)."""
    if valid is None:
        return per_step.mean(1)
    w = valid.to(per_step.dtype)
    return (per_step * w).sum(1) / w.sum(1).clamp_min(1.0)
