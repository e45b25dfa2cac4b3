"""The seeds' tokenizer: lowercase words (+ word n-grams) hashed into a fixed number of ids.

Deterministic across processes and machines (CRC-32, not Python's salted ``hash``), needs no
vocabulary file and no download, and accepts any text: empty, non-ASCII, 10 000 characters.
Plain Python + NumPy.
"""
from __future__ import annotations

import re
import unicodedata
import zlib
from typing import Sequence

import numpy as np

from vla_policy.models.constants import OBS_LANGUAGE_TOKENS

PAD_ID = 0
_WORD = re.compile(r'[^\W_]+')
_APOSTROPHES = str.maketrans('', '', "'\u2019\u02bc")
#: stands for an empty instruction, so "no command" has its own embedding
EMPTY_TOKEN = '<empty>'


class HashWordTokenizer:
    """Text -> ``max_tokens`` int64 ids in [0, vocab_size): 0 is padding, ids >= 1 are hash buckets.

    Text is NFKC-normalised and case-folded, apostrophes dropped ("don't" -> "dont"), and split
    into runs of letters/digits. Each word, and each run of 2..``ngrams`` consecutive words,
    becomes one id; ids past ``max_tokens`` are dropped.
    """

    #: batch key of the ids (see :mod:`vla_policy.models.constants`)
    batch_key = OBS_LANGUAGE_TOKENS

    def __init__(self, vocab_size: int, max_tokens: int, ngrams: int = 2) -> None:
        if vocab_size < 2 or max_tokens < 1 or ngrams < 1:
            raise ValueError('HashWordTokenizer needs vocab_size >= 2, max_tokens >= 1, ngrams >= 1')
        self.vocab_size = int(vocab_size)
        self.max_tokens = int(max_tokens)
        self.ngrams = int(ngrams)

    @classmethod
    def from_config(cls, config) -> 'HashWordTokenizer':
        return cls(config.language.vocab_size, config.language.max_tokens, config.language.ngrams)

    def words(self, text: str) -> list[str]:
        """The normalised words of ``text`` (at most ``max_tokens``: more could never be encoded)."""
        text = unicodedata.normalize('NFKC', text).casefold().translate(_APOSTROPHES)
        out = []
        for m in _WORD.finditer(text):
            out.append(m.group())
            if len(out) >= self.max_tokens:
                break
        return out

    def token_strings(self, text: str) -> list[str]:
        """The strings that are hashed, in order (for inspection and tests)."""
        words = self.words(text) or [EMPTY_TOKEN]
        toks: list[str] = []
        for i in range(len(words)):
            for n in range(1, self.ngrams + 1):
                if i - n + 1 < 0:
                    break
                toks.append(' '.join(words[i - n + 1:i + 1]))
        return toks[:self.max_tokens]

    def _id(self, token: str) -> int:
        return 1 + zlib.crc32(token.encode('utf-8', 'surrogatepass')) % (self.vocab_size - 1)

    def encode(self, text: str) -> np.ndarray:
        """One instruction -> (max_tokens,) int64, padded with PAD_ID."""
        if not isinstance(text, str):
            raise TypeError(f'instruction must be str, got {type(text).__name__}')
        ids = np.zeros(self.max_tokens, dtype=np.int64)
        toks = self.token_strings(text)
        ids[:len(toks)] = [self._id(t) for t in toks]
        return ids

    def __call__(self, texts: str | Sequence[str]) -> np.ndarray:
        """A string or a list of strings -> (B, max_tokens) int64."""
        if isinstance(texts, str):
            texts = [texts]
        return np.stack([self.encode(t) for t in texts]) if len(texts) else np.zeros((0, self.max_tokens), np.int64)
