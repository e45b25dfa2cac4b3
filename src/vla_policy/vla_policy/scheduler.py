"""Moved to vla_core.scheduler; this re-export goes once the tools package imports from there."""
from vla_core.scheduler import *  # noqa: F401,F403
