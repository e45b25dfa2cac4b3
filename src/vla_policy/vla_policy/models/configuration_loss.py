"""Training-only settings of the seed VLA's loss: not part of a deployed model's config (plain Python).

Training records them in the checkpoint's metadata ('loss'); inference never reads them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from vla_policy.models.config_checks import ConfigBlock, check_real


@dataclass(frozen=True)
class SeedVLALossConfig(ConfigBlock):
    """Training-only weights of :meth:`SeedVLAModel.compute_loss` (not part of a deployed model)."""

    _where: ClassVar[str] = 'SeedVLALossConfig'
    _applies: ClassVar[dict] = {}

    confidence_weight: float = 0.1
    """Weight of the confidence head's binary cross-entropy next to the action loss (>= 0). A sample's
    target: see models/constants.py (labels, out-of-scope negatives, else agreement with the expert)."""
    agreement_threshold: float = 0.1
    """Largest RMS distance (normalised action units) between the predicted and the expert chunk that
    counts as agreeing: the confidence target of a sample without a CONFIDENCE label (> 0)."""
    action_weights: tuple[float, ...] = ()
    """Weight (> 0) of each action dimension in the action loss, in the embodiment's order (its
    action_dim of them); () = all 1. The loss of a step is the weighted mean over the dimensions, and
    so is the distance of the confidence's agreement target (agreement_threshold)."""
    grounding_weight: float = 1.0
    """pooling 'grounded_query' / 'grounded_point': weight (>= 0) of the cross-entropy between the
    instruction's map and the cell of the named object (or "not in view"), for samples with
    TARGET_IN_IMAGE labels; with 'grounded_point' also of the smooth L1 of the map's point."""
    attribute_weight: float = 0.0
    """Weight (>= 0) of the attribute grounding loss: the map of a lone colour or shape word ("red")
    is pulled toward every object in view that has it (ATTRIBUTE_QUERY / ATTRIBUTE_IN_IMAGE). 0 = off."""
    objectness_weight: float = 0.0
    """fusion.obstacle_cells: weight (>= 0) of the objectness map's per-cell binary cross-entropy against
    the cells holding an object's centre, every object in view (OBJECTS_IN_IMAGE). 0 = off (the map then
    learns from the action loss alone)."""

    def check_action_dim(self, action_dim: int) -> None:
        """Raise ValueError unless ``action_weights`` is empty or has one weight per action dimension."""
        if self.action_weights and len(self.action_weights) != action_dim:
            raise ValueError(f'{self._path("action_weights")} has {len(self.action_weights)} weights, the actions '
                             f"{action_dim} dimensions: give one per dimension, in the embodiment's order")

    def _check(self) -> None:
        for name in ('confidence_weight', 'grounding_weight', 'attribute_weight', 'objectness_weight'):
            check_real(self, name, 0.0, float('inf'), 'e.g. 0.5, or 0 to turn it off')
        for w in self.action_weights:
            if not (isinstance(w, (int, float)) and math.isfinite(w) and w > 0):
                raise ValueError(f'{self._path("action_weights")} must be numbers > 0, one per action dimension '
                                 f'(or [] for all 1), got {list(self.action_weights)}')
        self._set('action_weights', tuple(float(w) for w in self.action_weights))
        check_real(self, 'agreement_threshold', 0.0, float('inf'), 'e.g. 0.1', lo_open=True,
                   unit='a number (RMS distance in normalised action units)')
