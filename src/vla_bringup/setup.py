from glob import glob

from setuptools import find_packages, setup

package_name = 'vla_bringup'

setup(
    name=package_name,
    version='0.1.0',
    packages=find_packages(exclude=['test']),
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml']),
        ('share/' + package_name + '/config', glob('config/*.yaml') + glob('config/*.xml')),
        ('share/' + package_name + '/launch', glob('launch/*.launch.py')),
        ('share/' + package_name + '/worlds', glob('worlds/*.sdf')),
    ],
    install_requires=['setuptools'],
    zip_safe=True,
    maintainer='VLA suite maintainers',
    maintainer_email='maintainers@vla-ros2.dev',
    description='Launch files, middleware profiles and the launcher that wires the VLA suite to a robot or a simulator.',
    license='Apache-2.0',
    extras_require={'test': ['pytest']},
    entry_points={'console_scripts': [
        'vla_launch = vla_bringup.launcher:main',
        'joint_command_relay = vla_bringup.joint_command_relay:main',
        'base_command_timeout = vla_bringup.base_command_timeout:main',
    ]},
)
