"""Export a seed_vla checkpoint's inference graph to ONNX, and compare it with PyTorch.

    python -m vla_policy.export_onnx <checkpoint_dir>                  # writes <checkpoint_dir>/model.onnx
    python -m vla_policy.export_onnx <checkpoint_dir> --out m.onnx     # elsewhere
    python -m vla_policy.export_onnx <checkpoint_dir> --compare 300    # + parity and p50/p99 latency, 1 thread

Then run it with onnxruntime: ``make_policy(<checkpoint_dir>, embodiment, backend='onnx')`` or
``make_policy('onnx', embodiment, checkpoint=<checkpoint_dir>)`` (see
:class:`~vla_policy.policies.onnx_policy.OnnxPolicy`).

The graph is the network only; pre-processing stays in the (shared) processor:

=====================================  =====================  ==================================
Input (batch key)                      Shape, type            When
=====================================  =====================  ==================================
``observation.image``                  (B, 3, S, S) float32   always; resized + normalised pixels
``observation.language.tokens``        (B, L) int64           tokenizer 'hash_words'
``observation.language.embedding``     (B, 384) float32       tokenizer 'minilm_l6' (MiniLM runs
                                                              in the processor, cached)
``observation.state``                  (B, state_dim) float   the model takes a state
=====================================  =====================  ==================================

Outputs: ``action`` (B, chunk_size, action_dim) and ``confidence`` (B,). B is dynamic. The
flow-matching head's Euler loop is unrolled and its seeded noise is a constant, so the graph is
deterministic and matches PyTorch. The model's metadata records the SHA-256 of the
checkpoint's model.safetensors and the config, so a stale model.onnx (weights saved again
after the export) is refused at load time.

Uses PyTorch's TorchScript-based exporter (``dynamo=False``), which needs only the ``onnx``
package (the newer exporter also needs ``onnxscript``).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vla_policy.checkpoint import WEIGHTS_FILE, load_checkpoint, read_checkpoint
from vla_core.policy import Observation
from vla_policy.errors import PolicyLoadError
from vla_policy.latency import measure
from vla_policy.models.components import LANGUAGE_ENCODERS
from vla_policy.models.constants import (ACTION, CONFIDENCE, OBS_ELAPSED, OBS_IMAGE, OBS_LANGUAGE_EMBEDDING,
                                         OBS_LANGUAGE_TOKENS, OBS_ODOMETRY, OBS_RANGES, OBS_STATE)
from vla_policy.models.language_minilm import EMBED_DIM
from vla_policy.onnx_format import DEFAULT_OPSET, META_CONFIG, META_INPUTS, META_WEIGHTS_SHA256, ONNX_FILE, \
    weights_sha256
from vla_policy.policies.onnx_policy import OnnxPolicy
from vla_policy.policies.seed_vla import SeedVLAPolicy


def example_inputs(config, batch: int = 1) -> dict[str, Any]:
    """Zero-valued inputs of the right shapes and types for a model of ``config`` (for tracing)."""
    s = config.vision.image_size
    out: dict[str, Any] = {OBS_IMAGE: torch.zeros(batch, 3, s, s)}
    key = LANGUAGE_ENCODERS.batch_key(config.language.encoder) or OBS_LANGUAGE_TOKENS
    if key == OBS_LANGUAGE_EMBEDDING:
        out[key] = torch.zeros(batch, EMBED_DIM)
    else:
        out[key] = torch.ones(batch, config.language.max_tokens, dtype=torch.long)
    if config.language.sentence_dim:
        out[OBS_LANGUAGE_EMBEDDING] = torch.zeros(batch, EMBED_DIM)
    if config.state_dim:
        out[OBS_STATE] = torch.zeros(batch, config.state_dim)
    if config.elapsed_horizon_s:
        out[OBS_ELAPSED] = torch.zeros(batch, 1)
    if config.odometry_input:
        out[OBS_ODOMETRY] = torch.zeros(batch, 3)
    if config.range_sectors:
        out[OBS_RANGES] = torch.zeros(batch, config.range_sectors)
    return out


def export_model(model, path: str | os.PathLike, *, metadata: dict[str, str] | None = None,
                 opset: int = DEFAULT_OPSET) -> Path:
    """Write ``model`` (a SeedVLAModel, put in eval mode) as an ONNX file; returns the path."""
    import onnx          # optional: only exporting needs it

    keys = model.input_keys

    class InferenceGraph(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *inputs):
            out = self.model(dict(zip(keys, inputs)))
            return out[ACTION], out[CONFIDENCE]

    model.eval()
    example = example_inputs(model.config)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + '.tmp')
    names = [ACTION, CONFIDENCE]
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')          # legacy-exporter deprecation and tracer notes
        with torch.no_grad():
            torch.onnx.export(InferenceGraph(), tuple(example[k] for k in keys), str(tmp), dynamo=False,
                              input_names=keys, output_names=names, opset_version=opset,
                              dynamic_axes={k: {0: 'batch'} for k in keys + names}, do_constant_folding=True)
    try:
        proto = onnx.load(str(tmp))
        meta = {META_CONFIG: json.dumps(model.config.to_dict(), sort_keys=True), META_INPUTS: json.dumps(keys),
                **(metadata or {})}
        for k, v in meta.items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = k, v
        proto.producer_name = 'vla_policy.export_onnx'
        onnx.checker.check_model(proto)
        onnx.save(proto, str(tmp))
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def export_checkpoint(checkpoint: str | os.PathLike, out: str | os.PathLike | None = None, *,
                      opset: int = DEFAULT_OPSET) -> Path:
    """Export the seed_vla checkpoint directory ``checkpoint`` to ``out`` (default <checkpoint>/model.onnx)."""
    contents = read_checkpoint(checkpoint)
    if contents.policy_type != 'seed_vla':
        raise PolicyLoadError(f"'{contents.path}' holds a '{contents.policy_type}' policy; only seed_vla "
                              'checkpoints export to ONNX')
    policy = SeedVLAPolicy.from_checkpoint_contents(contents, contents.trained_for, num_threads=None)
    meta = {META_WEIGHTS_SHA256: weights_sha256(contents.path / WEIGHTS_FILE)}
    return export_model(policy.model, Path(out) if out else contents.path / ONNX_FILE, metadata=meta, opset=opset)


def compare(checkpoint: str | os.PathLike, onnx_path: str | os.PathLike | None = None, *, calls: int = 200,
            threads: int = 1, width: int = 640, height: int = 480, parity_samples: int = 16) -> dict[str, Any]:
    """PyTorch vs onnxruntime on the same checkpoint: max |difference| of actions and confidence over
    ``parity_samples`` random observations, and ``infer`` latency (ms) of each, both at ``threads`` threads."""
    torch_policy = load_checkpoint(checkpoint, num_threads=threads)
    onnx_policy = OnnxPolicy(torch_policy.trained_for, checkpoint, onnx_path=onnx_path, num_threads=threads)
    rng = np.random.default_rng(0)
    texts = ['walk forward', 'turn left', 'raise your right arm', 'look up', 'stop', '']
    joints = list(torch_policy.trained_for.joint_names)
    d_act = d_conf = 0.0
    for i in range(parity_samples):
        obs = Observation(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), texts[i % len(texts)],
                          {j: float(rng.uniform(-0.5, 0.5)) for j in joints})
        a, b = torch_policy.infer(obs), onnx_policy.infer(obs)
        d_act = max(d_act, float(np.abs(a.actions - b.actions).max()))
        d_conf = max(d_conf, abs(a.confidence - b.confidence))
    return {'checkpoint': str(checkpoint), 'threads': threads, 'image': f'{width}x{height}',
            'parity': {'samples': parity_samples, 'max_abs_diff_actions': d_act, 'max_abs_diff_confidence': d_conf},
            'torch': measure(torch_policy, calls, width, height),
            'onnxruntime': measure(onnx_policy, calls, width, height)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog='python -m vla_policy.export_onnx', description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('checkpoint', help='seed_vla checkpoint directory (config.json + model.safetensors + ...)')
    ap.add_argument('--out', default=None, help=f'ONNX file to write (default: <checkpoint>/{ONNX_FILE})')
    ap.add_argument('--opset', type=int, default=DEFAULT_OPSET)
    ap.add_argument('--compare', type=int, default=0, metavar='CALLS',
                    help='after exporting, check parity and time CALLS inferences of each backend (1 thread)')
    args = ap.parse_args(argv)
    try:
        path = export_checkpoint(args.checkpoint, args.out, opset=args.opset)
    except PolicyLoadError as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 1
    print(f'wrote {path} ({path.stat().st_size / 1e6:.1f} MB)')
    if args.compare:
        print(json.dumps(compare(args.checkpoint, path, calls=args.compare), indent=2))
    return 0


if __name__ == '__main__':
    sys.exit(main())
