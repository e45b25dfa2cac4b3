"""Remote policy options from a URL's query string (one ROS parameter selects and configures
a remote policy: ``ws://gpu-box:8000?wire=droid&action_units=physical``)."""
from __future__ import annotations

from dataclasses import fields
from typing import Any, Mapping

from vla_policy.remote.reply import ActionMapping
from vla_policy.remote.wire import WireFormat


def _parse_size(text: str) -> tuple[int, int] | None:
    t = text.lower().replace(',', 'x').strip()
    if t in ('', 'none'):
        return None
    try:
        h, w = (int(v) for v in t.split('x'))
    except ValueError:
        raise ValueError(f"image_size '{text}' must look like 224x224 (height x width)") from None
    return h, w


def _parse_list(text: str, kind: type, what: str) -> tuple | None:
    if not text.strip():
        return None
    try:
        return tuple(kind(v) for v in text.split(','))
    except ValueError:
        raise ValueError(f"{what} '{text}' must be comma-separated {kind.__name__}s") from None


def config_from_query(cls: type, query: Mapping[str, str]) -> dict[str, Any]:
    """URL query strings -> typed fields of the config dataclass ``cls``.

    Plain fields are converted by the type of their default (bool, int, float, str). Special
    keys: ``wire`` (a preset name), ``image_size`` (``224x224``), ``action_indices`` (``0,1,-1``),
    ``action_units`` and ``action_scale`` (``5,5,1``)."""
    query = dict(query)
    known = {f.name: f for f in fields(cls)}
    out: dict[str, Any] = {}
    if 'image_size' in query:
        size = _parse_size(query.pop('image_size'))
        if 'wire' in known:
            out['wire'] = WireFormat.preset(query.pop('wire', 'vla_ros2'), image_size=size)
        else:
            out['image_size'] = size
    if 'wire' in query and 'wire' in known:
        out['wire'] = WireFormat.preset(query.pop('wire'))
    amap: dict[str, Any] = {}
    if 'action_indices' in query:
        amap['indices'] = _parse_list(query.pop('action_indices'), int, 'action_indices')
    if 'action_scale' in query:
        amap['scale'] = _parse_list(query.pop('action_scale'), float, 'action_scale')
    if 'action_units' in query:
        amap['units'] = query.pop('action_units')
    if amap:
        out['actions'] = ActionMapping(**amap)
    special = {'image_size', 'action_indices', 'action_scale', 'action_units'}
    for key, text in query.items():
        f = known.get(key)
        if f is None or key in ('wire', 'actions'):
            raise ValueError(f"unknown option '{key}'; known: {sorted((set(known) - {'actions'}) | special)}")
        default = f.default
        try:
            if isinstance(default, bool):
                if text.lower() not in ('1', 'true', 'yes', 'on', '0', 'false', 'no', 'off'):
                    raise ValueError(text)
                value: Any = text.lower() in ('1', 'true', 'yes', 'on')
            elif isinstance(default, int):
                value = int(text)
            elif isinstance(default, float):
                value = float(text)
            else:
                value = text or None
        except ValueError:
            raise ValueError(f'option {key}={text!r} must be a {type(default).__name__}') from None
        out[key] = value
    return out


__all__ = ['config_from_query']
