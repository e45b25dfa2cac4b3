"""Instruction vocabulary and the evaluation splits. Plain Python, no ROS, no PyTorch.

Splits (what the learned policy is asked to do, and what it was trained on):

* ``seen``        the simulator's own templates (``vla_sim.tasks``) plus the training
                  templates below, on (colour, shape) targets seen in training.
* ``paraphrase``  sentence frames that never occur in training (:data:`PARAPHRASE_TEMPLATES`),
                  e.g. "approach the crimson crate". Their *words* (shade and object synonyms
                  from :data:`COLOUR_WORDS` / :data:`SHAPE_WORDS`) do occur in training, in
                  other frames: a bag-of-words encoder cannot know a word it never saw, so
                  held-out words are a test of a pretrained language encoder, not of this one.
* ``unseen_combo`` walk_to / look_at on the (colour, shape) pairs of :data:`HELD_OUT_COMBOS`,
                  never a target in training (each colour and each shape is, with others).
* ``out_of_scope`` requests no task covers ("make me a sandwich"): the policy must refuse them
                  with a low confidence. Training negatives (:data:`OOS_TRAIN`) and evaluation
                  ones (:data:`OOS_EVAL`) are disjoint sentences.

Everything here is deterministic given a ``numpy.random.Generator``.
"""
from __future__ import annotations

import re

import numpy as np

from vla_core.grounding import load_vocabulary

#: tasks with a target object (the instruction names a colour and a shape)
OBJECT_TASKS = ('walk_to', 'look_at')

#: colour -> words used for it in instructions (first = the simulator's word), and shape -> words:
#: the arena's vocabulary (vla_core/config/vocabularies/vla_arena.yaml), which the PolicyRunner
#: also checks instructions against (vla_core.grounding)
_VOCABULARY = load_vocabulary('vla_arena')
COLOUR_WORDS: dict[str, tuple[str, ...]] = dict(_VOCABULARY.colours)
SHAPE_WORDS: dict[str, tuple[str, ...]] = dict(_VOCABULARY.objects)

#: (colour, shape) pairs never used as a target in training (each colour and shape appears once)
HELD_OUT_COMBOS: tuple[tuple[str, str], ...] = (('red', 'ball'), ('green', 'cylinder'), ('blue', 'box'))

#: extra training phrasings per task ({obj} = "<colour word> <shape word>"), beyond vla_sim's templates.
#: The polite "could you ..." frames put 'could' and 'you' into training, in frames other than the
#: paraphrase split's.
TRAIN_TEMPLATES: dict[str, tuple[str, ...]] = {
    'walk_to': ('walk over to the {obj}', 'go toward the {obj}', 'please walk to the {obj}', 'find the {obj}',
                'walk up to the {obj}', 'move toward the {obj}', 'could you go to the {obj}'),
    'look_at': ('look at that {obj}', 'face the {obj} with your head', 'please look at the {obj}',
                'watch the {obj}', 'look over at the {obj}', 'could you watch the {obj}'),
    'turn_left': ('turn left please', 'rotate to the left', 'make a left turn', 'turn around to the left',
                  'could you make a left turn'),
    'turn_right': ('turn right please', 'rotate to the right', 'make a right turn', 'turn around to the right',
                   'could you make a right turn'),
    'raise_left_arm': ('please raise your left arm', 'left arm up', 'lift the left arm up', 'raise your left hand',
                       'could you lift the left arm up'),
    'raise_right_arm': ('please raise your right arm', 'right arm up', 'lift the right arm up',
                        'raise your right hand', 'could you lift the right arm up'),
    'raise_both_arms': ('raise your arms', 'arms up', 'lift both arms', 'put your hands in the air',
                        'could you lift both arms'),
    'wave': ('please wave', 'wave to me', 'wave goodbye', 'say hello with your hand', 'could you wave goodbye'),
    'stop': ('please stop', 'stop now', 'stand still', 'stop walking', 'could you stand still'),
}

#: sentence frames held out of training, for the paraphrase split
PARAPHRASE_TEMPLATES: dict[str, tuple[str, ...]] = {
    'walk_to': ('approach the {obj} please', 'could you walk toward the {obj}', 'go over to that {obj}',
                'head to the {obj}'),
    'look_at': ('look toward that {obj} please', 'could you look at the {obj}', 'turn your head toward the {obj}'),
    'turn_left': ('please rotate left', 'could you turn to the left', 'turn left now'),
    'turn_right': ('please rotate right', 'could you turn to the right', 'turn right now'),
    'raise_left_arm': ('lift your left hand up', 'could you raise your left arm', 'put the left arm up'),
    'raise_right_arm': ('lift your right hand up', 'could you raise your right arm', 'put the right arm up'),
    'raise_both_arms': ('both arms up', 'could you raise both arms', 'lift your hands up'),
    'wave': ('wave your hand please', 'could you wave', 'wave hello to me'),
    'stop': ('stop moving now', 'please halt', 'could you stop'),
}

#: out-of-scope requests used as negatives in training (the policy learns low confidence + stand still)
OOS_TRAIN: tuple[str, ...] = (
    'make me a coffee', 'open the door', 'pick up the red box', 'jump', 'sit down', 'dance for me',
    'clean the kitchen', 'sing a song', 'what time is it', 'tell me a joke', 'kick the ball',
    'climb the stairs', 'fetch my keys', 'throw the blue ball', 'do a backflip', 'cook dinner',
    'lie down on the floor', 'call my mother', 'play some music', 'fold the laundry', 'hello there',
    'how are you', 'water the plants', 'push the green cylinder over', 'carry the box upstairs',
    'close the window', 'buy some milk', 'paint the wall', 'write a poem', 'fly',
    'take out the trash', 'feed the cat', 'drive the car', 'read me a story', 'vacuum the floor',
    'turn on the lights', 'crawl under the table', 'swim across the pool', 'calculate my taxes', 'asdf qwer',
)
#: out-of-scope requests for evaluation only (disjoint from OOS_TRAIN)
OOS_EVAL: tuple[str, ...] = (
    'make me a sandwich', 'wash the dishes', 'open the fridge', 'grab the yellow ball', 'run a marathon',
    'bring me a glass of water', 'answer the phone', 'tie your shoes', 'walk the dog', 'build a house',
    'play chess with me', 'sweep the porch', 'lock the front door', 'order a pizza', 'jump over the box',
    'stack the boxes', 'charge my phone', 'hug me', 'iron my shirt', 'mow the lawn',
)

# the simulator's own phrasings, copied from vla_sim.tasks at import time (the source of truth)


def sim_templates() -> dict[str, tuple[str, ...]]:
    from vla_sim.tasks import TASKS        # lazy: vla_sim.tasks brings the simulator (mujoco)
    return {name: tuple(kind.templates) for name, kind in TASKS.items()}


def train_templates(task: str) -> tuple[str, ...]:
    """Every phrasing of ``task`` used in training (the simulator's + :data:`TRAIN_TEMPLATES`)."""
    return sim_templates()[task] + TRAIN_TEMPLATES.get(task, ())


def is_held_out_combo(colour: str, shape: str) -> bool:
    return (colour, shape) in HELD_OUT_COMBOS


def object_phrase(colour: str, shape: str, rng: np.random.Generator | None, synonyms: bool = True) -> str:
    """'red box', or with ``synonyms`` sometimes 'crimson crate' (the simulator's word half of the time)."""
    if rng is None or not synonyms:
        return f'{colour} {shape}'
    c = colour if rng.random() < 0.5 else str(rng.choice(COLOUR_WORDS[colour][1:]))
    s = shape if rng.random() < 0.5 else str(rng.choice(SHAPE_WORDS[shape][1:]))
    return f'{c} {s}'


def phrase(task: str, rng: np.random.Generator, split: str = 'train', colour: str | None = None,
           shape: str | None = None) -> str:
    """A random instruction for ``task`` from the templates of ``split`` ('train'/'seen' or 'paraphrase')."""
    templates = PARAPHRASE_TEMPLATES[task] if split == 'paraphrase' else train_templates(task)
    t = str(rng.choice(templates))
    if '{obj}' in t:
        if colour is None or shape is None:
            raise ValueError(f"task '{task}' names an object: give colour and shape")
        t = t.format(obj=object_phrase(colour, shape, rng, synonyms=True))
    return t


_WORD = re.compile(r'[a-z]+')


def parse_object(instruction: str) -> tuple[str, str] | None:
    """(colour, shape) named in an instruction, through the synonym tables; None if not both found."""
    words = _WORD.findall(instruction.lower())
    colour = next((c for w in words for c, ws in COLOUR_WORDS.items() if w in ws), None)
    shape = next((s for w in words for s, ws in SHAPE_WORDS.items() if w in ws), None)
    return (colour, shape) if colour and shape else None
