"""Whether an instruction names only things the robot knows: its vocabulary of colours and
objects, and the actions it can do with them (go to one, look at one). Plain Python, no ROS.

A learned policy maps any sentence to some action: asked for "the purple box" in a world of red,
green, blue and yellow objects it walks to the nearest match, with high confidence. So the
PolicyRunner checks each instruction before the policy's chunk is used, and an instruction that

* names a colour outside the vocabulary (``purple``, ``orange``, ``white`` ...),
* names an object outside it (``table``, ``car``, ``lamp`` ...; "can" is read as the verb), or
* asks to handle an object (``lift the yellow box``, ``bring me the green cylinder``: this robot
  has no gripper), or
* has a negation (``never turn left``, ``don't walk to the red box``): a learned policy does not
  follow one, it does what the rest of the sentence says

is refused: its chunks get confidence 0, so vla_safety holds the robot (STOP, low_confidence),
in the node and in the gated lockstep alike.

What counts as "a colour" or "an object" is a plain English lexicon below (:data:`COLOUR_LEXICON`,
:data:`OBJECT_LEXICON`, :data:`HANDLING_VERBS`): words outside it are never refused, so a user's
own phrasing ("could you", "make your way", "spin") is left to the policy. Parts of the robot
("arm", "hand", "head", "camera") are not objects. A vocabulary is a YAML file
(``config/vocabularies/<name>.yaml``, :func:`load_vocabulary`).
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import yaml

from vla_core.embodiment import bundled_config_dir

#: colour words of everyday English (lower case)
COLOUR_LEXICON = frozenset('''
red green blue yellow orange purple violet pink magenta cyan turquoise teal white black grey gray
brown beige tan maroon navy azure crimson scarlet emerald lime golden gold silver bronze lemon olive
indigo lavender lilac ivory cream khaki amber aqua coral salmon peach mint burgundy ochre rose ruby
mauve chartreuse fuchsia vermilion cerulean cobalt sienna umber taupe mustard sapphire jade copper
'''.split())

#: things a user may ask about (lower case, singular); the robot's own parts are not among them
OBJECT_LEXICON = frozenset('''
box crate cube block carton package parcel ball sphere globe orb cylinder pillar column tube pipe
pole post barrel bucket bin basket bag bottle cup mug glass jar bowl plate pot pan kettle
table desk chair stool sofa couch bench bed shelf cabinet cupboard drawer door window wall floor
stairs lamp light fan clock tv television screen monitor computer laptop keyboard phone book
pen pencil paper toy doll teddy car truck bike bicycle cart wagon robot dog cat person man woman
child kid tree plant flower rock stone brick cone pyramid ring disk disc triangle star hat shoe
sock key towel pillow blanket fridge oven sink stove vase umbrella ladder
'''.split())

#: verbs that handle an object (the robot has no gripper): refused when an object is named. Verbs
#: that also mean going or looking somewhere ("move to", "turn toward", "take me to") are not here.
HANDLING_VERBS = frozenset('''
lift pick grab grasp bring fetch carry hold push pull drag throw toss roll kick give open close
stack drop put place lower raise hit touch squeeze shake flip
'''.split())

#: negations: a learned policy does not follow them ("never turn left" turns left), so an instruction
#: with one is refused, and the robot holds until it is told what to do
NEGATIONS = frozenset('''
not no never nor neither nothing dont doesnt didnt cant cannot wont shouldnt mustnt
'''.split())

#: words that make a handling verb point at the robot itself ("lift your arm", "turn around")
_SELF_WORDS = frozenset('arm arms hand hands head face eyes eye camera yourself body left right both'.split())

_WORD = re.compile(r'[^\W\d_]+')
_APOSTROPHES = str.maketrans('', '', "'\u2019\u02bc")


@dataclass(frozen=True)
class Vocabulary:
    """What the robot knows: colour -> its words, object (shape) -> its words."""

    name: str
    colours: Mapping[str, tuple[str, ...]]
    objects: Mapping[str, tuple[str, ...]]

    @property
    def colour_words(self) -> frozenset[str]:
        return frozenset(w for ws in self.colours.values() for w in ws)

    @property
    def object_words(self) -> frozenset[str]:
        return frozenset(w for ws in self.objects.values() for w in ws)

    @classmethod
    def from_yaml(cls, path: str | Path) -> 'Vocabulary':
        try:
            with open(path, encoding='utf-8') as f:
                d = yaml.safe_load(f) or {}
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise ValueError(f'{path}: not a readable vocabulary YAML ({type(exc).__name__}: {exc})') from None
        try:
            colours = {str(k): tuple(str(w).lower() for w in v) for k, v in d['colours'].items()}
            objects = {str(k): tuple(str(w).lower() for w in v) for k, v in d['objects'].items()}
        except (KeyError, AttributeError, TypeError) as exc:
            raise ValueError(f'{path}: a vocabulary needs colours and objects, each a map of name -> '
                             f'list of words ({exc})') from None
        return cls(str(d.get('name', Path(path).stem)), colours, objects)


def vocabularies_dir() -> Path:
    """Directory of the vocabulary YAMLs bundled with vla_core."""
    return bundled_config_dir('vocabularies')


def load_vocabulary(name_or_path: str) -> Vocabulary:
    """A bundled vocabulary by name (e.g. 'vla_arena') or a YAML path."""
    p = Path(name_or_path)
    if p.suffix in ('.yaml', '.yml') or p.is_file():
        return Vocabulary.from_yaml(p)
    f = vocabularies_dir() / f'{name_or_path}.yaml'
    if not f.is_file():
        known = sorted(x.stem for x in vocabularies_dir().glob('*.yaml'))
        raise ValueError(f"unknown vocabulary '{name_or_path}'; bundled: {', '.join(known)} (or a YAML path)")
    return Vocabulary.from_yaml(f)


def words(text: str) -> list[str]:
    text = unicodedata.normalize('NFKC', text).casefold().translate(_APOSTROPHES)
    return _WORD.findall(text)


def _singular(w: str) -> str:
    if w.endswith('es') and w[:-2] in OBJECT_LEXICON:
        return w[:-2]
    if w.endswith('s') and w[:-1] in OBJECT_LEXICON:
        return w[:-1]
    return w


def unknown_references(instruction: str, vocab: Vocabulary) -> tuple[str, ...]:
    """The words of ``instruction`` that ask for what the robot does not know (empty: grounded).
    Each is given as 'colour:purple', 'object:table', 'handling:lift' or 'negation:never'."""
    ws = [_singular(w) for w in words(instruction)]
    colours, objects = vocab.colour_words, vocab.object_words
    out = [f'colour:{w}' for w in ws if w in COLOUR_LEXICON and w not in colours]
    out += [f'object:{w}' for w in ws if w in OBJECT_LEXICON and w not in objects]
    out += [f'negation:{w}' for w in ws if w in NEGATIONS]
    names_object = any(w in objects or w in OBJECT_LEXICON for w in ws)
    if names_object and not _SELF_WORDS & set(ws):
        out += [f'handling:{w}' for w in ws if w in HANDLING_VERBS]
    return tuple(dict.fromkeys(out))
