"""python -m vla_tools.sim_benchmark: the scripted expert's success, reported as the README shows it."""
from vla_tools.sim_benchmark import main


def test_benchmark_command_reports_success(capsys):
    assert main(['--episodes', '2', '--tasks', 'stop,turn_left', '--skip-perf']) == 0
    out = capsys.readouterr().out
    assert 'PRIVILEGED' in out and 'stop' in out and '100.0%' in out and 'episodes/min' in out
