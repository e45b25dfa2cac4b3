"""Words a policy never saw in training, read with all-MiniLM-L6-v2 as the known word they mean.

A policy on hashed words ('hash_words') gives a word it was never trained on an untrained, random
vector: "stroll over to the red box", "gaze at the blue box", "cease moving" fail while "walk",
"look" and "stop" work. MiniLM knows those words. For each word of an instruction that is not in
the checkpoint's vocabulary (the words it was trained on, ``vocabulary.json`` beside its weights),
:class:`UnknownWordReader` takes the known words it may be read as (``read_unknown_as``: the
action and body words the checkpoint knows, and the verbs of the out-of-scope requests it learned
to refuse, such as "dance" or "cook"), keeps the :data:`SHORTLIST` most like it alone, tries each
of those in its place, and compares MiniLM's per-token output at that position with the unknown
word's own (cosine, wordpieces averaged). The best one is used if its similarity reaches
``threshold``; otherwise the word stays as it is (what the policy did before).

What it never does:

* read a word as a colour, an object or a direction: those are never among ``read_unknown_as``
  (and :data:`DIRECTION_WORDS` are dropped from it when read), so an unknown colour or object is
  not mapped to the nearest one the robot knows, and "clockwise" or "straight" never becomes
  "left" or "right" (MiniLM places such opposites close together);
* replace a word the checkpoint knows, a function word (:data:`FUNCTION_WORDS`: "where", "one",
  "have" ... carry no action; read as a neighbour they could turn a request into another), a
  negation or contraction ("don't", "never", "that's"), a direction word, or a word of
  vla_core.grounding's lexicons (colours, objects, handling verbs: ``keep`` in the file; that
  check refuses them, not this one).

The policy sees the rewritten words (the hashed tokenizer lowercases and splits them the same way).
MiniLM runs once per new instruction with unknown words (one batch: the sentence and each
shortlisted reading), never per frame, and not at all at ``threshold`` 1; an LRU cache keeps the
readings. PyTorch + transformers when a reader is made; importing this module needs neither. No ROS.
"""
from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Sequence

from vla_core.grounding import NEGATIONS

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
none wouldnt couldnt isnt arent wasnt werent aint thats whats lets its im youre ive id ill theres heres
'''.split()) | NEGATIONS
# contractions above and vla_core.grounding's negations: read as a neighbour, "don't move" became "go move"

#: directions and words of place: never replaced, never a replacement ("turn clockwise" was read as
#: "turn left"; "get closer to" and "next to" as the refused verb "close")
DIRECTION_WORDS = frozenset('''
left right leftward leftwards rightward rightwards toward towards forward forwards backward backwards
straight ahead behind around across under beneath below above past away along through beside near far
clockwise counterclockwise anticlockwise sideways front back north south east west
closer closest nearer nearest nearby next further farther
'''.split())

#: candidates most like the unknown word alone that are tried in its place (the rest are not)
SHORTLIST = 8


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
    def write(path: str | Path, words: Iterable[str], refused_words: Iterable[str], refused_verbs: Iterable[str],
              colour_and_object_words: Iterable[str], keep: Iterable[str] = ()) -> dict:
        """Write ``vocabulary.json``: ``words`` (of the trained instructions) and ``refused_words``
        (of the out-of-scope requests it was trained to refuse) are known and never replaced. A word
        may be read as a trained word or one of ``refused_verbs``, but never as a colour or object
        word, a direction or a function word. ``keep``: more words never replaced."""
        words, refused = sorted(set(words)), sorted(set(refused_words) - set(words))
        never = set(colour_and_object_words) | FUNCTION_WORDS | DIRECTION_WORDS
        targets = {*words, *(set(refused_verbs) & set(refused))}
        data = {'words': words, 'refused_words': refused,
                'read_unknown_as': sorted(w for w in targets if w not in never and w.isalpha()),
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
        never = FUNCTION_WORDS | DIRECTION_WORDS
        self.candidates = [w for w in vocabulary.read_unknown_as if w not in never]
        # each candidate alone: what the shortlist of an unknown word is chosen by
        self._alone = self._token_vectors([[w] for w in self.candidates], [0] * len(self.candidates)) \
            if self.candidates else None
        self._cache: OrderedDict[str, tuple] = OrderedDict()     # text -> (words, ((i, best, similarity), ...))
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def unknown(self, words: Sequence[str]) -> list[int]:
        """Positions of the words that may be replaced."""
        v = self.vocabulary
        return [i for i, w in enumerate(words) if w.isalpha() and w not in v.words and w not in v.keep
                and w not in FUNCTION_WORDS and w not in DIRECTION_WORDS]

    def __call__(self, text: str) -> Reading:
        """How ``text`` is read at the current :attr:`threshold` (MiniLM runs once per new text with
        unknown words, and not at all at threshold 1; the threshold may change between calls:
        vla_inference's ``unknown_word_similarity``)."""
        if self.threshold >= 1.0:
            return Reading(tuple(self.split(text)))
        with self._lock:
            words, best = self._cache.get(text, (None, None))
            if words is not None:
                self._cache.move_to_end(text)
        if words is None:
            words = tuple(self.split(text))
            best = self.best_readings(words, self.unknown(words))
            with self._lock:
                self._cache[text] = (words, best)
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        chosen = [(i, k, score) for i, k, score in best if score >= self.threshold]
        out = list(words)
        for i, k, _ in chosen:
            out[i] = k
        return Reading(tuple(out), tuple((words[i], k, round(score, 3)) for i, k, score in chosen))

    def best_readings(self, words: Sequence[str], positions: Sequence[int]) -> tuple[tuple[int, str, float], ...]:
        """For each position: (position, the shortlisted candidate whose MiniLM token output in that
        place is the most like the word's own, their cosine similarity), each in the user's sentence
        as written. One MiniLM batch for all of them."""
        if not positions or not self.candidates:
            return ()
        own = self._token_vectors([list(words)] * len(positions), list(positions))          # (P, 384)
        alone = self._token_vectors([[words[i]] for i in positions], [0] * len(positions))
        shortlists = (alone @ self._alone.T).topk(min(SHORTLIST, len(self.candidates)), dim=1).indices
        sentences, where = [], []
        for i, short in zip(positions, shortlists.tolist()):
            for j in short:
                sentences.append([*words[:i], self.candidates[j], *words[i + 1:]])
                where.append(i)
        tried = self._token_vectors(sentences, where).view(len(positions), -1, own.shape[-1])     # (P, S, 384)
        sims = (tried * own.unsqueeze(1)).sum(-1)
        out = []
        for p, (i, short) in enumerate(zip(positions, shortlists.tolist())):
            j = int(sims[p].argmax())
            out.append((i, self.candidates[short[j]], float(sims[p, j])))
        return tuple(out)

    def _token_vectors(self, sentences: list[list[str]], positions: Sequence[int]) -> 'torch.Tensor':
        """(len(sentences), 384) unit vectors: MiniLM's output at word ``positions[b]`` of sentence b
        (wordpieces averaged)."""
        import torch
        enc = self.tokenizer(sentences, is_split_into_words=True, padding=True, return_tensors='pt')
        with torch.inference_mode():
            states = self.model(input_ids=enc['input_ids'], attention_mask=enc['attention_mask'],
                                token_type_ids=enc.get('token_type_ids')).last_hidden_state
        mask = torch.tensor([[w == positions[b] for w in enc.word_ids(b)] for b in range(len(sentences))],
                            dtype=states.dtype).unsqueeze(-1)
        pooled = (states * mask).sum(1) / mask.sum(1).clamp_min(1.0)
        return torch.nn.functional.normalize(pooled, dim=-1)
