"""Training batches: rows of :class:`~vla_learning.training_data.TrainingData` -> the model's batch dict.

Pixels normalised (and, in training, shifted and brightened), instructions augmented (word
dropout, an unknown word), a share of each batch made out-of-scope (an ``OOS_TRAIN`` instruction,
or the sample's own with its verb or its object unknown) with "stand still" as the action target,
and the grounding labels moved along with the image shift.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from vla_learning.config import AugmentConfig, ConfidenceConfig
from vla_learning.training_data import TrainingData
from vla_policy.models.constants import (ACTION, ATTRIBUTE_IN_IMAGE, ATTRIBUTE_QUERY, OBJECTS_IN_IMAGE, OBS_ELAPSED,
                                         OBS_IMAGE, OBS_LANGUAGE_EMBEDDING, OBS_ODOMETRY, OBS_RANGES, OBS_STATE, OUT_OF_SCOPE,
                                         TARGET_IN_IMAGE)

NO_NEGATIVES = ConfidenceConfig(oos_fraction=0.0, unknown_word_rate=0.0, object_negatives=0.0)


def make_batch(data: TrainingData, rows: np.ndarray, gen: np.random.Generator, confidence: ConfidenceConfig | None,
               model_cfg, augment: AugmentConfig | None, device, loss_cfg=None) -> dict:
    """A training batch: normalised pixels (augmented; the policy's processor normalises them),
    tokens, state, action chunks, OOS mask, and the named object's place in the (shifted) image.
    ``confidence`` None: no out-of-scope samples; ``augment`` None: no augmentation (validation);
    attribute queries and every object's place when ``loss_cfg`` (a SeedVLALossConfig) weighs the
    attribute and objectness losses."""
    confidence = confidence or NO_NEGATIVES
    rows_t = torch.from_numpy(rows)
    img = data.images[rows_t].float()
    target = data.target_in_image[rows_t].clone()
    shift = None
    if augment:
        img, shift = _augment(img, gen, augment)
        target[:, 1:] += shift
        gone = (target[:, 1:].abs() > 1.0).any(1)            # shifted out of the image
        target[gone] = torch.tensor([0.0, float('nan'), float('nan')])
    instructions = data.tokens[data.task_index[rows_t]]
    vocab_size = int(model_cfg.language.vocab_size)
    tokens = _augment_words(instructions.clone(), gen, augment, vocab_size)
    actions = data.chunks[rows_t].clone()
    sentences = _sentences(data, rows_t, gen, augment)
    oos = torch.from_numpy(gen.random(len(rows)) < confidence.oos_fraction)
    if bool(oos.any()):
        tokens[oos], oos_sentences = _out_of_scope(data, instructions, oos, gen, confidence, vocab_size)
        if sentences is not None:
            sentences[oos] = oos_sentences
        actions[oos] = data.hold[rows_t[oos]].unsqueeze(1).expand(-1, actions.shape[1], -1)
        target[oos] = float('nan')
    batch = {OBS_IMAGE: data.processor.pixels(img), data.language_key: tokens, OBS_STATE: data.state[rows_t],
             ACTION: actions, OUT_OF_SCOPE: oos, TARGET_IN_IMAGE: target}
    if sentences is not None:
        batch[OBS_LANGUAGE_EMBEDDING] = sentences
    if model_cfg.elapsed_horizon_s:
        batch[OBS_ELAPSED] = data.elapsed[rows_t]
    if data.odometry is not None:         # as a late odometry reads
        batch[OBS_ODOMETRY] = data.odometry[torch.from_numpy(_late_rows(data, rows, gen, augment))]
    if data.ranges is not None:
        batch[OBS_RANGES] = data.ranges[rows_t]
    if data.objects_in_image is not None and loss_cfg is not None:
        if loss_cfg.attribute_weight > 0:
            batch.update(_attribute_queries(data, rows_t, gen, shift))
        if loss_cfg.objectness_weight > 0:
            batch[OBJECTS_IN_IMAGE] = _objects_in_image(data, rows_t, shift)
    return {k: v.to(device) for k, v in batch.items()}


def _late_rows(data: TrainingData, rows: np.ndarray, gen: np.random.Generator,
               augment: AugmentConfig | None) -> np.ndarray:
    """The rows whose odometry each sample reads: up to ``augment.odometry_lag_s`` earlier (whole
    frames, never before the episode's first), so the policy acts on late odometry too."""
    lag = int(round(augment.odometry_lag_s * data.fps)) if augment is not None else 0
    if lag <= 0:
        return rows
    return np.maximum(rows - gen.integers(0, lag + 1, size=len(rows)), data.episode_start[rows])


def _sentences(data: TrainingData, rows_t, gen: np.random.Generator, augment: AugmentConfig | None):
    """The rows' sentence embeddings (None when the model reads none); in training a share
    (``augment.sentence_dropout``) zeroed, as the made-up out-of-scope instructions have none."""
    if data.sentences is None:
        return None
    sentences = data.sentences[data.task_index[rows_t]].clone()
    if augment is not None and augment.sentence_dropout > 0:
        sentences[torch.from_numpy(gen.random(len(rows_t)) < augment.sentence_dropout)] = 0.0
    return sentences


def _augment_words(tokens, gen: np.random.Generator, augment: AugmentConfig | None, vocab_size: int):
    """Word dropout and one unknown word (hashed words only; sentence embeddings are not augmented)."""
    if augment is None or tokens.is_floating_point():
        return tokens
    if augment.word_dropout > 0:
        tokens = _drop_words(tokens, gen, augment.word_dropout)
    if augment.unknown_word > 0:
        tokens = _insert_unknown_word(tokens, gen, augment.unknown_word, vocab_size)
    return tokens


def _out_of_scope(data: TrainingData, instructions, oos, gen: np.random.Generator, confidence: ConfidenceConfig,
                  vocab_size: int):
    """Token ids of the ``oos`` rows' out-of-scope instructions: ``OOS_TRAIN`` ones with unknown
    words, and a share made from the sample's own instruction (:func:`_object_negatives`); and their
    sentence embeddings (None when the model reads none; zeros for the made-up ones, which have no text)."""
    n = len(oos)
    chosen = torch.from_numpy(gen.integers(0, len(data.oos_tokens), int(oos.sum())))
    tokens = instructions.clone()
    tokens[oos] = data.oos_tokens[chosen]
    sentences = None
    if data.oos_sentences is not None:
        sentences = torch.zeros(n, data.oos_sentences.shape[1])
        sentences[oos] = data.oos_sentences[chosen]
    word_ids = not tokens.is_floating_point()
    if confidence.unknown_word_rate > 0 and word_ids:
        tokens[oos] = _unknown_words(tokens[oos], gen, confidence.unknown_word_rate, vocab_size)
    if confidence.object_negatives > 0 and word_ids and data.object_word_ids is not None:
        names_obj = torch.isin(instructions, data.object_word_ids).any(1)
        pick = oos & names_obj & torch.from_numpy(gen.random(n) < confidence.object_negatives)
        if bool(pick.any()):
            tokens[pick] = _object_negatives(instructions[pick], gen, data.object_word_ids, data.article_ids,
                                             vocab_size)
            if sentences is not None:
                sentences[pick] = 0.0
    return tokens[oos], (sentences[oos] if sentences is not None else None)


def _attribute_queries(data: TrainingData, rows_t, gen: np.random.Generator, shift) -> dict:
    """One random colour or shape word per sample and the place of every object in view that has
    its attribute (ATTRIBUTE_QUERY / ATTRIBUTE_IN_IMAGE; the labels move with the image ``shift``)."""
    objects = _objects_in_image(data, rows_t, shift)                                 # (B, K, 3)
    labelled = ~torch.isnan(objects[..., 0]).all(1)
    pick = torch.from_numpy(gen.integers(0, len(data.attribute_tokens), len(rows_t)))
    in_view = torch.nan_to_num(objects[..., 0], nan=0.0) * data.attribute_objects[pick]
    objects[..., 0] = torch.where(labelled.unsqueeze(1), in_view, torch.full_like(in_view, float('nan')))
    return {ATTRIBUTE_QUERY: data.attribute_tokens[pick], ATTRIBUTE_IN_IMAGE: objects}


def _objects_in_image(data: TrainingData, rows_t, shift) -> torch.Tensor:
    """(B, K, 3) in_view, x, y of every catalogue object in the rows' images, moved with the image
    ``shift`` (an object shifted out of the image is out of view)."""
    objects = data.objects_in_image[rows_t].clone()
    if shift is not None:
        objects[..., 1:] += shift.unsqueeze(1)
        objects[..., 0] = objects[..., 0].masked_fill((objects[..., 1:].abs() > 1.0).any(-1), 0.0)
    return objects


def _drop_words(tokens, gen: np.random.Generator, p: float):
    """Word dropout: each token id (0 = padding) becomes padding with probability ``p``; every
    instruction keeps at least one word. The policy learns not to hang on any single word, which
    is what an unseen phrasing ("could you turn to the left") asks of it."""
    present = tokens != 0
    drop = torch.from_numpy(gen.random(tuple(tokens.shape)) < p) & present
    emptied = torch.nonzero((present & ~drop).sum(1) == 0).flatten()
    if len(emptied):                                 # keep one word, picked at random, of those
        score = torch.from_numpy(gen.random((len(emptied), tokens.shape[1]))) * present[emptied]
        drop[emptied, score.argmax(1)] = False
    return tokens.masked_fill(drop, 0)


def _insert_unknown_word(tokens, gen: np.random.Generator, p: float, vocab_size: int):
    """With probability ``p`` per instruction, one random hash bucket (a word the policy never saw)
    goes into its first padding slot: "could you wave" must still wave."""
    tokens = tokens.clone()
    free = tokens == 0
    rows = torch.from_numpy(gen.random(tokens.shape[0]) < p) & free.any(1)
    idx = torch.nonzero(rows).flatten()
    if len(idx):
        slot = free[idx].float().argmax(1)
        tokens[idx, slot] = torch.from_numpy(gen.integers(1, vocab_size, len(idx)))
    return tokens


def _unknown_words(tokens, gen: np.random.Generator, rate: float, vocab_size: int):
    """Out-of-scope negatives with words the policy never saw: each word id of these (already
    out-of-scope) instructions becomes a random hash bucket with probability ``rate``. Real
    requests are full of words outside the training vocabulary ("order a pizza"); without this,
    an unknown word's embedding is whatever its random initialisation says."""
    swap = torch.from_numpy(gen.random(tuple(tokens.shape)) < rate) & (tokens != 0)
    random_ids = torch.from_numpy(gen.integers(1, vocab_size, tuple(tokens.shape)))
    return torch.where(swap, random_ids, tokens)


def _object_negatives(tokens, gen: np.random.Generator, object_ids, article_ids, vocab_size: int):
    """Out-of-scope variants of in-scope instructions that name an object, half of each kind:
    the object kept and every other word unknown ("grab the yellow ball": no verb the policy knows),
    or the object's words unknown and the rest kept ("walk to the <?> <?>", "walk the dog": no object
    it knows). Bag-of-words refusals otherwise key on the object phrase alone."""
    present = tokens != 0
    is_obj = torch.isin(tokens, object_ids)
    keep_object = torch.from_numpy(gen.random(tokens.shape[0]) < 0.5).unsqueeze(1)
    keep = torch.where(keep_object, is_obj | torch.isin(tokens, article_ids), ~is_obj)
    random_ids = torch.from_numpy(gen.integers(1, vocab_size, tuple(tokens.shape)))
    return torch.where(present & ~keep, random_ids, tokens)


def _augment(img, gen: np.random.Generator, aug: AugmentConfig):
    """Random shift (``shift_px``) and brightness gain -> (images, (B, 2) shift of the content in
    normalised image units, x right and y down, for moving the grounding labels along)."""
    b, _, h, w = img.shape
    p = int(aug.shift_px)
    shift = torch.zeros(b, 2)
    if p > 0:
        padded = F.pad(img, (p, p, p, p), mode='replicate')
        dx = gen.integers(0, 2 * p + 1, b)
        dy = gen.integers(0, 2 * p + 1, b)
        img = torch.stack([padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w] for i in range(b)])
        shift = torch.from_numpy(np.stack([2.0 * (p - dx) / w, 2.0 * (p - dy) / h], 1).astype(np.float32))
    if aug.brightness > 0:
        g = torch.from_numpy(gen.uniform(1 - aug.brightness, 1 + aug.brightness, (b, 1, 1, 1)).astype(np.float32))
        img = (img * g).clamp(0, 255)
    return img, shift
