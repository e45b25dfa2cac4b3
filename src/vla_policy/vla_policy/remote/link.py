"""The state of the link to an inference server, shared by the remote clients.

:class:`LinkHealth` records successes and failures (time passed in) and says when the next
connection may be tried (:class:`Backoff`); :class:`LinkStatus` is its snapshot, a
:class:`LinkState` enum and a reason. A client with no usable action raises
:class:`RemotePolicyUnavailable`.
"""
from __future__ import annotations

import enum
import threading
from dataclasses import dataclass


class LinkState(str, enum.Enum):
    """State of the link to an inference server."""

    NOT_CONNECTED = 'not_connected'    # no connection tried yet
    CONNECTED = 'connected'            # the last call got a valid reply
    DISCONNECTED = 'disconnected'      # server away (refused, closed, unreachable): reconnecting with backoff
    TIMED_OUT = 'timed_out'            # no reply within the timeout; the connection was dropped
    SERVER_ERROR = 'server_error'      # the server answered with an error
    PROTOCOL_ERROR = 'protocol_error'  # the server's message broke the protocol; the connection was dropped


@dataclass(frozen=True)
class LinkStatus:
    """A snapshot of the link (times on the client's monotonic clock, seconds)."""

    state: LinkState = LinkState.NOT_CONNECTED
    reason: str = 'not connected yet'
    since: float = 0.0
    failures: int = 0                    # consecutive failed calls
    retry_at: float | None = None        # no connection attempt before this time
    round_trip_s: float | None = None    # of the last successful call
    confidence_is_default: bool = False  # the server sends no confidence: ours is the configured default

    @property
    def available(self) -> bool:
        return self.state is LinkState.CONNECTED


class RemotePolicyUnavailable(RuntimeError):
    """The remote policy gave no usable action; ``status`` says why. The node publishes nothing."""

    def __init__(self, status: LinkStatus, detail: str = '') -> None:
        super().__init__(f'remote policy unavailable ({status.state.value}): {status.reason}'
                         + (f' [{detail}]' if detail else ''))
        self.status = status


@dataclass(frozen=True)
class Backoff:
    """Exponential reconnect delays: ``initial_s * factor**(failures-1)``, at most ``max_s``."""

    initial_s: float = 0.5
    max_s: float = 8.0
    factor: float = 2.0

    def __post_init__(self) -> None:
        if not (self.initial_s >= 0 and self.max_s >= self.initial_s and self.factor >= 1):
            raise ValueError(f'Backoff needs 0 <= initial_s <= max_s and factor >= 1, got {self}')

    def delay(self, failures: int) -> float:
        if failures <= 0:
            return 0.0
        return min(self.max_s, self.initial_s * self.factor ** min(failures - 1, 64))


class LinkHealth:
    """Thread-safe status bookkeeping shared by the remote clients; time is passed in."""

    def __init__(self, backoff: Backoff = Backoff()) -> None:
        self._backoff = backoff
        self._lock = threading.Lock()
        self._status = LinkStatus()

    def snapshot(self) -> LinkStatus:
        with self._lock:
            return self._status

    def may_connect(self, now: float) -> bool:
        with self._lock:
            return self._status.retry_at is None or now >= self._status.retry_at

    def succeeded(self, now: float, reason: str, round_trip_s: float | None, confidence_is_default: bool) -> LinkStatus:
        with self._lock:
            since = self._status.since if self._status.state is LinkState.CONNECTED else now
            self._status = LinkStatus(LinkState.CONNECTED, reason, since, 0, None, round_trip_s, confidence_is_default)
            return self._status

    def failed(self, now: float, state: LinkState, reason: str, backoff: bool = True) -> LinkStatus:
        """Record a failure; with ``backoff`` the next connection attempt waits its delay."""
        with self._lock:
            s = self._status
            failures = s.failures + 1
            retry_at = now + self._backoff.delay(failures) if backoff else None
            since = s.since if s.state is state else now
            self._status = LinkStatus(state, reason, since, failures, retry_at, s.round_trip_s, s.confidence_is_default)
            return self._status


__all__ = ['Backoff', 'LinkHealth', 'LinkState', 'LinkStatus', 'RemotePolicyUnavailable']
