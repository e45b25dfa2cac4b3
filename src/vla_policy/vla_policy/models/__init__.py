"""The seed VLA model, LeRobot-style: configuration, modeling and processor in separate files.

* ``configuration_seed_vla``: :class:`SeedVLAConfig` (plain Python).
* ``components``: name -> class registries for vision/language encoders, tokenizers, fusions, heads.
* ``interfaces``: the base class of each component kind (PyTorch).
* ``vision``, ``language``, ``tokenizer``, ``fusion``, ``heads``: the components.
* ``modeling_seed_vla``: :class:`SeedVLAModel`; ``processor_seed_vla``: Observation -> batch.
* ``normalization``: state statistics; ``constants``: batch keys.

Nothing is imported here, so ``import vla_policy.models`` does not pull in PyTorch.
"""
