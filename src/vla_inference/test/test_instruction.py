import pytest

from vla_inference.instruction import InstructionError, clean_instruction


@pytest.mark.parametrize('raw,expected', [
    ('walk forward', 'walk forward'),
    ('  walk\tforward\n', 'walk forward'),
    ('walk\x00 forward\x07', 'walk forward'),
    ('', ''),
    ('   \n\t', ''),
    ('Raise   your LEFT arm', 'Raise your LEFT arm'),
    ('approach the crimson crate 🤖', 'approach the crimson crate 🤖'),
])
def test_clean(raw, expected):
    assert clean_instruction(raw) == expected


def test_too_long_is_rejected_with_the_limit_in_the_message():
    with pytest.raises(InstructionError, match='max_instruction_length=10'):
        clean_instruction('x' * 11, max_length=10)
    with pytest.raises(InstructionError):
        clean_instruction('x' * 10_000_000, max_length=500)


def test_limit_counts_cleaned_text():
    assert clean_instruction('a' + ' ' * 100 + 'b', max_length=30) == 'a b'


def test_non_text_rejected():
    with pytest.raises(InstructionError):
        clean_instruction(b'walk', 10)
