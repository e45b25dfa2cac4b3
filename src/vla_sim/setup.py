from glob import glob

from setuptools import find_packages, setup

package_name = 'vla_sim'

setup(
    name=package_name,
    version='0.1.0',
    packages=find_packages(exclude=['test']),
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml']),
        ('share/' + package_name + '/config', glob('config/*.yaml')),
    ],
    install_requires=['setuptools'],
    zip_safe=True,
    maintainer='VLA suite maintainers',
    maintainer_email='maintainers@vla-ros2.dev',
    description='Embedded MuJoCo simulator of the VLA humanoid: lockstep evaluation library, tasks, '
                'a privileged scripted expert, and a Gazebo-like ROS node.',
    license='Apache-2.0',
    extras_require={'test': ['pytest']},
    entry_points={
        'console_scripts': [
            'sim_node = vla_sim.sim_node:main',
        ],
        # makes 'scripted_expert' a name vla_policy.registry.make_policy knows (it needs sim=...)
        'vla_policy.policies': [
            'scripted_expert = vla_sim.expert:ScriptedExpert',
        ],
    },
)
