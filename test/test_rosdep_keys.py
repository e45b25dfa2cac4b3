"""`rosdep install --from-paths src --ignore-src -y` resolves every key, for Jazzy and Kilted on Ubuntu noble.

Every dependency tag of every package.xml (depend, build_depend, exec_depend, test_depend,
buildtool_depend, ...) must name a package of this workspace, a ROS package the distribution
releases, or a system key with a rule for noble (apt or pip). The key lists come from the
ros/rosdistro database, copied into shared/rosdep/ beside the repository (its README.md says
how), so this needs no network; without them the test skips.
"""
from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DISTROS = ('jazzy', 'kilted')
PLATFORM = 'ubuntu-noble'       # the platform both distributions release for


def key_lists_dir() -> Path | None:
    """shared/rosdep/: $VLA_ROSDEP_LISTS, or shared/ beside the repository (CI) or inside it."""
    candidates = [os.environ.get('VLA_ROSDEP_LISTS', ''), REPO.parent / 'shared' / 'rosdep',
                  REPO / 'shared' / 'rosdep']
    for c in candidates:
        if c and (Path(c) / f'system-keys-{PLATFORM}.txt').is_file():
            return Path(c)
    return None


def read_keys(path: Path) -> set[str]:
    return {line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith('#')}


def dependencies() -> list[tuple[str, str, str]]:
    """(package, tag, key) of every dependency tag of src/*/package.xml."""
    out = []
    for xml in sorted(REPO.glob('src/*/package.xml')):
        root = ET.parse(xml).getroot()
        for el in root:
            if re.fullmatch(r'(\w+_)?depend', el.tag) and el.tag != 'group_depend':
                out.append((root.findtext('name'), el.tag, (el.text or '').strip()))
    return out


DEPENDENCIES = dependencies()
WORKSPACE = {root.findtext('name') for root in (ET.parse(p).getroot() for p in REPO.glob('src/*/package.xml'))}


def test_every_dependency_tag_is_read():
    """The parser sees the tags it must check (else the check below is vacuous)."""
    tags = {tag for _, tag, _ in DEPENDENCIES}
    assert {'exec_depend', 'test_depend', 'buildtool_depend'} <= tags, tags
    assert all(key for _, _, key in DEPENDENCIES), 'an empty dependency tag'


@pytest.mark.parametrize('distro', DISTROS)
def test_rosdep_resolves_every_key(distro: str):
    lists = key_lists_dir()
    if lists is None:
        pytest.skip('rosdep key lists not found (shared/rosdep/ beside or inside the repository, or '
                    '$VLA_ROSDEP_LISTS); they are a copy of the ros/rosdistro database')
    known = WORKSPACE | read_keys(lists / f'system-keys-{PLATFORM}.txt') | read_keys(lists / f'ros-packages-{distro}.txt')
    unknown = [f'{package}: <{tag}>{key}</{tag}>' for package, tag, key in DEPENDENCIES if key not in known]
    assert not unknown, (
        f'rosdep cannot resolve these keys for {distro} on {PLATFORM}:\n  ' + '\n  '.join(unknown)
        + '\nUse a key that exists (a *-pip key where only pip has the package), or drop the tag and '
          'install the package in the README\'s pip step (scripts/requirements-python.txt).')


def test_no_rosdep_command_skips_keys():
    """The README, the Dockerfiles and CI run rosdep as it is documented: no key left out."""
    files = [REPO / 'README.md', *REPO.glob('docker/Dockerfile*'), *REPO.glob('.github/workflows/*.yml')]
    skipping = [f'{f.relative_to(REPO)}:{n}' for f in files
                for n, line in enumerate(f.read_text().splitlines(), 1)
                if 'rosdep install' in line and '--skip-keys' in line]
    assert not skipping, f'rosdep install with --skip-keys at {skipping}: fix the package.xml keys instead'
