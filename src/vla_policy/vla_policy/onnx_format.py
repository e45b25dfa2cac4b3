"""The ONNX file of a seed_vla checkpoint: its name and the metadata it records (plain Python).

Written by :mod:`vla_policy.export_onnx`, read by :class:`~vla_policy.policies.onnx_policy.OnnxPolicy`;
both take the format from here.
"""
from __future__ import annotations

import hashlib
import os

#: the exported network's file in a checkpoint directory
ONNX_FILE = 'model.onnx'
DEFAULT_OPSET = 17
#: metadata_props keys written into the ONNX model
META_WEIGHTS_SHA256 = 'vla_policy.weights_sha256'
META_CONFIG = 'vla_policy.config'
META_INPUTS = 'vla_policy.input_keys'


def weights_sha256(weights_path: str | os.PathLike) -> str:
    """SHA-256 of the checkpoint's weights file: an export records it, the loader compares it."""
    h = hashlib.sha256()
    with open(weights_path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            h.update(block)
    return h.hexdigest()
