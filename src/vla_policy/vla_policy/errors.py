"""Errors of the policy package. Plain Python, no heavy imports."""
from __future__ import annotations


class PolicyLoadError(Exception):
    """A policy could not be found, built or loaded; the message says why and how to fix it.

    Raised by :func:`vla_policy.registry.make_policy` and
    :func:`vla_policy.checkpoint.load_checkpoint` for every expected failure (unknown name,
    missing package, bad options, malformed or mismatching checkpoint), so a caller needs to
    catch only this one type.
    """
