"""Callback guards of the safety node: no exception may leave the outputs silent.

A guarded callback that raises calls ``self._latch_fault(name, exc)`` (the node logs it, latches
the internal_error fault and publishes the stop) instead of taking the node down.

    @guarded            subscriptions and timers
    @guarded_service    services: the response says success=False with the error
"""
from __future__ import annotations

import functools


def guarded(callback):
    """A subscription or timer callback that cannot take the node down: an exception latches a fault."""
    @functools.wraps(callback)
    def run(self, *args):
        try:
            return callback(self, *args)
        except Exception as exc:  # noqa: BLE001 - any bug must stop the robot, never silence it
            self._latch_fault(callback.__name__, exc)
    return run


def guarded_service(callback):
    """A service callback that cannot take the node down: an exception latches a fault and answers it."""
    @functools.wraps(callback)
    def run(self, request, response):
        try:
            return callback(self, request, response)
        except Exception as exc:  # noqa: BLE001 - as guarded
            self._latch_fault(callback.__name__, exc)
            response.success, response.message = False, f'internal error: {exc}'
            return response
    return run
