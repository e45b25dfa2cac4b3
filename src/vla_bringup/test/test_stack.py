"""stack.py without `launch`: the output-adapter arguments reach vla_safety, on its command line too."""
import pytest

from vla_bringup.stack import SUITE_ARGUMENTS, joint_list, ros_args, suite_nodes


def _safety(args):
    (spec,) = [s for s in suite_nodes(args) if s.name == 'vla_safety']
    return spec


def test_joint_list_takes_commas_or_a_yaml_list():
    assert joint_list('a,b') == joint_list(' a, b ') == joint_list('[a, b]') == joint_list('["a", "b"]') == ['a', 'b']
    assert joint_list('') == joint_list('[]') == []
    with pytest.raises(ValueError, match="empty name; give 'joint1,joint2'"):
        joint_list('a,,b')


def test_defaults_leave_the_params_file_in_charge():
    assert {'base_output', 'joint_output', 'controller_joints'} <= set(SUITE_ARGUMENTS)
    params = _safety({}).parameters
    assert not {'base_output', 'joint_output', 'controller_joints'} & set(params)


def test_adapter_arguments_become_vla_safety_parameters():
    spec = _safety({'base_output': 'twist_stamped', 'joint_output': 'float64_multi_array',
                    'controller_joints': 'joint1,yes'})
    assert spec.parameters['base_output'] == 'twist_stamped'
    assert spec.parameters['joint_output'] == 'float64_multi_array'
    assert spec.parameters['controller_joints'] == ['joint1', 'yes']
    argv = ros_args(spec)
    # a YAML flow list of quoted strings: a joint named "yes" stays a string for rcl's parser
    assert argv[argv.index('controller_joints:=["joint1", "yes"]') - 1] == '-p'
