"""Validation of language commands (plain Python)."""
from __future__ import annotations

import unicodedata


class InstructionError(ValueError):
    """A command that cannot be followed; the message says why."""


def clean_instruction(text: str, max_length: int = 500) -> str:
    """Normalise a command: strip control characters and surrounding/double white space.

    Returns '' for an empty (or all-white-space) command, which means "stop".
    Raises InstructionError for commands longer than ``max_length`` characters.
    """
    if not isinstance(text, str):
        raise InstructionError(f'command must be text, got {type(text).__name__}')
    if len(text) > 4 * max_length:  # cheap early exit before normalising a huge string
        raise InstructionError(f'command of {len(text)} characters exceeds max_instruction_length={max_length}')
    cleaned = ''.join(' ' if unicodedata.category(c)[0] in 'CZ' else c for c in text)
    cleaned = ' '.join(cleaned.split())
    if len(cleaned) > max_length:
        raise InstructionError(f'command of {len(cleaned)} characters exceeds max_instruction_length={max_length}')
    return cleaned
