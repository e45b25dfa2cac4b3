"""The README's commands exist and take the arguments it shows; every console script answers --help.

Commands are read from README.md itself: every line of its ```bash blocks, and the inline code
spans that name one of our executables (a console script of a setup.py, ``python -m <our
module>``, ``ros2 run|launch <our package>``, ``bash|source scripts/...``). Each is checked the
way a user runs it after the README's set-up (``source scripts/env.sh``: console scripts on
PATH): the program's ``--help`` must exit 0 with a usage, and every ``--option`` and
``name:=`` launch argument the README passes must appear in that help. Repository paths in a
command must exist. Commands that need tools this workspace does not provide, or that would
change the machine (ros2 topic/service/action, rosdep, pip, docker, colcon, scripts/setup.sh),
are skipped with the reason (``pytest -rs`` lists them).
"""
from __future__ import annotations

import ast
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / 'README.md'
#: hang guard for --help, not a timing check: a program that starts working on --help never exits
HELP_TIMEOUT_S = 300
#: why a command of these tools is not run here
NOT_RUN = {
    'ros2': 'talks to running nodes through ros2cli',
    'rosdep': 'installs system packages (its keys: test/test_rosdep_keys.py)',
    'pip': 'installs packages into the environment',
    'colcon': 'builds the workspace (this test runs on its result)',
    'docker': 'builds or runs container images',
    'export': 'sets a shell variable',
    'source': "sources a ROS install's setup file",
}


def console_scripts() -> dict[str, str]:
    """{executable: package} of every ``console_scripts`` entry point of src/*/setup.py."""
    out = {}
    for setup_py in sorted(REPO.glob('src/*/setup.py')):
        for node in ast.walk(ast.parse(setup_py.read_text())):
            if isinstance(node, ast.keyword) and node.arg == 'entry_points':
                for spec in ast.literal_eval(node.value).get('console_scripts', []):
                    out[spec.split('=')[0].strip()] = setup_py.parent.name
    return out


SCRIPTS = console_scripts()
PACKAGES = {p.parent.name for p in REPO.glob('src/*/package.xml')}


@dataclass(frozen=True)
class Command:
    words: tuple[str, ...]
    where: str          # 'README.md:<line>'

    def __str__(self) -> str:
        return ' '.join(self.words)


def _split(text: str) -> list[list[str]]:
    """Shell words of ``text``, one list per simple command (split at && || ; | &)."""
    lex = shlex.shlex(text, posix=True, punctuation_chars=True)
    lex.whitespace_split = True
    lex.commenters = '#'
    commands, words = [], []
    for w in lex:
        if w in ('&&', '||', ';', '|', '&'):
            commands.append(words)
            words = []
        else:
            words.append(w)
    return [c for c in commands + [words] if c]


def _names_ours(words: list[str]) -> bool:
    w = words + ['', '', '']
    return (w[0] in SCRIPTS
            or (w[0] in ('python', 'python3') and w[1] == '-m' and w[2].split('.')[0] in PACKAGES)
            or (w[0] == 'ros2' and w[1] in ('run', 'launch') and w[2] in PACKAGES)
            or (w[0] in ('bash', 'source', '.') and w[1].startswith('scripts/')))


def readme_commands(text: str) -> list[Command]:
    """Every command of the ```bash blocks, and the inline code spans that name our executables."""
    out = []
    fence = re.compile(r'^```([a-z]*)\n(.*?)^```', re.M | re.S)
    for m in fence.finditer(text):
        if m.group(1) not in ('bash', 'sh', 'shell'):
            continue
        first = text.count('\n', 0, m.start(2)) + 1
        for i, line in enumerate(m.group(2).replace('\\\n', ' ').split('\n')):
            out += [Command(tuple(c), f'README.md:{first + i}') for c in _split(line)]
    prose = fence.sub(lambda m: '\n' * m.group(0).count('\n'), text)   # keeps line numbers
    for m in re.finditer(r'`([^`]+)`', prose):
        for c in _split(' '.join(m.group(1).split())):
            if _names_ours(c):
                out.append(Command(tuple(c), f'README.md:{prose.count(chr(10), 0, m.start()) + 1}'))
    return out


COMMANDS = readme_commands(README.read_text())


def test_readme_commands_are_found():
    """The parser sees the commands the README is known to show (else every check below is vacuous)."""
    firsts = {c.words[0] for c in COMMANDS}
    assert {'vla_launch', 'vla_benchmark', 'vla-serve', 'ros2', 'rosdep', 'bash'} <= firsts, firsts
    assert any(c.words[:3] == ('python', '-m', 'vla_learning.evaluate') for c in COMMANDS)


# --------------------------------------------------------------------------------------------
# the user's shell after the README's set-up
# --------------------------------------------------------------------------------------------
def _wheel_venv() -> str:
    """The venv of the README's wheel set-up, or '' with a ROS install (no venv)."""
    return os.environ.get('VLA_VENV') or (sys.prefix if sys.prefix != sys.base_prefix else '')


@pytest.fixture(scope='module')
def user_env() -> dict[str, str]:
    """Environment of the user's shell after the README's set-up: ``source scripts/env.sh`` in the
    wheel venv; with a ROS install (no venv), this process's environment (install/setup.bash sourced)."""
    if not (REPO / 'install' / 'setup.bash').is_file():
        pytest.skip('the workspace is not built (install/setup.bash): run scripts/setup.sh')
    venv = _wheel_venv()
    if not venv:
        return dict(os.environ)
    # a fresh shell's PATH: without what an earlier `source scripts/env.sh` put there
    path = os.pathsep.join(d for d in os.environ.get('PATH', '').split(os.pathsep)
                           if not d.startswith(str(REPO / 'install')))
    r = subprocess.run(['bash', '-c', 'source scripts/env.sh >&2 && env -0'], cwd=REPO, capture_output=True,
                       env={**os.environ, 'VLA_VENV': venv, 'PATH': path}, check=False)
    assert r.returncode == 0, f'source scripts/env.sh failed: {r.stderr.decode()}'
    return dict(kv.split('=', 1) for kv in r.stdout.decode().split('\0') if '=' in kv)


@lru_cache(maxsize=None)
def _help(argv: tuple[str, ...], env_items: tuple[tuple[str, str], ...]) -> tuple[int, str]:
    try:
        r = subprocess.run([*argv, '--help'], cwd=REPO, env=dict(env_items), capture_output=True, text=True,
                           stdin=subprocess.DEVNULL, timeout=HELP_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail(f'{" ".join(argv)} --help did not exit: it started working instead of printing its usage')
    return r.returncode, r.stdout + r.stderr


def check_help(argv: list[str], env: dict[str, str]) -> str:
    """``argv --help`` exits 0 with a usage; returns the help text."""
    rc, text = _help(tuple(argv), tuple(sorted(env.items())))
    assert rc == 0 and 'usage:' in text.lower(), f'{" ".join(argv)} --help exited {rc}:\n{text[-3000:]}'
    return text


def check_arguments(command: Command, help_text: str) -> None:
    """Each --option and name:= argument of ``command`` (before --ros-args) is in ``help_text``."""
    words = list(command.words)
    words = words[:words.index('--ros-args')] if '--ros-args' in words else words
    def known(name: str) -> bool:
        return re.search(rf'(?<![\w-]){re.escape(name)}(?![\w-])', help_text) is not None
    missing = [w for w in words if (w.startswith('--') and not known(w.split('=')[0]))
               or (':=' in w and not w.startswith('-') and not known(w.split(':=')[0] + ':='))]
    assert not missing, f'{command.where}: `{command}` passes {missing}, which its --help does not know'


def check_paths(command: Command) -> None:
    """Repository paths named by ``command`` (src/..., scripts/..., docker/...) exist."""
    for w in command.words:
        for path in re.findall(r'(?:^|=)((?:src|scripts|docker|test)/[\w./-]+)', w):
            assert (REPO / path).exists(), f'{command.where}: `{command}` names {path}, which does not exist'


def _launch_arguments(package: str, launch_file: str) -> str:
    """Names a launch file accepts: the suite's (stack.SUITE_ARGUMENTS) and those it quotes itself."""
    from vla_bringup.stack import SUITE_ARGUMENTS
    src = (REPO / 'src' / package / 'launch' / launch_file).read_text()
    return ' '.join(f'{n}:=' for n in SUITE_ARGUMENTS) + ' ' + ' '.join(
        f'{n}:=' for n in re.findall(r"'(\w+)'", src))


# --------------------------------------------------------------------------------------------
# the checks
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize('command', COMMANDS, ids=[f'{c.where} {c}'[:90] for c in COMMANDS])
def test_readme_command(command: Command, user_env):
    check_paths(command)
    w = list(command.words) + ['', '', '']
    if w[0] in SCRIPTS:                                      # a console script, found on PATH
        if not _wheel_venv():
            pytest.skip(f'{command.where} `{command}`: wheel set-up only (scripts/env.sh); a ROS install '
                        f'runs it as `ros2 run {SCRIPTS[w[0]]} {w[0]}` (test_console_script_answers_help)')
        check_arguments(command, check_help([w[0]], user_env))
    elif w[0] in ('python', 'python3') and w[1] == '-m':
        check_arguments(command, check_help([w[0], '-m', w[2]], user_env))
    elif w[0] == 'ros2' and w[1] == 'run' and w[2] in PACKAGES:
        assert SCRIPTS.get(w[3]) == w[2], f'{command.where}: {w[2]} has no executable {w[3]!r}'
        # what `ros2 run` starts: install/<pkg>/lib/<pkg>/<exe>
        exe = REPO / 'install' / w[2] / 'lib' / w[2] / w[3]
        check_arguments(command, check_help([str(exe)], user_env))
    elif w[0] == 'ros2' and w[1] == 'launch' and w[2] in PACKAGES:
        installed = REPO / 'install' / w[2] / 'share' / w[2] / 'launch' / w[3]
        assert installed.is_file(), f'{command.where}: {installed} is not installed'
        check_arguments(command, _launch_arguments(w[2], w[3]))
        pytest.skip(f'{command.where} `{command}`: launch file and arguments checked, not started '
                    '(`ros2 launch` needs launch_ros)')
    elif w[0] == 'source' and w[1] == 'scripts/env.sh':
        pass                                                 # the user_env fixture sources it
    elif w[0] == 'bash' and w[1].startswith('scripts/'):
        script = (REPO / w[1]).read_text()
        assert subprocess.run(['bash', '-n', str(REPO / w[1])], check=False).returncode == 0
        forwarded = re.search(r'exec python -m ([\w.]+) "\$@"', script)
        if forwarded:                                        # its arguments go to a module
            check_arguments(command, check_help(['python', '-m', forwarded.group(1)], user_env))
        pytest.skip(f'{command.where} `{command}`: arguments checked, not run (it runs scripts/setup.sh, '
                    'which installs the venv, first)')
    else:
        reason = NOT_RUN.get(w[0], 'not a command of this workspace')
        found = shutil.which(w[0], path=user_env.get('PATH')) or w[0] in ('export', 'source')
        pytest.skip(f'{command.where} `{command}`: not run, `{w[0]}` {reason}'
                    + ('' if found else ' (and is not installed here)'))


@pytest.mark.parametrize('exe', sorted(SCRIPTS))
def test_console_script_answers_help(exe: str, user_env):
    """Every console script is on PATH after scripts/env.sh, in the ``ros2 run`` layout, and --help
    prints its usage and exits 0 without starting work (a node must not spin, a camera not stream)."""
    package = SCRIPTS[exe]
    installed = REPO / 'install' / package / 'lib' / package / exe      # where `ros2 run` looks
    if _wheel_venv():
        found = shutil.which(exe, path=user_env['PATH'])
        assert found and Path(found) == installed, f'{exe} resolves to {found} on PATH, not to {installed}'
    check_help([str(installed)], user_env)
