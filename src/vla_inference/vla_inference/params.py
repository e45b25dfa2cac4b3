"""vla_inference's parameters (declared with descriptions and ranges; config/inference_node.yaml
lists each with its default) and the PolicyRunner configuration they make."""
from __future__ import annotations

from typing import Any, Mapping

from vla_common.params import ParamSpec
from vla_core.runner import RunnerConfig, ticks_for_rate
from vla_policy.models.unknown_words import DEFAULT_THRESHOLD

_D = RunnerConfig.field_default

PARAMS = [
    ParamSpec('policy', 'default', "Policy: 'default' (the shipped trained checkpoint), a registered name, "
              "a 'module:Class' target, or a checkpoint directory", read_only=True),
    ParamSpec('policy_backend', 'auto', "How a seed_vla checkpoint (including 'default') runs: 'auto' (its "
              "model.onnx under onnxruntime when the export is current, else PyTorch), 'torch' (PyTorch) or "
              "'onnx' (make it with python -m vla_policy.export_onnx); other policies ignore 'auto'",
              choices=('auto', 'torch', 'onnx'), read_only=True),
    ParamSpec('embodiment', 'vla_humanoid', 'Embodiment mapping the policy actions to Twist and joints: '
              'a bundled name or a YAML path', read_only=True),
    ParamSpec('control_rate_hz', _D('control_rate_hz'), 'Rate at which vla/action is published, Hz', 1.0, 100.0, read_only=True),
    ParamSpec('stale_image_timeout', 0.5, 'No action is published while the newest image arrived longer ago '
              'than this, s', 0.01, 10.0),
    ParamSpec('odometry_timeout', 0.5, 'A policy that reads odometry (odom, nav_msgs/Odometry) is refused '
              '(confidence 0: vla_safety holds the robot) while the newest odometry was measured (its stamp; its arrival '
              'when unstamped) longer ago than this; older messages are ignored, s',
              0.01, 10.0),
    ParamSpec('scan_timeout', 0.5, 'A policy that reads a range scan (scan, sensor_msgs/LaserScan) is refused '
              '(confidence 0: vla_safety holds the robot) while the newest scan was measured longer ago than this; '
              'older messages are ignored, s', 0.01, 10.0),
    ParamSpec('use_compressed', False, 'Subscribe to camera/image_raw/compressed (sensor_msgs/CompressedImage) '
              'instead of camera/image_raw', read_only=True),
    ParamSpec('max_inference_rate_hz', 0.0, 'Upper bound on policy calls per second for one instruction, '
              "rounded to whole control ticks (a new instruction is inferred at once); 0 = the policy's own: "
              'every n_action_steps x step_dt s if it declares them (the default checkpoint: 1 x 0.1 s), else on '
              'every new frame. Calls are phased to finish just before the control tick they serve',
              0.0, 1000.0),
    ParamSpec('call_margin', _D('call_margin'), 'A phased policy call aims to finish this long before the control '
              'tick it serves, s (its duration is learned from the recent calls)', 0.0, 0.05),
    ParamSpec('tick_wait', _D('tick_wait'), 'A control tick whose policy call is still pending (planned or running) waits up to this '
              'long for it, s (0 = never: the tick then uses the previous chunk)', 0.0, 0.025),
    ParamSpec('max_action_age', _D('max_action_age'), 'An action chunk computed from an image older than this is never '
              'used, s', 0.01, 60.0),
    ParamSpec('temporal_ensembling', _D('temporal_ensembling'), 'Blend overlapping action chunks (ACT temporal ensembling)'),
    ParamSpec('ensemble_coeff', _D('ensemble_coeff'), 'ACT ensembling weight exp(-m*i), i = 0 for the oldest prediction '
              '(> 0 favours older: smoother; < 0 favours newer: faster)', -10.0, 10.0),
    ParamSpec('interpolate_chunks', _D('interpolate'), 'Interpolate linearly between the steps of an action chunk '
              'instead of holding each step for step_dt'),
    ParamSpec('smoothing', _D('smoothing'), 'Smoothing of the published actions', choices=('none', 'moving_average', 'ema')),
    ParamSpec('smoothing_window', _D('smoothing_window'), 'Moving-average window, actions', 1, 50),
    ParamSpec('smoothing_alpha', _D('smoothing_alpha'), 'EMA weight of the newest action', 0.01, 1.0),
    ParamSpec('instruction_vocabulary', _D('vocabulary'), "Instructions naming a colour or object outside this "
              "vocabulary, asking to handle an object, or with a negation, are refused (confidence 0): 'auto' = the policy's own "
              "(the default checkpoint's: vla_arena), '' = no check, or a bundled name or YAML path"),
    ParamSpec('unknown_word_similarity', DEFAULT_THRESHOLD, "A seed_vla checkpoint with a vocabulary.json (the default) reads "
              "a word it was not trained on as the known action or body word (or verb of a refused request) "
              "whose all-MiniLM-L6-v2 token output in its place is the most similar, when that cosine similarity "
              "is at least this ('stroll' as 'walking'; never as a colour, an object or a direction); 1 = words "
              "stay as they are (MiniLM does not run). Applies from the next policy call; other policies ignore "
              "it", 0.0, 1.0),
    ParamSpec('progress_window', _D('progress_window'), 'Progress check (vla_core.progress): an instruction whose '
              'proposed base motion the odometry (odom) does not show over this window (blocked by vla_safety, a '
              'wall) has stalled: it is refused (confidence 0: vla_safety holds the robot) for as long again, then '
              'the policy gets another window; 0 = no check, s', 0.0, 60.0),
    ParamSpec('progress_min_commanded', _D('progress_min_commanded'), 'The progress check judges a window only when '
              'the proposals asked for at least this much base motion in it, m (a turn counts 0.3 m per rad)',
              0.0, 10.0),
    ParamSpec('progress_min_fraction', _D('progress_min_fraction'), 'A stall: the odometry shows less than this '
              'fraction of the base motion the proposals asked for over progress_window', 0.0, 1.0),
    ParamSpec('max_instruction_length', 500, 'Longer commands are rejected (and the robot stops), characters',
              1, 100000),
    ParamSpec('base_frame', 'base_link', 'frame_id of the proposed Twist'),
    ParamSpec('torch_threads', 1, 'PyTorch intra-op threads for the policy (0 = leave as is)', 0, 64),
    ParamSpec('diagnostics_period', 1.0, 'Period of /diagnostics updates, s', 0.1, 60.0),
]


def runner_config(p: Mapping[str, Any]) -> RunnerConfig:
    """The PolicyRunner configuration of the declared parameter values ``p``."""
    return RunnerConfig(
        control_rate_hz=p['control_rate_hz'],
        call_every_ticks=ticks_for_rate(p['max_inference_rate_hz'], p['control_rate_hz']),
        call_margin=p['call_margin'], tick_wait=p['tick_wait'],
        max_action_age=p['max_action_age'], temporal_ensembling=p['temporal_ensembling'],
        ensemble_coeff=p['ensemble_coeff'], interpolate=p['interpolate_chunks'],
        smoothing=p['smoothing'], smoothing_window=p['smoothing_window'], smoothing_alpha=p['smoothing_alpha'],
        vocabulary=p['instruction_vocabulary'], progress_window=p['progress_window'],
        progress_min_commanded=p['progress_min_commanded'], progress_min_fraction=p['progress_min_fraction'])


#: the parameters that make the PolicyRunner's configuration (set live: PolicyRunner.reconfigure)
RUNNER_PARAMS = frozenset({'max_inference_rate_hz', 'call_margin', 'tick_wait', 'max_action_age', 'temporal_ensembling',
                           'ensemble_coeff', 'interpolate_chunks', 'smoothing', 'smoothing_window', 'smoothing_alpha',
                           'instruction_vocabulary', 'progress_window', 'progress_min_commanded',
                           'progress_min_fraction'})
