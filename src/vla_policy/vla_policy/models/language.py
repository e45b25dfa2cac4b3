"""Language encoders. 'hash_bag': an embedding bag over hashed word / n-gram ids."""
from __future__ import annotations

import torch
from torch import nn

from vla_policy.models.interfaces import LanguageEncoder
from vla_policy.models.tokenizer import PAD_ID


class HashBagEncoder(LanguageEncoder):
    """One learned vector per hash bucket; padding (id 0) is the zero vector and masked out."""

    def __init__(self, config) -> None:
        super().__init__()
        self.embedding = nn.Embedding(config.language.vocab_size, config.language.dim, padding_idx=PAD_ID)
        nn.init.normal_(self.embedding.weight, std=0.1)
        with torch.no_grad():
            self.embedding.weight[PAD_ID].zero_()
        self.out_dim = config.language.dim

    def forward(self, token_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.embedding(token_ids), token_ids != PAD_ID
