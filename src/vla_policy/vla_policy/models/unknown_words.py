"""Words a policy never saw in training, read with all-MiniLM-L6-v2 as the known word they mean.

A policy on hashed words ('hash_words') gives a word it was never trained on an untrained, random
vector: "stroll over to the red box", "gaze at the blue box", "cease moving" fail while "walk",
"look" and "stop" work. MiniLM knows those words. For each word of an instruction that is not in
the checkpoint's vocabulary (the words it was trained on, ``vocabulary.json`` beside its weights),
:class:`UnknownWordReader` tries every word the unknown one may be read as (``read_unknown_as``:
action, direction and body words the checkpoint knows, and the words of the out-of-scope requests it
learned to refuse, such as "dance" or "cook") in its place and compares MiniLM's per-token output
at that position with the unknown word's own (cosine, wordpieces averaged). The best one is used if
its similarity reaches ``threshold``; otherwise the word stays as it is (what the policy did before).

What it never does:

* read a word as a colour or an object: those are never among ``read_unknown_as``, so an unknown
  colour or object is not mapped to the nearest one the robot knows (vla_core.grounding refuses
  the ones its lexicon holds before the policy runs);
* replace a word the checkpoint knows, a function word (:data:`FUNCTION_WORDS`: "where", "one",
  "have" ... carry no action; read as a neighbour they could turn a request into another), a
  negation or contraction ("don't", "never", "that's"), or a word of vla_core.grounding's lexicons
  (colours, objects, handling verbs: ``keep`` in the file; that check refuses them, not this one).

The policy sees the rewritten words (the hashed tokenizer lowercases and splits them the same way).
MiniLM runs once per new instruction (about 0.1 s per unknown word on one core; an LRU cache keeps
the readings), never per frame. PyTorch + transformers when a reader is made; importing this module
needs neither. No ROS.
"""
from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Sequence

if TYPE_CHECKING:
    import torch

#: the file beside a checkpoint's weights that lists the words it was trained on
VOCABULARY_FILE = 'vocabulary.json'
#: the default similarity a replacement needs (cosine of MiniLM's token outputs; chosen on phrasings
#: written for it, not on the held-out free phrasings)
DEFAULT_THRESHOLD = 0.55

#: English function words: never replaced, never a replacement
FUNCTION_WORDS = frozenset('''
a an the this that these those it its i me my mine we us our you your yours he him his she her they them
their is are was were be been being am do does did done have has had having will would shall should can
could may might must to at in on of for from by with without into onto about as than then there here where
when what which who whom whose why how if so not no yes and or but one two some any all each every other
another just very really too also only now please kindly thanks thank hey hi okay ok oh well up down over
out off again once more most less little bit lot
not no nor never nothing none neither dont doesnt didnt cant cannot wont wouldnt shouldnt couldnt isnt arent
wasnt werent aint thats whats lets its im youre ive id ill theres heres
'''.split())
# negations and contractions above: read as a neighbour, "don't move" became "go move"


@dataclass(frozen=True)
class Reading:
    """How an instruction is read: ``words`` as the policy sees them, and each replacement made
    (unknown word, the known word it is read as, similarity)."""

    words: tuple[str, ...]
    replaced: tuple[tuple[str, str, float], ...] = ()

    @property
    def text(self) -> str:
        return ' '.join(self.words)

    def describe(self) -> str:
        return ', '.join(f"'{u}' as '{k}' ({s:.2f})" for u, k, s in self.replaced)


@dataclass(frozen=True)
class CheckpointVocabulary:
    """A checkpoint's ``vocabulary.json``: ``words`` it was trained on, and ``read_unknown_as``:
    the known words an unknown one may be read as (no colours, no objects)."""

    words: frozenset[str]
    read_unknown_as: tuple[str, ...]
    keep: frozenset[str] = frozenset()

    @classmethod
    def read(cls, path: str | Path) -> 'CheckpointVocabulary':
        data = json.loads(Path(path).read_text())
        if not isinstance(data, dict) or not all(isinstance(data.get(k), list) for k in ('words', 'read_unknown_as')):
            raise ValueError(f"{path}: expected {{'words': [...], 'read_unknown_as': [...]}}")
        words = frozenset(str(w) for w in data['words'])
        targets = tuple(str(w) for w in data['read_unknown_as'])
        outside = sorted(set(targets) - words - set(data.get('refused_words', [])))
        if outside:
            raise ValueError(f'{path}: read_unknown_as holds words that are neither trained nor refused: {outside}')
        return cls(words | frozenset(data.get('refused_words', [])), targets, frozenset(data.get('keep', [])))

    @staticmethod
    def write(path: str | Path, words: Iterable[str], refused_words: Iterable[str],
              colour_and_object_words: Iterable[str], keep: Iterable[str] = ()) -> dict:
        """Write ``vocabulary.json``: ``words`` (trained instructions), ``refused_words`` (of the
        out-of-scope requests it was trained to refuse); a word may be read as any of them but the
        colour and object words and :data:`FUNCTION_WORDS`. ``keep``: words never replaced."""
        words, refused = sorted(set(words)), sorted(set(refused_words) - set(words))
        never = set(colour_and_object_words) | FUNCTION_WORDS
        data = {'words': words, 'refused_words': refused,
                'read_unknown_as': sorted(w for w in {*words, *refused} if w not in never and w.isalpha()),
                'keep': sorted(set(keep) - set(words))}
        Path(path).write_text(json.dumps(data, indent=1) + '\n')
        return data


class UnknownWordReader:
    """Instruction -> :class:`Reading`: unknown words replaced by the known word MiniLM reads them as.

    ``split``: text -> its normalised words (the policy tokenizer's ``words``, so both agree on
    what a word is). ``threshold``: the similarity a replacement needs (0..1; 1 = none); an
    attribute that may be set at any time.
    """

    def __init__(self, vocabulary: CheckpointVocabulary, split: Callable[[str], list[str]],
                 threshold: float = DEFAULT_THRESHOLD, cache_size: int = 256) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f'threshold must be in [0, 1], got {threshold}')
        from vla_policy.models.language_minilm import load_minilm      # transformers: only when used
        self.tokenizer, self.model, _ = load_minilm()
        self.vocabulary, self.split, self.threshold = vocabulary, split, float(threshold)
        self.candidates = [w for w in vocabulary.read_unknown_as if w not in FUNCTION_WORDS]
        self._cache: OrderedDict[str, tuple] = OrderedDict()     # text -> (words, ((i, best, similarity), ...))
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def unknown(self, words: Sequence[str]) -> list[int]:
        """Positions of the words that may be replaced."""
        v = self.vocabulary
        return [i for i, w in enumerate(words)
                if w not in v.words and w not in v.keep and w not in FUNCTION_WORDS and w.isalpha()]

    def __call__(self, text: str) -> Reading:
        """How ``text`` is read at the current :attr:`threshold` (MiniLM runs once per new text; the
        threshold may change between calls: vla_inference's ``unknown_word_similarity``)."""
        with self._lock:
            words, best = self._cache.get(text, (None, None))
            if words is not None:
                self._cache.move_to_end(text)
        if words is None:
            words = tuple(self.split(text))
            best = tuple((i, *self.best_reading(words, i)) for i in self.unknown(words))   # each in the user's sentence
            with self._lock:
                self._cache[text] = (words, best)
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        chosen = [(i, k, score) for i, k, score in best if k is not None and score >= self.threshold]
        out = list(words)
        for i, k, _ in chosen:
            out[i] = k
        return Reading(tuple(out), tuple((words[i], k, round(score, 3)) for i, k, score in chosen))

    def best_reading(self, words: Sequence[str], i: int) -> tuple[str | None, float]:
        """The candidate whose MiniLM token output in place of ``words[i]`` is the most like that
        word's own, and the cosine similarity (None, 0 when there are no candidates)."""
        if not self.candidates:
            return None, 0.0
        sentences = [list(words)] + [[*words[:i], k, *words[i + 1:]] for k in self.candidates]
        vectors = self._token_vectors(sentences, i)
        sims = vectors[1:] @ vectors[0]
        j = int(sims.argmax())
        return self.candidates[j], float(sims[j])

    def _token_vectors(self, sentences: list[list[str]], i: int) -> 'torch.Tensor':
        """(len(sentences), 384) unit vectors: MiniLM's output at word ``i`` of each (wordpieces averaged)."""
        import torch
        enc = self.tokenizer(sentences, is_split_into_words=True, padding=True, return_tensors='pt')
        with torch.inference_mode():
            states = self.model(input_ids=enc['input_ids'], attention_mask=enc['attention_mask'],
                                token_type_ids=enc.get('token_type_ids')).last_hidden_state
        mask = torch.tensor([[w == i for w in enc.word_ids(b)] for b in range(len(sentences))],
                            dtype=states.dtype).unsqueeze(-1)
        pooled = (states * mask).sum(1) / mask.sum(1).clamp_min(1.0)
        return torch.nn.functional.normalize(pooled, dim=-1)
