"""Remote inference: big VLAs on a GPU box, the robot's node talks to them over the network.

* :mod:`~vla_policy.remote.server` -- ``vla-serve``: any policy of ours behind openpi's
  websocket + msgpack-numpy protocol (openpi's ``WebsocketClientPolicy`` works against it).
  Import ``PolicyServer`` from there: this package does not import the server, which builds its
  policy through :mod:`vla_policy.registry`, which builds remote policies through this package.
* :class:`RemotePolicy` -- a Policy backed by such a server: vla-serve or a real openpi server.
* :class:`OpenVLARestPolicy` -- a Policy backed by OpenVLA's REST ``POST /act`` (deploy.py).
* :mod:`~vla_policy.remote.protocol` -- the protocol and its msgpack-numpy codec;
  :mod:`~vla_policy.remote.wire` -- observation keys (:class:`WireFormat`, presets);
  :mod:`~vla_policy.remote.reply` -- replies and :class:`ActionMapping`;
  :mod:`~vla_policy.remote.link` -- link status and backoff; :mod:`~vla_policy.remote.query` -- URL options.

Both clients are wrappers with the plain Policy interface, so the node does not know whether a
policy is local or remote; both raise only :class:`RemotePolicyUnavailable` when the server is
away, slow or broken, and report a :class:`LinkStatus` (state enum + reason) from ``status()``.

:func:`make_remote_policy` builds either from one URL, so one string parameter selects and
configures a remote policy::

    ws://gpu-box:8000                                     vla-serve
    ws://127.0.0.1:8000?wire=droid&action_indices=0,-1&action_units=physical   an openpi server
    http://gpu-box:8000/act?unnorm_key=bridge_orig&action_indices=0,1&action_scale=5,5   OpenVLA
"""
from __future__ import annotations

from typing import Any

from vla_core.embodiment import Embodiment
from vla_policy.remote.link import LinkState, LinkStatus, RemotePolicyUnavailable
from vla_policy.remote.openpi_client import RemotePolicy, RemotePolicyConfig
from vla_policy.remote.openvla_rest import OpenVLARestConfig, OpenVLARestPolicy
from vla_policy.remote.protocol import ProtocolError
from vla_policy.remote.reply import ActionMapping
from vla_policy.remote.wire import WIRE_PRESETS, StateField, WireFormat

REMOTE_SCHEMES = ('ws', 'wss', 'http', 'https')


def is_remote_spec(spec: str) -> bool:
    """True when ``spec`` is a URL that :func:`make_remote_policy` understands."""
    return isinstance(spec, str) and spec.split('://', 1)[0].lower() in REMOTE_SCHEMES and '://' in spec


def make_remote_policy(url: str, embodiment: Embodiment | str | None = None, **overrides: Any):
    """``ws://`` / ``wss://`` -> :class:`RemotePolicy`; ``http://`` / ``https://`` -> :class:`OpenVLARestPolicy`.

    Query parameters set config fields (see each config class); ``overrides`` win over them."""
    if not is_remote_spec(url):
        raise ValueError(f"'{url}' is not a remote policy URL; use ws://host:port (openpi protocol) "
                         'or http://host:port/act (OpenVLA REST)')
    if url.lower().startswith(('ws://', 'wss://')):
        return RemotePolicy(embodiment, RemotePolicyConfig.from_url(url, **overrides))
    return OpenVLARestPolicy(embodiment, OpenVLARestConfig.from_url(url, **overrides))


__all__ = [
    'ActionMapping', 'LinkState', 'LinkStatus', 'OpenVLARestConfig', 'OpenVLARestPolicy',
    'ProtocolError', 'RemotePolicy', 'RemotePolicyConfig', 'RemotePolicyUnavailable', 'StateField', 'WIRE_PRESETS',
    'WireFormat', 'is_remote_spec', 'make_remote_policy',
]
