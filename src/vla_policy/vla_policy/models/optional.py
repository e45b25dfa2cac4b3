"""Optional dependencies of pretrained components: imported on use, with an error that says what to install.

Plain Python. The default seed model needs none of them; a config that names a pretrained
component fails with :class:`~vla_policy.errors.PolicyLoadError` when its package is missing.
"""
from __future__ import annotations

import importlib
import sys
from types import ModuleType

from vla_policy.errors import PolicyLoadError


def require(module: str, *, pip: str, needed_for: str, instead: str) -> ModuleType:
    """Import ``module`` or raise PolicyLoadError naming the pip package(s) and an alternative."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise PolicyLoadError(
            f"{needed_for} needs the Python package(s) {pip} (module '{module}' could not be imported: {exc}). "
            f"Install them into this Python ({sys.executable}): pip install {pip} "
            f"(see scripts/requirements-python.txt), or {instead}.") from exc
