"""Policies of this package, one per file: 'keyword', 'zero' (plain Python), 'seed_vla' (PyTorch) and
'onnx' (a seed_vla checkpoint's exported network under onnxruntime).

Import the module you need; this package imports nothing on its own, so the PyTorch policy is
loaded only when used. The registry (:mod:`vla_policy.registry`) names them.
"""
