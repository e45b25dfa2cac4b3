"""Batch keys shared by processors, models and (later) datasets and training loops.

A *batch* is a dict of tensors with a leading batch dimension B. Names follow LeRobot's.
"""
#: (B, 3, S, S) float32, normalised pixels (processor output, model input)
OBS_IMAGE = 'observation.image'
#: (B, state_dim) float32, normalised joint positions in ``config.state_joints`` order
OBS_STATE = 'observation.state'
#: (B, L) int64 token ids, 0 = padding
OBS_LANGUAGE_TOKENS = 'observation.language.tokens'
#: (B, chunk_size, action_dim) float32 in [-1, 1] (model output; target when training)
ACTION = 'action'
#: (B,) float32 in [0, 1] (model output; target when training: 1 = the actions do what was asked)
CONFIDENCE = 'confidence'
