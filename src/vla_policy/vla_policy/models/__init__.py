"""The seed VLA model, LeRobot-style: configuration, modeling and processor in separate files.

* ``configuration_seed_vla``: :class:`SeedVLAConfig`, nested by component (vision, language, fusion,
  head) (plain Python); ``configuration_loss``: the training-only :class:`SeedVLALossConfig`;
  ``config_checks``: their dict round trips and field checks; ``configuration_flat``: the old flat
  layout -> the nested one.
* ``components``: name -> class registries for vision/language encoders, tokenizers, fusions, heads.
* ``interfaces``: the base class of each component kind (PyTorch); ``layers``: shared blocks.
* the components, one file per family:
  vision ``vision`` (small_cnn), ``vision_efficientnet`` (efficientnet_lite0);
  language ``tokenizer`` + ``language`` (hash_words + hash_bag), ``language_minilm`` (minilm_l6);
  fusion ``fusion`` (concat), ``fusion_attention`` (cross_attention), ``fusion_film`` (film);
  heads ``heads`` (tanh_chunk, confidence), ``heads_tokens`` (rt1_tokens), ``heads_flow`` (flow_matching). ``optional``: imports of the pretrained components' packages.
* ``modeling_seed_vla``: :class:`SeedVLAModel`; ``processor_seed_vla``: Observation -> batch (for
  inference and training).
* ``normalization``: state statistics; ``constants``: batch keys.

Nothing is imported here, so ``import vla_policy.models`` does not pull in PyTorch.
"""
