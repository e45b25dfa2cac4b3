"""Moved to vla_core.policy; this re-export goes once the tools package imports from there."""
from vla_core.policy import *  # noqa: F401,F403
