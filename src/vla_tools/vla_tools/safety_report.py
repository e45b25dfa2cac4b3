"""vla_safety_benchmark's tables: per run, and median / worst over repeated runs (plain Python)."""
from __future__ import annotations

import math
import os

from vla_bringup.stack import RESPAWN_DELAY
from vla_tools.safety_scenarios import ScenarioResult
from vla_tools.stop_metrics import Spread, Targets, spread


# -- output ----------------------------------------------------------------------------------------------
COLUMNS = (('time_to_stop', 'time to stop, command (s)', lambda t: f'<= {t.time_to_stop}'),
           ('time_to_still', 'time to still, base (s)', lambda t: 'reported'),
           ('stopped_share', 'stopped while required', lambda t: f'>= {t.stopped_share:.0%}'),
           ('time_to_resume', 'time to resume (s)', lambda t: f'<= {t.time_to_resume}'),
           ('false_stops', 'false stops', lambda t: f'<= {t.false_stops:.0%}'),
           ('contacts', 'contacts', lambda t: f'{t.contacts}'),
           ('min_clearance', 'min clearance (m)', lambda t: '> 0'))
#: measures whose worst run is the lowest value
WORST_IS_LOW = ('stopped_share', 'min_clearance')


def _value(v):
    """A figure from JSON: 'inf' (never stopped / resumed) back to infinity."""
    return math.inf if v == 'inf' else v


def met(key: str, figures: dict, passes: dict) -> bool | None:
    if key == 'min_clearance':
        v = _value(figures.get(key))
        return None if v is None else v > 0
    return passes.get(key)


def _text(key: str, value) -> str:
    value = _value(value)
    if value is None:
        return '-'
    if math.isinf(value):
        return 'never' if key != 'min_clearance' else 'inf'
    if key in ('stopped_share', 'false_stops'):
        return f'{value:.1%}'
    if key == 'contacts':
        return str(int(value)) if float(value).is_integer() else f'{value:.1f}'
    return f'{value:.2f}'


def _cell(key: str, value, ok) -> str:
    if key == 'min_clearance':
        ok = met(key, {key: value}, {})
    if value is None:
        return '-'
    return _text(key, value) + ('' if ok is None else (' PASS' if ok else ' MISS'))


def _spread_cell(key: str, sp: Spread | None) -> str:
    if sp is None:
        return '-'
    met = '' if sp.met is None else f' ({sp.met}/{sp.runs})'
    return f'{_text(key, sp.median)} / {_text(key, sp.worst)}{met}'


def aggregate(runs: list[ScenarioResult]) -> dict[str, Spread | None]:
    """Per measure over repeated runs of one scenario: median, worst, runs meeting the target."""
    return {k: spread([_value(r.figures.get(k)) for r in runs], [met(k, r.figures, r.passes) for r in runs],
                      worst_is_low=k in WORST_IS_LOW) for k, _, _ in COLUMNS}


def table(results: list[ScenarioResult], markdown: bool = False) -> str:
    """One row per run: each figure, PASS / MISS against its target."""
    rows = [[r.name] + [_cell(k, r.figures.get(k), r.passes.get(k)) for k, _, _ in COLUMNS] for r in results]
    return _layout(rows, markdown)


def repeat_table(by_scenario: dict[str, list[ScenarioResult]], markdown: bool = False) -> str:
    """One row per scenario over its runs: 'median / worst (runs meeting the target / runs)'."""
    rows = []
    for name, runs in by_scenario.items():
        agg = aggregate(runs)
        rows.append([f'{name} (x{len(runs)})'] + [_spread_cell(k, agg[k]) for k, _, _ in COLUMNS])
    return _layout(rows, markdown)


def _layout(rows: list[list[str]], markdown: bool) -> str:
    t = Targets()
    head = ['scenario'] + [c[1] for c in COLUMNS]
    target = ['target'] + [c[2](t) for c in COLUMNS]
    if markdown:
        lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head), '| ' + ' | '.join(target) + ' |']
        return '\n'.join(lines + ['| ' + ' | '.join(r) + ' |' for r in rows]) + '\n'
    widths = [max(len(x[i]) for x in [head, target] + rows) for i in range(len(head))]
    fmt = '  '.join(f'{{:{w}}}' for w in widths)
    return '\n'.join(fmt.format(*x) for x in [head, target] + rows)


def kill_lines(results: list[ScenarioResult]) -> list[str]:
    """The SIGKILL measures over all runs (issue #14: vla_safety killed while walking, the base
    still within 0.5 s and zero commands on cmd_vel again within 3 s)."""
    t = Targets()
    out = []
    for node in ('vla_safety', 'vla_inference'):
        ks = [r.kills[node] for r in results if node in r.kills]
        if not ks:
            continue
        still = [_value(k.get('still_s')) for k in ks]
        still = [math.inf if v is None else v for v in still]
        target = t.still_after_safety_kill if node == 'vla_safety' else None
        sp = spread(still, [None if target is None else v <= target for v in still])
        line = (f'{node} SIGKILL ({len(ks)} run{"s" * (len(ks) > 1)}): base still after (simulated s) median '
                f'{_text("s", sp.median)}, max {_text("s", sp.worst)}'
                + (f', {sp.met}/{sp.runs} within {target} s' if target is not None else ''))
        if node == 'vla_safety':
            again = [_value(k.get('zeros_again_s')) for k in ks]
            again = [math.inf if v is None else v for v in again]
            ok = [v <= t.zeros_again_after_safety_kill and bool(k.get('zero')) for v, k in zip(again, ks)]
            sa = spread(again, ok)
            line += (f'; zero commands on cmd_vel again after (wall s) median {_text("s", sa.median)}, max '
                     f'{_text("s", sa.worst)}, {sa.met}/{sa.runs} within {t.zeros_again_after_safety_kill:g} s '
                     f'(respawn delay {_respawn_delay():g} s)')
        started = [k['respawned_s'] for k in ks if k.get('respawned_s') is not None]
        if started:
            sr = spread(started)
            line += (f'; its process started again after (wall s) median {_text("s", sr.median)}, '
                     f'max {_text("s", sr.worst)}')
        out.append(line)
    return out


def _respawn_delay() -> float:
    return RESPAWN_DELAY


def load_average() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def plain_json(v):
    """JSON values: infinity becomes 'inf'."""
    if isinstance(v, float) and math.isinf(v):
        return 'inf'
    if isinstance(v, (list, tuple)):
        return [plain_json(x) for x in v]
    if isinstance(v, dict):
        return {k: plain_json(x) for k, x in v.items()}
    return v
