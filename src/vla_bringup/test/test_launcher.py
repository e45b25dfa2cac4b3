"""vla_launch's process group: respawn after a death, give up on a process that cannot start, stop for good."""
import sys
import time

from vla_bringup.launcher import ProcessGroup


def _wait(predicate, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_a_killed_process_is_respawned_after_its_delay():
    group = ProcessGroup(quiet=True)
    respawned = []
    group.on_respawn = lambda name, proc: respawned.append(proc)
    try:
        first = group.start('sleeper', [sys.executable, '-c', 'import time; time.sleep(60)'], respawn_delay=0.2)
        first.kill()
        assert _wait(lambda: respawned and respawned[-1].poll() is None, 10), 'not respawned'
        assert respawned[-1].pid != first.pid and group.running() and not group.failed()
    finally:
        group.stop(grace=2.0)
    assert all(p.poll() is not None for _, p in group.procs), 'a process outlived stop()'


def test_a_process_that_keeps_dying_at_start_is_given_up_and_reported():
    group = ProcessGroup(quiet=True)
    try:
        group.start('broken', [sys.executable, '-c', 'raise SystemExit(3)'], respawn_delay=0.05)
        assert _wait(lambda: group.failed(), 20), 'a process that cannot start was respawned forever'
        assert group.failed() == [('broken', 3)] and not group.running()
    finally:
        group.stop(grace=2.0)


def test_nothing_is_respawned_after_stop():
    group = ProcessGroup(quiet=True)
    proc = group.start('sleeper', [sys.executable, '-c', 'import time; time.sleep(60)'], respawn_delay=0.05)
    group.stop(grace=2.0)
    assert proc.poll() is not None
    time.sleep(0.5)
    assert all(p.poll() is not None for _, p in group.procs)
