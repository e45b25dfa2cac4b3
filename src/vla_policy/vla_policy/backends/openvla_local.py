"""OpenVLA run in-process through Hugging Face transformers, from a local directory.

Loading follows OpenVLA's model card: ``AutoProcessor`` and ``AutoModelForVision2Seq`` with
``trust_remote_code=True`` from a directory holding the Hugging Face export (``config.json``,
the ``*.safetensors`` shards, ``modeling_prismatic.py`` ...). Nothing is downloaded: fetch the
weights once (e.g. ``huggingface-cli download openvla/openvla-7b --local-dir /models/openvla-7b``)
and pass that directory. Needs ``pip install "transformers==4.40.1" "tokenizers==0.19.1"
"timm==0.9.10"`` (the versions OpenVLA pins) and PyTorch; about 15 GB of GPU memory in bfloat16.

The action decoding is ours (:class:`OpenVLAActionDecoder`, pure NumPy, tested without weights)
and matches ``OpenVLAForActionPrediction.predict_action``:

1. the model generates ``action_dim`` tokens; OpenVLA's actions are the last ``n_action_bins``
   (256) ids of the un-padded vocabulary: ``d = vocab_size - token_id`` (1..256);
2. ``d - 1`` (clipped to 0..254) indexes the bin centres of ``np.linspace(-1, 1, 256)``;
3. dimensions where ``mask`` is true (default: all) are un-normalised with the 1st / 99th
   percentiles of ``norm_stats[unnorm_key]["action"]``: ``0.5 * (a + 1) * (q99 - q01) + q01``;
   masked-out ones (the gripper) stay as they are.

The resulting 7-DoF vector (robot units of the ``unnorm_key`` dataset) goes through an
:class:`~vla_policy.remote.reply.ActionMapping` onto the embodiment. The confidence is the
geometric mean, over the action tokens, of each chosen token's probability among the 256
action tokens.
"""
from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from vla_core.policy import Observation, Policy, PolicyOutput
from vla_core.embodiment import Embodiment
from vla_policy.errors import PolicyLoadError
from vla_policy.remote.protocol import ProtocolError
from vla_policy.remote.reply import ActionMapping

log = logging.getLogger(__name__)

INSTALL_HINT = ('pip install "transformers==4.40.1" "tokenizers==0.19.1" "timm==0.9.10" torch '
                '(the versions OpenVLA pins; flash-attn is optional)')
#: the "empty" token OpenVLA's predict_action appends after "Out:" (Llama-2 tokenizer id of "▁")
EMPTY_TOKEN_ID = 29871
SYSTEM_PROMPT_V01 = ('A chat between a curious user and an artificial intelligence assistant. '
                     "The assistant gives helpful, detailed, and polite answers to the user's questions.")


def openvla_prompt(instruction: str, v01: bool = False) -> str:
    """OpenVLA's prompt format (``get_openvla_prompt`` of its deploy.py)."""
    if v01:
        return f'{SYSTEM_PROMPT_V01} USER: What action should the robot take to {instruction.lower()}? ASSISTANT:'
    return f'In: What action should the robot take to {instruction.lower()}?\nOut:'


class OpenVLAActionDecoder:
    """OpenVLA's action tokens <-> continuous actions, and un-normalisation by ``unnorm_key``.

    norm_stats:     ``{dataset: {"action": {"q01": [...], "q99": [...], "mask": [...]}, ...}}``
                    (``config.json``'s ``norm_stats`` or ``dataset_statistics.json``).
    vocab_size:     the un-padded vocabulary size (``text_config.vocab_size - pad_to_multiple_of``,
                    32000 for OpenVLA-7B).
    n_action_bins:  256.
    """

    def __init__(self, norm_stats: Mapping[str, Any], vocab_size: int, n_action_bins: int = 256) -> None:
        if not norm_stats:
            raise ValueError('OpenVLA norm_stats is empty: the model directory has no action statistics '
                             '(config.json "norm_stats" or dataset_statistics.json)')
        if n_action_bins < 2 or vocab_size <= n_action_bins:
            raise ValueError(f'need vocab_size > n_action_bins >= 2, got {vocab_size}, {n_action_bins}')
        self.norm_stats = dict(norm_stats)
        self.vocab_size = int(vocab_size)
        self.n_action_bins = int(n_action_bins)
        self.bins = np.linspace(-1.0, 1.0, self.n_action_bins)
        self.bin_centers = (self.bins[:-1] + self.bins[1:]) / 2.0

    # -- statistics --------------------------------------------------------------------------
    def resolve_unnorm_key(self, unnorm_key: str | None) -> str:
        keys = sorted(self.norm_stats)
        if unnorm_key is None:
            if len(keys) != 1:
                raise ValueError(f'this OpenVLA model was trained on several datasets; set unnorm_key to one of {keys}')
            return keys[0]
        if unnorm_key not in self.norm_stats:
            raise ValueError(f"unnorm_key '{unnorm_key}' not in the model's statistics; choose one of {keys}")
        return unnorm_key

    def action_stats(self, unnorm_key: str | None) -> dict[str, np.ndarray]:
        key = self.resolve_unnorm_key(unnorm_key)
        try:
            stats = self.norm_stats[key]['action']
            q01 = np.asarray(stats['q01'], dtype=np.float64)
            q99 = np.asarray(stats['q99'], dtype=np.float64)
        except (KeyError, TypeError) as exc:
            raise ValueError(f"norm_stats['{key}']['action'] lacks q01/q99 ({exc})") from None
        mask = np.asarray(stats.get('mask', np.ones_like(q01, dtype=bool)), dtype=bool)
        if not (q01.shape == q99.shape == mask.shape and q01.ndim == 1):
            raise ValueError(f"norm_stats['{key}']['action']: q01, q99 and mask must be vectors of one length")
        return {'q01': q01, 'q99': q99, 'mask': mask}

    def action_dim(self, unnorm_key: str | None) -> int:
        return int(self.action_stats(unnorm_key)['q01'].shape[0])

    # -- tokens ------------------------------------------------------------------------------
    def token_ids_to_normalized(self, token_ids: np.ndarray) -> np.ndarray:
        """Action token ids -> normalised actions in [-1, 1] (bin centres)."""
        d = self.vocab_size - np.asarray(token_ids, dtype=np.int64)
        idx = np.clip(d - 1, 0, self.bin_centers.shape[0] - 1)
        return self.bin_centers[idx]

    def normalized_to_token_ids(self, actions: np.ndarray) -> np.ndarray:
        """The inverse used at training time (OpenVLA's ActionTokenizer): digitize into the bins."""
        a = np.clip(np.asarray(actions, dtype=np.float64), -1.0, 1.0)
        return self.vocab_size - np.digitize(a, self.bins)

    def unnormalize(self, normalized: np.ndarray, unnorm_key: str | None) -> np.ndarray:
        s = self.action_stats(unnorm_key)
        a = np.asarray(normalized, dtype=np.float64)
        if a.shape[-1] != s['q01'].shape[0]:
            raise ValueError(f'{a.shape[-1]} action values for {s["q01"].shape[0]}-dim statistics')
        return np.where(s['mask'], 0.5 * (a + 1.0) * (s['q99'] - s['q01']) + s['q01'], a)

    def decode(self, token_ids: np.ndarray, unnorm_key: str | None) -> np.ndarray:
        """Generated action token ids -> actions in the dataset's robot units."""
        return self.unnormalize(self.token_ids_to_normalized(token_ids), unnorm_key)

    def confidence(self, step_logits: np.ndarray, token_ids: np.ndarray) -> float:
        """Geometric mean of each chosen token's softmax probability among the action tokens.

        step_logits: (A, V) logits of the A generation steps; token_ids: the A chosen ids."""
        logits = np.asarray(step_logits, dtype=np.float64)
        ids = np.asarray(token_ids, dtype=np.int64).reshape(-1)
        lo = self.vocab_size - self.n_action_bins
        if logits.ndim != 2 or logits.shape[0] != ids.shape[0] or logits.shape[1] < self.vocab_size:
            raise ValueError(f'step_logits must be (A, >= {self.vocab_size}) for {ids.shape[0]} tokens, '
                             f'got {logits.shape}')
        sub = logits[:, lo:self.vocab_size]
        sub = sub - sub.max(axis=1, keepdims=True)
        logp = sub - np.log(np.exp(sub).sum(axis=1, keepdims=True))
        inside = (ids >= lo) & (ids < self.vocab_size)
        if not inside.all():
            return 0.0  # a non-action token was generated: the action is a guess
        chosen = logp[np.arange(ids.shape[0]), ids - lo]
        return float(math.exp(chosen.mean()))


def load_norm_stats(model_dir: str | Path) -> dict:
    """Action statistics of an OpenVLA export: ``config.json``'s ``norm_stats``, overridden by
    ``dataset_statistics.json`` when present (what OpenVLA's fine-tuning writes)."""
    d = Path(model_dir)
    stats: dict = {}
    cfg = d / 'config.json'
    if cfg.is_file():
        stats.update(json.loads(cfg.read_text()).get('norm_stats') or {})
    ds = d / 'dataset_statistics.json'
    if ds.is_file():
        stats.update(json.loads(ds.read_text()))
    return stats


def check_model_dir(model_dir: str | Path) -> Path:
    d = Path(model_dir).expanduser()
    if not d.is_dir():
        raise PolicyLoadError(
            f"OpenVLA model directory '{d}' not found. Weights are never downloaded at run time: fetch them once "
            f"(e.g. huggingface-cli download openvla/openvla-7b --local-dir {d}) and pass that directory.")
    if not (d / 'config.json').is_file():
        raise PolicyLoadError(f"'{d}' has no config.json: expected OpenVLA's Hugging Face export (config.json, "
                              '*.safetensors, modeling_prismatic.py, processing_prismatic.py ...)')
    if not any(d.glob('*.safetensors')) and not any(d.glob('*.bin')):
        raise PolicyLoadError(f"'{d}' has no weights (*.safetensors): the download is incomplete")
    return d


class OpenVLAPolicy(Policy):
    """OpenVLA (7B) in this process. ``OpenVLAPolicy(embodiment, model_dir=..., unnorm_key=...)``.

    embodiment:   where the 7-DoF action goes (through ``actions``).
    model_dir:    local directory of the Hugging Face export.
    unnorm_key:   dataset statistics to un-normalise with (None: the model's only one).
    actions:      ActionMapping (or dict) from the 7-DoF vector to the embodiment; units ``physical``.
    device:       ``cuda``, ``cuda:1``, ``cpu``; None picks CUDA when available.
    dtype:        ``bfloat16`` (default), ``float16`` or ``float32``.
    step_dt:      seconds an action lasts (Bridge data: 0.2).
    """

    name = 'openvla'

    def __init__(self, embodiment: Embodiment, model_dir: str | Path = '', unnorm_key: str | None = None,
                 actions: ActionMapping | Mapping | None = None, device: str | None = None, dtype: str = 'bfloat16',
                 step_dt: float = 0.2, attn_implementation: str | None = None) -> None:
        if not model_dir:
            raise PolicyLoadError("OpenVLAPolicy needs model_dir: the local directory of the OpenVLA export")
        self.embodiment = embodiment
        self.mapping = actions if isinstance(actions, ActionMapping) else \
            ActionMapping.from_dict({'units': 'physical', **(actions or {})})
        self.mapping.check(embodiment)
        if not step_dt > 0:
            raise ValueError(f'step_dt must be > 0 seconds, got {step_dt}')
        self.step_dt = float(step_dt)
        self.model_dir = check_model_dir(model_dir)
        try:  # lazy: optional heavy dependencies, needed only once a model is loaded
            import torch
            from PIL import Image  # noqa: F401 - needed by infer
            from transformers import AutoModelForVision2Seq, AutoProcessor
        except ImportError as exc:
            raise PolicyLoadError(f'OpenVLA needs transformers, timm, Pillow and torch ({exc}): '
                                  f'{INSTALL_HINT}') from exc
        self._torch = torch
        if dtype not in ('bfloat16', 'float16', 'float32'):
            raise ValueError(f"dtype '{dtype}' unknown; use bfloat16, float16 or float32")
        self.device = device or ('cuda' if torch.cuda.is_available() else 'cpu')
        self.dtype = getattr(torch, dtype)
        kwargs: dict[str, Any] = dict(torch_dtype=self.dtype, low_cpu_mem_usage=True, trust_remote_code=True,
                                      local_files_only=True)
        if attn_implementation:
            kwargs['attn_implementation'] = attn_implementation
        try:
            self.processor = AutoProcessor.from_pretrained(str(self.model_dir), trust_remote_code=True,
                                                           local_files_only=True)
            self.model = AutoModelForVision2Seq.from_pretrained(str(self.model_dir), **kwargs).to(self.device).eval()
        except (OSError, ValueError, ImportError, RuntimeError) as exc:
            raise PolicyLoadError(f"could not load OpenVLA from '{self.model_dir}': {type(exc).__name__}: {exc}. "
                                  f'Check the export is complete and the versions match: {INSTALL_HINT}') from exc
        cfg = self.model.config
        vocab = int(cfg.text_config.vocab_size) - int(getattr(cfg, 'pad_to_multiple_of', 0) or 0)
        stats = dict(getattr(self.model, 'norm_stats', None) or {})
        stats.update(load_norm_stats(self.model_dir))
        try:
            self.decoder = OpenVLAActionDecoder(stats, vocab, int(getattr(cfg, 'n_action_bins', 256)))
            self.unnorm_key = self.decoder.resolve_unnorm_key(unnorm_key)
        except ValueError as exc:
            raise PolicyLoadError(f'OpenVLA {self.model_dir}: {exc}') from exc
        self.action_dim = self.decoder.action_dim(self.unnorm_key)
        if self.mapping.indices is None and self.action_dim != embodiment.action_dim:
            raise PolicyLoadError(f"OpenVLA outputs {self.action_dim}-dim actions for '{self.unnorm_key}'; embodiment "
                                  f"'{embodiment.name}' has {embodiment.action_dim}: set actions={{'indices': [...]}}")
        self.v01 = 'v01' in self.model_dir.name
        log.info("OpenVLA loaded from %s on %s (unnorm_key '%s')", self.model_dir, self.device, self.unnorm_key)

    def infer(self, obs: Observation) -> PolicyOutput:
        torch = self._torch
        from PIL import Image  # optional dependency, checked in __init__
        inputs = self.processor(openvla_prompt(obs.instruction, self.v01), Image.fromarray(obs.image).convert('RGB'))
        inputs = inputs.to(self.device, dtype=self.dtype)
        input_ids, attn = inputs['input_ids'], inputs.get('attention_mask')
        if not bool(torch.all(input_ids[:, -1] == EMPTY_TOKEN_ID)):
            pad = torch.full((input_ids.shape[0], 1), EMPTY_TOKEN_ID, dtype=input_ids.dtype, device=input_ids.device)
            input_ids = torch.cat([input_ids, pad], dim=1)
            if attn is not None:
                attn = torch.cat([attn, torch.ones_like(pad, dtype=attn.dtype)], dim=1)
        with torch.inference_mode():
            gen = self.model.generate(input_ids=input_ids, attention_mask=attn, pixel_values=inputs['pixel_values'],
                                      max_new_tokens=self.action_dim, do_sample=False,
                                      output_scores=True, return_dict_in_generate=True)
        ids = gen.sequences[0, -self.action_dim:].cpu().numpy()
        logits = torch.stack(list(gen.scores), dim=0)[:, 0].float().cpu().numpy()
        physical = self.decoder.decode(ids, self.unnorm_key)
        try:
            actions = self.mapping.apply(physical[None, :], self.embodiment)
        except ProtocolError as exc:
            raise ValueError(str(exc)) from None
        return PolicyOutput(actions, self.decoder.confidence(logits, ids), self.step_dt)
