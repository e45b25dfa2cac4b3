"""Local backends for third-party models (optional dependencies, imported only when used).

* :mod:`~vla_policy.backends.openvla_local` -- OpenVLA through transformers, from a local directory.
* :mod:`~vla_policy.backends.lerobot_policy` -- LeRobot policies (ACT, Diffusion, SmolVLA ...).

Both raise :class:`~vla_policy.errors.PolicyLoadError` with an install hint when their package
or weights are missing.
"""
