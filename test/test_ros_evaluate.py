"""The closed-loop ROS evaluation, CI's short version: one episode per task and split (and an
--instructions file), the keyword policy (instant, so the run is the loop's and not the
policy's), through the real simulator node, vla_inference and vla_safety over DDS, beside
lockstep on the same cases. The simulator runs at real time: at twice real time a 2-core CI
machine could not keep vla_inference's proposals inside vla_safety's command_timeout (simulated
seconds), and an arm task ran out of time under proposal timeouts. About 3-4 minutes. Asserts the report's structure and that outcomes are judged by
the tasks' predicates and refusals by the published confidences; no timing."""
import json

import pytest

pytestmark = pytest.mark.ros

pytest.importorskip('vla_sim.sim', reason='vla_sim / mujoco not installed: run scripts/test.sh')

from ros_harness import fresh_domain_id  # noqa: E402


@pytest.fixture(scope='module')
def run(tmp_path_factory):
    from vla_learning.ros_evaluate import main
    tmp = tmp_path_factory.mktemp('ros_eval')
    instructions = tmp / 'mine.tsv'
    instructions.write_text('# my phrasings\nlift your right arm\traise_right_arm\nplease juggle\tout_of_scope\n')
    out = tmp / 'out'
    assert main(['--policy', 'keyword', '--episodes', '1', '--instructions', str(instructions),
                 '--real-time-factor', '1', '--state-delay', '0.2', '--hold', '1.5',
                 '--domain-id', str(fresh_domain_id()),
                 '--out', str(out)]) == 0
    return out


def _load(path):
    return json.loads(path.read_text())


def test_every_case_runs_in_both_loops_and_the_reports_have_evaluates_structure(run):
    from vla_learning.evaluate import FIRST_SEED, SPLITS, select_cases
    ros, lockstep = _load(run / 'results.json'), _load(run / 'lockstep' / 'results.json')
    cases = select_cases(SPLITS, None, 1, FIRST_SEED, run.parent / 'mine.tsv')
    for report in (ros, lockstep):
        assert {'summary', 'splits', 'rows', 'episodes', 'policy', 'wall_s'} <= set(report)
        assert report['state_delay_s'] == 0.2, 'joint states and odometry late in both loops'
        assert report['hold_s'] == 1.5, 'each success followed 1.5 s more in both loops'
        # the same cases, in order, in both: splits, tasks, instructions, seeds
        assert [(e['split'], e['task'], e['instruction'], e['seed']) for e in report['episodes']] == \
            [(c.split, c.task, c.instruction, c.seed) for c in cases]
        assert set(report['splits']) == {'seen', 'paraphrase', 'unseen_combo', 'obstructed', 'beside_object',
                                         'out_of_scope', 'custom'}
    assert (ros['loop'], lockstep['loop']) == ('ros', 'lockstep')
    for f in ('results.md', 'plots/success.png', 'plots/confidence.png', 'lockstep/results.md'):
        assert (run / f).is_file(), f
    md = (run / 'results.md').read_text()
    assert '| split | task | success | 95% CI |' in md and '## Beside lockstep' in md


def test_the_comparison_is_the_difference_of_the_two_reports(run):
    ros, lockstep = _load(run / 'results.json'), _load(run / 'lockstep' / 'results.json')
    cmp = ros['comparison']
    assert set(cmp['splits']) == set(ros['splits'])
    for split, c in cmp['splits'].items():
        key = 'refused' if split == 'out_of_scope' else 'success_rate'
        assert c['ros'] == ros['splits'][split][key] and c['lockstep'] == lockstep['splits'][split][key]
        assert c['difference_points'] == pytest.approx(100 * (c['ros'] - c['lockstep']))
    def refused(e):      # the first confidence below the threshold (none published: not refused)
        return bool(e['confidences']) and e['confidences'][0] < 0.5

    differ = {(e['split'], e['task'], e['seed']) for e in cmp['judged_differently']}
    by_case = zip(ros['episodes'], lockstep['episodes'])
    assert differ == {(a['split'], a['task'], a['seed']) for a, b in by_case
                      if a['success'] != b['success'] or refused(a) != refused(b)}


def test_outcomes_are_judged_by_the_task_and_refusals_by_the_published_confidence(run):
    from vla_sim.tasks import TASKS
    ros = _load(run / 'results.json')
    eps = {(e['split'], e['task']): e for e in ros['episodes']}
    # the keyword policy raises an arm: the predicate saw it before the 5 s limit
    for key in (('seen', 'raise_left_arm'), ('paraphrase', 'raise_both_arms'), ('custom', 'raise_right_arm')):
        e = eps[key]
        assert e['success'] and e['time'] < TASKS[e['task']].time_limit, e
        assert e['confidences'] and min(e['confidences']) == 1.0, e      # what vla/action carried
    # it has no rule for walking to an object: it proposes nothing the gate lets through (confidence 0)
    # and the episode is watched to its time limit and judged a failure
    e = eps[('unseen_combo', 'walk_to')]
    assert not e['success'] and e['time'] >= TASKS['walk_to'].time_limit - 0.1, e
    assert e['confidences'] and e['confidences'][0] < 0.5
    # out of scope: refused (first confidence below the threshold), never a success
    oos = [e for e in ros['episodes'] if e['task'] == 'out_of_scope']
    assert len(oos) == 2 and all(not e['success'] and e['confidences'][0] < 0.5 for e in oos)
    assert ros['summary']['refusal_rate_out_of_scope'] == 1.0
    assert ros['splits']['out_of_scope']['refused'] == 1.0


def test_a_success_is_followed_and_judged_kept_in_both_loops(run):
    """--hold: after the success the loops watch on; the keyword policy's raised arm stays up (kept,
    confidence 1 after the success too), and the report says so in its 'kept' table."""
    for path in (run / 'results.json', run / 'lockstep' / 'results.json'):
        report = _load(path)
        eps = {(e['split'], e['task']): e for e in report['episodes']}
        e = eps[('seen', 'raise_left_arm')]
        assert e['success'] and e['kept'] is True, (path, e)
        assert all(ep['kept'] is None for ep in report['episodes'] if not ep['success'])
        row = next(r for r in report['rows'] if (r['split'], r['task']) == ('seen', 'raise_left_arm'))
        assert row['kept'] == 1
    md = (run / 'results.md').read_text()
    assert '## Kept until the next command: 1.5 s after each success' in md
    assert '| seen | raise_left_arm | 1/1 |' in md
