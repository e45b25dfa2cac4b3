"""Moved to vla_core.runner; this re-export goes once the tools package imports from there."""
from vla_core.runner import *  # noqa: F401,F403
from vla_core.runner_thread import *  # noqa: F401,F403
