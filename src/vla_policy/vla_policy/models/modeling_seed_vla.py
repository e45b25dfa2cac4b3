"""The seed VLA network: vision encoder + language encoder -> fusion -> action chunk + confidence.

Built entirely from :class:`SeedVLAConfig` through the component registries; inputs are
already-normalised batches (see :mod:`vla_policy.models.processor_seed_vla`), training targets
are described in :mod:`vla_policy.models.constants`.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from vla_policy.models.components import ACTION_HEADS, FUSIONS, LANGUAGE_ENCODERS, VISION_ENCODERS
from vla_policy.models.configuration_loss import SeedVLALossConfig
from vla_policy.models.configuration_seed_vla import SeedVLAConfig
from vla_policy.models.constants import (ACTION, ACTION_IS_PAD, ATTRIBUTE_IN_IMAGE, ATTRIBUTE_QUERY, CONFIDENCE,
                                         OBJECTS_IN_IMAGE, OBS_ELAPSED, OBS_IMAGE, OBS_LANGUAGE_EMBEDDING, OBS_ODOMETRY,
                                         OBS_RANGES, OBS_STATE, OUT_OF_SCOPE, TARGET_IN_IMAGE)
from vla_policy.models.fusion import (Grounding, attribute_grounding_loss, grounding_loss, objectness_loss,
                                      point_loss)
from vla_policy.models.heads import ConfidenceHead
from vla_policy.models.interfaces import dim_mean, masked_step_mean
from vla_policy.models.language_minilm import EMBED_DIM


class SeedVLAModel(nn.Module):
    """``forward(batch) -> {ACTION: (B, chunk_size, action_dim) in [-1, 1], CONFIDENCE: (B,) in (0, 1)}``."""

    def __init__(self, config: SeedVLAConfig) -> None:
        super().__init__()
        if not isinstance(config, SeedVLAConfig):
            raise TypeError(f'SeedVLAModel needs a SeedVLAConfig, got {type(config).__name__}')
        self.config = config
        self.vision = VISION_ENCODERS.get(config.vision.encoder)(config)
        self.language = LANGUAGE_ENCODERS.get(config.language.encoder)(config)
        self.fusion = FUSIONS.get(config.fusion.type)(config, self.vision.out_dim, self.language.out_dim,
                                                      config.context_dim)
        self.action_head = ACTION_HEADS.get(config.head.type)(config, self.fusion.out_dim)
        self.confidence_head = ConfidenceHead(self.fusion.out_dim)
        if config.language.sentence_dim:     # the frozen MiniLM sentence embedding, projected
            self.sentence = nn.Sequential(nn.LayerNorm(EMBED_DIM), nn.Linear(EMBED_DIM, config.language.sentence_dim))
        if config.residual_joints:
            # set by set_residual_reference (training) and restored with the weights (a checkpoint);
            # NaN until then, so a model that never got them proposes nothing usable
            r = len(config.residual_joints)
            self.register_buffer('residual_state_index', torch.tensor(
                [config.state_joints.index(j) for j in config.residual_joints], dtype=torch.long))
            self.register_buffer('residual_dims', torch.full((r, config.action_dim), float('nan')))
            self.register_buffer('residual_scale', torch.full((r,), float('nan')))
            self.register_buffer('residual_offset', torch.full((r,), float('nan')))

    @classmethod
    def from_seed(cls, config: SeedVLAConfig, seed: int) -> 'SeedVLAModel':
        """A randomly initialised model; the same seed gives the same weights, without touching global RNG state.

        Pretrained components (efficientnet_lite0) load their packaged weights instead.
        """
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            return cls(config)

    @property
    def input_keys(self) -> list[str]:
        """Batch keys ``forward`` reads, in the order of the ONNX graph's inputs."""
        keys = [OBS_IMAGE, self.language.input_key]
        keys += [OBS_LANGUAGE_EMBEDDING] if self.config.language.sentence_dim else []
        keys += [OBS_STATE] if self.config.state_dim else []
        keys += [OBS_ELAPSED] if self.config.elapsed_horizon_s else []
        keys += [OBS_ODOMETRY] if self.config.odometry_input else []
        return keys + [OBS_RANGES] if self.config.range_sectors else keys

    def encode(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, Grounding | None]:
        """Batch -> (fused features (B, fusion.out_dim), the grounded pooling's map or None)."""
        key = self.language.input_key
        if key not in batch:
            raise KeyError(f"the batch has no '{key}' (language encoder '{self.config.language.encoder}' reads it; "
                           f'it has {sorted(batch)}); build batches with SeedVLAProcessor, whose language() '
                           "gives the configured tokenizer's key")
        vision = self.vision(batch[OBS_IMAGE])
        text, mask = self.language(batch[key])
        return self.fusion(vision, text, mask, self._state(batch))

    def _state(self, batch: dict[str, torch.Tensor]) -> torch.Tensor | None:
        """What the fusion reads beside the image and the words (``config.context_dim`` wide): OBS_STATE,
        then with ``elapsed_horizon_s`` the elapsed time as min(t, horizon) / horizon, then with
        ``odometry_input`` the odometry as (forward, left) / odometry_scale_m, turned / pi ('turn': only
        the last), then with ``range_sectors`` each sector's nearest range as min(r, range_max_m) /
        range_max_m (NaN: empty), then with ``language.sentence_dim`` the projected sentence embedding."""
        state = batch.get(OBS_STATE)
        if self.config.state_dim and state is None:
            return None                           # the fusion says what is missing
        parts = [state] if self.config.state_dim else []
        dtype = batch[OBS_IMAGE].dtype
        horizon = self.config.elapsed_horizon_s
        if horizon:
            elapsed = self._input(batch, OBS_ELAPSED, f'elapsed_horizon_s={horizon}', 'the seconds since its '
                                  "instruction began; the policy keeps that clock (training: the frames' timestamps)")
            parts.append(torch.nan_to_num(elapsed.reshape(-1, 1).to(dtype), nan=0.0).clamp(0.0, horizon) / horizon)
        if self.config.odometry_input:
            odom = self._input(batch, OBS_ODOMETRY, 'odometry_input', 'how far the base has moved and turned since '
                               'its instruction began; the policy keeps it from Observation.base_pose')
            odom = torch.nan_to_num(odom.reshape(-1, 3).to(dtype), nan=0.0)
            if self.config.odometry_features == 'turn':
                parts.append((odom[:, 2:] / math.pi).clamp(-5.0, 5.0))
            else:
                scale = torch.tensor([self.config.odometry_scale_m, self.config.odometry_scale_m, math.pi], dtype=dtype)
                parts.append((odom / scale).clamp(-5.0, 5.0))
        if self.config.range_sectors:
            ranges = self._input(batch, OBS_RANGES, f'range_sectors={self.config.range_sectors}', 'the nearest '
                                 'obstacle per sector around the base; the processor keeps it from Observation.scan')
            r_max = self.config.range_max_m
            ranges = torch.nan_to_num(ranges.reshape(-1, self.config.range_sectors).to(dtype), nan=r_max)
            parts.append(ranges.clamp(0.0, r_max) / r_max)
        if self.config.language.sentence_dim:
            sentence = self._input(batch, OBS_LANGUAGE_EMBEDDING, 'language.sentence_dim', "the instruction's "
                                   'MiniLM sentence embedding; the processor adds it to the language input')
            parts.append(self.sentence(sentence.reshape(-1, EMBED_DIM).to(dtype)))
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=-1)

    @staticmethod
    def _input(batch: dict[str, torch.Tensor], key: str, because: str, what: str) -> torch.Tensor:
        if key not in batch:
            raise KeyError(f"the batch has no '{key}': this model ({because}) reads {what}")
        return batch[key]

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        features, _ = self.encode(batch)
        actions = self.action_head(features)
        if self.config.residual_joints:
            reference, residual = self._residual_reference(batch)
            actions = torch.where(residual, (actions + reference).clamp(-1.0, 1.0), actions)
        return {ACTION: actions, CONFIDENCE: self.confidence_head(features)}

    # -- residual joints ---------------------------------------------------------------------------
    def set_residual_reference(self, embodiment, state_mean, state_std) -> None:
        """``residual_joints``: how a joint's normalised state (``(q - state_mean) / state_std``, the
        processor's) reads in its action's normalised units (the embodiment's bounds), so the head
        predicts the change from it. Call once the state statistics are known (training); a
        checkpoint keeps them with the weights."""
        if embodiment.normalization != 'bounds':
            raise ValueError(f"residual_joints need an embodiment normalised by 'bounds', "
                             f"'{embodiment.name}' uses '{embodiment.normalization}'")
        targets = [d.target for d in embodiment.dims]
        dims = torch.zeros_like(self.residual_dims)            # (joint, action dimension) one-hot
        scale, offset = [], []
        for k, joint in enumerate(self.config.residual_joints):
            if f'joint/{joint}' not in targets:
                raise ValueError(f"residual joint '{joint}' has no position target in embodiment "
                                 f"'{embodiment.name}' ({', '.join(embodiment.joint_names)})")
            a = targets.index(f'joint/{joint}')
            d, i = embodiment.dims[a], self.config.state_joints.index(joint)
            centre, half = (d.low + d.high) / 2.0, (d.high - d.low) / 2.0
            dims[k, a] = 1.0
            scale.append(float(state_std[i]) / half)
            offset.append((float(state_mean[i]) - centre) / half)
        self.residual_dims.copy_(dims)
        self.residual_scale.copy_(torch.tensor(scale))
        self.residual_offset.copy_(torch.tensor(offset))

    def _residual_reference(self, batch) -> tuple[torch.Tensor, torch.Tensor]:
        """((B, 1, action_dim) the residual joints' measured positions in action units, 0 elsewhere;
        (action_dim,) bool, which dimensions are residual)."""
        state = batch[OBS_STATE].to(self.residual_scale.dtype)[:, self.residual_state_index]
        reference = (state * self.residual_scale + self.residual_offset) @ self.residual_dims
        return reference.unsqueeze(1), self.residual_dims.sum(0) != 0       # NaN (never set): all, NaN

    def _head_targets(self, batch, target: torch.Tensor) -> torch.Tensor:
        """Expert chunks (B, T, D) as the head predicts them: residual joints as changes."""
        if not self.config.residual_joints:
            return target
        reference, residual = self._residual_reference(batch)
        return torch.where(residual, (target - reference).clamp(-1.0, 1.0), target)

    def compute_loss(self, batch: dict[str, torch.Tensor],
                     loss_config: SeedVLALossConfig | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        """Training loss = action loss + ``confidence_weight`` x confidence BCE (+ ``grounding_weight``
        x the grounding cross-entropy, pooling 'grounded_query' / 'grounded_point' with TARGET_IN_IMAGE
        labels; logged as 'grounding_loss'; with 'grounded_point' also the same weight x the smooth L1 of
        the map's point to the object's centre, 'point_loss'; + ``attribute_weight`` x the attribute
        grounding cross-entropy, with ATTRIBUTE_QUERY / ATTRIBUTE_IN_IMAGE; logged as 'attribute_loss'; +
        ``objectness_weight`` x the objectness map's cross-entropy, fusion.obstacle_cells with OBJECTS_IN_IMAGE;
        logged as 'objectness_loss');
        and floats to log. The weights are ``loss_config``'s (default: SeedVLALossConfig()).

        Reads ACTION (required), ACTION_IS_PAD, CONFIDENCE, OUT_OF_SCOPE, TARGET_IN_IMAGE, the
        ATTRIBUTE_* keys and OBJECTS_IN_IMAGE (optional); see
        :mod:`vla_policy.models.constants` for how the confidence target is chosen. The action
        loss is the head's per-sample loss averaged over in-scope samples. Logs: 'action_loss',
        'loss', and when the confidence head has targets, 'confidence_loss'; with computed
        agreement targets also 'agreement' (share of samples that agree).
        """
        target = self._head_targets(batch, batch[ACTION])
        b = target.shape[0]
        valid = ~batch[ACTION_IS_PAD].bool() if ACTION_IS_PAD in batch else None
        out_of_scope = (batch[OUT_OF_SCOPE].reshape(b).bool() if OUT_OF_SCOPE in batch
                        else torch.zeros(b, dtype=torch.bool, device=target.device))
        lc = SeedVLALossConfig() if loss_config is None else loss_config
        features, grounding = self.encode(batch)

        in_scope = (~out_of_scope).to(features.dtype)
        dim_weights = self._dim_weights(lc, target)          # the action loss's and the agreement's
        per_sample = self.action_head.loss(features, target, valid, dim_weights)
        action_loss = (per_sample * in_scope).sum() / in_scope.sum().clamp_min(1.0)
        logs = {'action_loss': float(action_loss.detach())}
        loss = action_loss

        if TARGET_IN_IMAGE in batch and grounding is not None and lc.grounding_weight > 0:
            labels = batch[TARGET_IN_IMAGE].to(grounding.logits.dtype)
            per, labelled = grounding_loss(grounding.logits, labels)
            loss = loss + self._weighted(per, labelled & ~out_of_scope, lc.grounding_weight, 'grounding_loss', logs)
            if grounding.point is not None:
                per, in_view = point_loss(grounding.point, labels)
                loss = loss + self._weighted(per, in_view & ~out_of_scope, lc.grounding_weight, 'point_loss', logs)
        if (ATTRIBUTE_QUERY in batch and ATTRIBUTE_IN_IMAGE in batch and grounding is not None
                and lc.attribute_weight > 0):
            text, mask = self.language(batch[ATTRIBUTE_QUERY])
            logits = self.fusion.pool.query_logits(self.fusion.instruction_vector(text, mask), grounding.keys)
            per, labelled = attribute_grounding_loss(logits, batch[ATTRIBUTE_IN_IMAGE].to(logits.dtype))
            loss = loss + self._weighted(per, labelled, lc.attribute_weight, 'attribute_loss', logs)
        if (OBJECTS_IN_IMAGE in batch and grounding is not None and grounding.objectness is not None
                and lc.objectness_weight > 0):
            per, labelled = objectness_loss(grounding.objectness, batch[OBJECTS_IN_IMAGE].to(grounding.objectness.dtype))
            loss = loss + self._weighted(per, labelled, lc.objectness_weight, 'objectness_loss', logs)

        conf_target, has_target = self._confidence_target(batch, features, target, valid, out_of_scope,
                                                          lc.agreement_threshold, dim_weights, logs)
        if bool(has_target.any()):
            bce = F.binary_cross_entropy_with_logits(self.confidence_head.logits(features), conf_target,
                                                     reduction='none')
            w = has_target.to(features.dtype)
            conf_loss = (bce * w).sum() / w.sum()
            loss = loss + lc.confidence_weight * conf_loss
            logs['confidence_loss'] = float(conf_loss.detach())
        logs['loss'] = float(loss.detach())
        return loss, logs

    @staticmethod
    def _dim_weights(lc, target: torch.Tensor) -> torch.Tensor | None:
        """The loss config's action_weights as a (D,) tensor (None: all 1); one per action dimension."""
        if not lc.action_weights:
            return None
        lc.check_action_dim(target.shape[-1])
        return torch.tensor(lc.action_weights, dtype=target.dtype, device=target.device)

    @staticmethod
    def _weighted(per: torch.Tensor, rows: torch.Tensor, weight: float, name: str, logs: dict) -> torch.Tensor:
        """``weight`` x the mean of ``per`` over ``rows`` (logged as ``name``); 0 when no row counts."""
        if not bool(rows.any()):
            return per.new_zeros(())
        value = per[rows].mean()
        logs[name] = float(value.detach())
        return weight * value

    def _confidence_target(self, batch, features, target, valid, out_of_scope, threshold, dim_weights, logs):
        """(targets (B,), has_target (B,) bool) following the rules in models/constants.py. The agreement's
        distance weighs the action dimensions as the action loss does (``dim_weights``, None: all 1)."""
        b = target.shape[0]
        conf = torch.zeros(b, dtype=features.dtype, device=features.device)
        has = out_of_scope.clone()
        if CONFIDENCE in batch:
            conf = batch[CONFIDENCE].reshape(b).to(features.dtype)
            has = torch.ones_like(has)
        else:
            with torch.no_grad():
                predicted = self.action_head(features.detach())
                sq = dim_mean((predicted - target).square(), dim_weights)               # (B, T)
                agree = (masked_step_mean(sq, valid).sqrt() <= threshold).to(features.dtype)
            in_scope = ~out_of_scope
            if bool(in_scope.any()):
                logs['agreement'] = float(agree[in_scope].mean())
            conf = agree
            has = torch.ones_like(has)
        return torch.where(out_of_scope, torch.zeros_like(conf), conf), has

    def num_parameters(self, trainable_only: bool = False) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)
