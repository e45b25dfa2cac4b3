"""OpenVLA local backend: the parts that need no weights (de-tokenisation, un-normalisation,
confidence, statistics files, prompt) against hand-computed values, and the loader's errors."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from vla_core.embodiment import load_embodiment
from vla_policy.errors import PolicyLoadError
from vla_policy.backends.openvla_local import (OpenVLAActionDecoder, OpenVLAPolicy, check_model_dir,
                                               load_norm_stats, openvla_prompt)
from vla_policy.registry import make_policy

VOCAB = 32000          # OpenVLA-7B: text_config.vocab_size 32064 - pad_to_multiple_of 64
STEP = 2.0 / 255.0     # bin width of np.linspace(-1, 1, 256)
STATS = {
    'bridge_orig': {'action': {
        'q01': [-0.02, -0.04, 0.0, -0.1, 0.5, 0.0, 0.0],
        'q99': [0.02, 0.04, 0.1, 0.1, 1.5, 1.0, 1.0],
        'mask': [True, True, True, True, True, True, False]}},
    'fractal': {'action': {'q01': [0.0] * 7, 'q99': [2.0] * 7}},
}


@pytest.fixture
def decoder():
    return OpenVLAActionDecoder(STATS, VOCAB)


def test_bin_centres_of_the_256_bins(decoder):
    assert decoder.bin_centers.shape == (255,)
    assert decoder.bin_centers[0] == pytest.approx(-1 + STEP / 2)
    assert decoder.bin_centers[127] == pytest.approx(0.0, abs=1e-12)
    assert decoder.bin_centers[-1] == pytest.approx(1 - STEP / 2)


def test_token_ids_to_normalised_actions(decoder):
    # id -> d = 32000 - id -> bin centre d - 1 (clipped to 0..254)
    ids = np.array([31999, 31872, 31871, 31745, 31744, 0, 32010])
    want = [-1 + 1 / 255,      # d=1   -> centre 0
            0.0,               # d=128 -> centre 127
            -1 + 257 / 255,    # d=129 -> centre 128
            -1 + 509 / 255,    # d=255 -> centre 254
            -1 + 509 / 255,    # d=256 -> 255, clipped to 254
            -1 + 509 / 255,    # not an action token (d=32000): clipped to the top bin, as OpenVLA does
            -1 + 1 / 255]      # padding id above the vocabulary (d<1): clipped to the bottom bin
    np.testing.assert_allclose(decoder.token_ids_to_normalized(ids), want, atol=1e-12)


def test_unnormalise_with_q01_q99_and_the_gripper_mask(decoder):
    ids = np.array([31872, 31999, 31744, 31872, 31999, 31744, 31999])
    lo, hi = -1 + 1 / 255, -1 + 509 / 255
    want = [0.0,                                       # 0.5 * (0 + 1) * 0.04 - 0.02
            0.5 * (lo + 1) * 0.08 - 0.04,              # = -0.04 + 0.04 / 255
            0.5 * (hi + 1) * 0.1,                      # = 0.1 * 254.5 / 255
            0.0,
            0.5 * (lo + 1) * 1.0 + 0.5,                # = 0.5 + 0.5 / 255
            0.5 * (hi + 1) * 1.0,
            lo]                                        # gripper: mask false, stays normalised
    got = decoder.decode(ids, 'bridge_orig')
    np.testing.assert_allclose(got, want, atol=1e-12)
    assert got[1] == pytest.approx(-0.04 + 0.04 / 255) and got[2] == pytest.approx(0.1 * 254.5 / 255)
    # another dataset's statistics: no mask -> every dimension un-normalised, to [0, 2]
    np.testing.assert_allclose(decoder.decode(ids, 'fractal'), [1.0, lo + 1, hi + 1, 1.0, lo + 1, hi + 1, lo + 1])


def test_tokenising_then_decoding_lands_on_the_bin_centre(decoder):
    a = np.array([-1.0, -0.5, 0.0, 0.3, 0.999, 1.0, 2.0])
    back = decoder.token_ids_to_normalized(decoder.normalized_to_token_ids(a))
    assert np.all(np.abs(back - np.clip(a, -1, 1)) <= STEP / 2 + 1e-12)


def test_unnorm_key_resolution(decoder):
    with pytest.raises(ValueError, match=r"several datasets; set unnorm_key to one of \['bridge_orig', 'fractal'\]"):
        decoder.resolve_unnorm_key(None)
    with pytest.raises(ValueError, match="unnorm_key 'libero' not in"):
        decoder.decode(np.zeros(7, int), 'libero')
    single = OpenVLAActionDecoder({'bridge_orig': STATS['bridge_orig']}, VOCAB)
    assert single.resolve_unnorm_key(None) == 'bridge_orig' and single.action_dim(None) == 7
    with pytest.raises(ValueError, match='empty'):
        OpenVLAActionDecoder({}, VOCAB)
    with pytest.raises(ValueError, match='lacks q01/q99'):
        OpenVLAActionDecoder({'x': {'action': {'q01': [0.0]}}}, VOCAB).action_stats('x')
    with pytest.raises(ValueError, match='one length'):
        OpenVLAActionDecoder({'x': {'action': {'q01': [0.0], 'q99': [1.0, 2.0]}}}, VOCAB).action_stats('x')


def test_confidence_is_the_geometric_mean_among_action_tokens(decoder):
    logits = np.zeros((2, VOCAB + 64))
    logits[:, :1000] = 50.0                    # text tokens are ignored: only the 256 action tokens count
    logits[0, 31900] = math.log(255.0)         # p = 255 / (255 + 255) = 0.5
    ids = np.array([31900, 31800])             # step 1: uniform over 256 -> p = 1 / 256
    assert decoder.confidence(logits, ids) == pytest.approx(math.sqrt(0.5 / 256))
    assert decoder.confidence(logits, np.array([31900, 5])) == 0.0      # a text token: no confidence
    with pytest.raises(ValueError, match='step_logits'):
        decoder.confidence(np.zeros((3, 100)), ids)


def test_norm_stats_files(tmp_path):
    (tmp_path / 'config.json').write_text(json.dumps({'norm_stats': {'bridge_orig': STATS['bridge_orig'],
                                                                     'fractal': {'action': {'q01': [1], 'q99': [2]}}}}))
    (tmp_path / 'dataset_statistics.json').write_text(json.dumps({'fractal': STATS['fractal']}))
    stats = load_norm_stats(tmp_path)
    assert set(stats) == {'bridge_orig', 'fractal'} and stats['fractal'] == STATS['fractal']


def test_prompt_format():
    assert openvla_prompt('Pick Up the Cup') == 'In: What action should the robot take to pick up the cup?\nOut:'
    assert openvla_prompt('Go', v01=True).endswith('USER: What action should the robot take to go? ASSISTANT:')


def test_loader_errors_are_clear(tmp_path):
    emb = load_embodiment('vla_humanoid')
    with pytest.raises(PolicyLoadError, match='not found. Weights are never downloaded.*huggingface-cli download'):
        check_model_dir(tmp_path / 'openvla-7b')
    with pytest.raises(PolicyLoadError, match='no config.json'):
        check_model_dir(tmp_path)
    (tmp_path / 'config.json').write_text('{}')
    with pytest.raises(PolicyLoadError, match='no weights'):
        check_model_dir(tmp_path)
    with pytest.raises(PolicyLoadError, match='needs model_dir'):
        OpenVLAPolicy(emb)
    (tmp_path / 'model-00001-of-00003.safetensors').write_bytes(b'\0' * 8)
    # a complete-looking directory: without transformers (not installed here) the message says what to install
    with pytest.raises(PolicyLoadError, match='transformers==4.40.1'):
        make_policy('vla_policy.backends.openvla_local:OpenVLAPolicy', emb, model_dir=str(tmp_path),
                    unnorm_key='bridge_orig', actions={'indices': [0, 1, 5] + [-1] * 8})
    with pytest.raises(ValueError, match="7 entries; embodiment 'vla_humanoid' has 11"):
        OpenVLAPolicy(emb, model_dir=tmp_path, actions={'indices': [0] * 7})
