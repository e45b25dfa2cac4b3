"""Batch keys shared by processors, models and datasets / training loops (vla_learning).

A *batch* is a dict of tensors with a leading batch dimension B. Names follow LeRobot's.

Model inputs (the processor writes them; :meth:`SeedVLAProcessor.language` gives the language
key the configured tokenizer uses)::

    OBS_IMAGE, OBS_STATE (when config.state_joints), OBS_ELAPSED (when config.elapsed_horizon_s),
    OBS_ODOMETRY (when config.odometry_input), OBS_RANGES (when config.range_sectors),
    and one of OBS_LANGUAGE_TOKENS (tokenizer 'hash_words') or OBS_LANGUAGE_EMBEDDING (tokenizer 'minilm_l6')

Training targets read by :meth:`SeedVLAModel.compute_loss`::

    ACTION          required   expert chunk
    ACTION_IS_PAD   optional   padded steps, left out of the action loss and the agreement
    CONFIDENCE      optional   explicit confidence label (wins over the computed agreement)
    OUT_OF_SCOPE    optional   negatives: no action loss, confidence target 0
    TARGET_IN_IMAGE optional   where the named object is in the image, for the grounding loss of
                               the grounded poolings ('grounded_query', 'grounded_point')
    ATTRIBUTE_QUERY + ATTRIBUTE_IN_IMAGE  optional   one attribute word per sample ("red", "ball")
                               and where the objects that have it are, for the attribute
                               grounding loss (SeedVLALossConfig.attribute_weight)
    OBJECTS_IN_IMAGE optional  where every object is in the image, for the objectness map of
                               fusion.obstacle_cells (SeedVLALossConfig.objectness_weight)

Confidence target of a sample, first rule that applies:
1. ``OUT_OF_SCOPE`` true -> 0 (e.g. "make me a sandwich", or an instruction swapped for another
   task's: the expert chunk does not do what was asked);
2. ``CONFIDENCE`` given -> that label (e.g. an expert-agreement label computed offline, or
   episode success);
3. otherwise 1 if the RMS distance between the model's own predicted chunk (inference path, no
   gradient) and the expert chunk, over non-padded steps, is <= the loss config's
   ``agreement_threshold`` (SeedVLALossConfig), else 0. The distance weighs the action dimensions
   as the action loss does (SeedVLALossConfig.action_weights), so an error the loss counts heavily
   (a gaze short of its object) also counts against agreeing.
"""
#: (B, 3, S, S) float32, normalised pixels (processor output, model input)
OBS_IMAGE = 'observation.image'
#: (B, state_dim) float32, normalised joint positions in ``config.state_joints`` order
OBS_STATE = 'observation.state'
#: (B, 1) float32, seconds since the instruction began (the policy keeps the clock; datasets: the
#: frame's timestamp in its episode)
OBS_ELAPSED = 'observation.elapsed'
#: (B, 3) float32, how far the base has gone since the instruction began, in the base frame of its
#: pose then: forward (m), left (m), turned (rad, counter-clockwise, unwrapped) (the policy keeps
#: it from the odometry; datasets: from each frame's observation.odometry and its episode's first)
OBS_ODOMETRY = 'observation.odometry'
#: (B, range_sectors) float32, metres: the nearest obstacle in each equal sector of the full turn,
#: sector 0 straight ahead, counter-clockwise (vla_core.policy.nearest_by_sector; datasets: each
#: frame's observation.range_sectors)
OBS_RANGES = 'observation.range_sectors'
#: (B, L) int64 token ids, 0 = padding (tokenizer 'hash_words')
OBS_LANGUAGE_TOKENS = 'observation.language.tokens'
#: (B, 384) float32, L2-normalised sentence embedding of the instruction (tokenizer 'minilm_l6')
OBS_LANGUAGE_EMBEDDING = 'observation.language.embedding'
#: (B, chunk_size, action_dim) float32 in [-1, 1] (model output; target when training)
ACTION = 'action'
#: (B, chunk_size) bool, True = padded step past the episode end (training only, optional)
ACTION_IS_PAD = 'action_is_pad'
#: (B,) float32 in [0, 1] (model output; optional target when training: 1 = the actions do what was asked)
CONFIDENCE = 'confidence'
#: (B,) bool or 0/1 float, True = the instruction is out of scope for this sample (training only, optional)
OUT_OF_SCOPE = 'out_of_scope'
#: (B, 3) float32 (training only, optional): in_view (0/1), x, y in [-1, 1] (x right, y down) of the
#: object the instruction names; a NaN in_view = no label (the instruction names no object)
TARGET_IN_IMAGE = 'target_in_image'
#: language input (same kind as the instruction's: tokens or embedding) of one attribute word per
#: sample, a colour or a shape ("red", "crate"; training only, optional)
ATTRIBUTE_QUERY = 'grounding.attribute_query'
#: (B, K, 3) float32 (training only, optional): in_view, x, y of K objects; in_view 1 for the objects
#: in the image that have ATTRIBUTE_QUERY's attribute, 0 for the others; all NaN = no label
ATTRIBUTE_IN_IMAGE = 'grounding.attribute_in_image'
#: (B, K, 3) float32 (training only, optional): in_view, x, y of K objects, whichever the instruction
#: names or not; all NaN = no label. What the objectness map (FusionConfig.obstacle_cells) learns.
OBJECTS_IN_IMAGE = 'grounding.objects_in_image'
