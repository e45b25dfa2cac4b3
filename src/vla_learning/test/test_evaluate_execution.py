"""How the evaluation executes a policy: through the PolicyRunner (the node's code) and the gate."""


def test_evaluate_runs_a_policy_with_ensembling(tmp_path):
    from vla_learning.evaluate import evaluate, to_markdown
    report = evaluate('keyword', splits=['seen'], tasks=['raise_left_arm'], episodes=1, chunk_steps=1,
                      out=tmp_path, progress=False, ensemble_coeff=0.01)
    assert report['ensemble_coeff'] == 0.01 and report['splits']['seen']['successes'] == 1
    assert 'ACT ensembling 0.01' in to_markdown(report, 'x')
    late = evaluate('keyword', splits=['seen'], tasks=['raise_left_arm'], episodes=1, progress=False, state_delay=0.3)
    assert late['state_delay_s'] == 0.3 and 'odometry 0.3 s late' in to_markdown(late, 'x')
    assert late['splits']['seen']['successes'] == 1, 'the arm still goes up with its state read late'


def test_evaluate_is_gated_and_reports_what_the_gate_did():
    """walk_to ends next to its target, inside the gate's SLOWDOWN zone: the table shows it."""
    from vla_learning.evaluate import GATED, UNGATED, evaluate, to_markdown
    gated = evaluate('scripted_expert', splits=['seen'], tasks=['walk_to'], episodes=1, progress=False)
    row = gated['rows'][0]
    assert gated['gate'] and row['gate_share'] and abs(sum(row['gate_share'].values()) - 1) < 1e-9
    assert row['gate_share'].get('SLOWDOWN', 0) > 0
    assert GATED in to_markdown(gated, 'x')
    raw = evaluate('scripted_expert', splits=['seen'], tasks=['walk_to'], episodes=1, progress=False, gate=False)
    assert raw['rows'][0]['gate_share'] == {} and UNGATED in to_markdown(raw, 'x')


def test_the_confidence_threshold_is_the_gates(tmp_path):
    """An instruction the keyword policy does not know (confidence 0) is stopped by the gate at
    the default threshold, and let through at threshold 0."""
    from vla_learning.evaluate import evaluate
    pairs = tmp_path / 'pairs.tsv'
    pairs.write_text('sing a song\traise_left_arm\n')
    kw = dict(splits=[], instructions=str(pairs), episodes=1, progress=False)
    stopped = evaluate('keyword', **kw)['rows'][0]
    assert stopped['refused'] == 1.0 and stopped['gate_share'] == {'STOP': 1.0}
    passed = evaluate('keyword', threshold=0.0, **kw)['rows'][0]
    assert passed['gate_share'].get('STOP', 0.0) < 0.1


def test_default_chunk_steps_are_the_policys_own():
    """chunk_steps 0 (the default) calls the policy every n_action_steps, as the node does; every
    step for a policy that declares none; a number given wins."""
    from types import SimpleNamespace

    from vla_learning.evaluate import CHUNK_STEPS, evaluate, policy_chunk_steps
    assert CHUNK_STEPS == 0
    assert policy_chunk_steps(0, SimpleNamespace(n_action_steps=5)) == 5
    assert policy_chunk_steps(0, SimpleNamespace(n_action_steps=None)) == 1
    assert policy_chunk_steps(0, SimpleNamespace()) == 1
    assert policy_chunk_steps(3, SimpleNamespace(n_action_steps=5)) == 3
    report = evaluate('keyword', splits=['seen'], tasks=['raise_left_arm'], episodes=1, progress=False)
    assert report['chunk_steps'] == 1
