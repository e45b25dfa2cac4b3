"""Moved to vla_core.embodiment; this re-export goes once the tools package imports from there."""
from vla_core.embodiment import *  # noqa: F401,F403
