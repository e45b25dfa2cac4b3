"""The closed ROS loop's report beside lockstep: the difference per split against the bar."""
from vla_learning.eval_report import Outcome, make_report
from vla_learning.ros_evaluate import AGREEMENT_POINTS, compare


def _outcomes(successes: int, n: int) -> list[Outcome]:
    return [Outcome('unseen_combo', 'walk_to', 'walk to the green cylinder', 10_000_000 + i, i < successes,
                    5.0, 0, [0.9], [1.0]) for i in range(n)]


def _report(outcomes: list[Outcome]) -> dict:
    return make_report(outcomes, 0.5, 'p', len(outcomes), 1, 10_000_000, 1.0)


def test_a_difference_of_exactly_the_bar_is_within_it():
    """18/20 in the loop against 17/20 in lockstep is +5 points: within 5 (0.9 - 0.85 is
    0.05000000000000004 in floats, which once read as 'no')."""
    assert AGREEMENT_POINTS == 5.0
    ros, lock = _outcomes(18, 20), _outcomes(17, 20)
    cmp = compare(_report(ros), _report(lock), ros, lock)
    split = cmp['splits']['unseen_combo']
    assert split['difference_points'] == 5.0 and split['within_bar']
    assert [d['seed'] for d in cmp['judged_differently']] == [10_000_017]
    ros, lock = _outcomes(19, 20), _outcomes(17, 20)
    assert not compare(_report(ros), _report(lock), ros, lock)['splits']['unseen_combo']['within_bar']
