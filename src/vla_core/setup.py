from glob import glob

from setuptools import find_packages, setup

package_name = 'vla_core'

setup(
    name=package_name,
    version='0.1.0',
    packages=find_packages(exclude=['test']),
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml']),
        ('share/' + package_name + '/config/embodiments', glob('config/embodiments/*.yaml')),
        ('share/' + package_name + '/config/vocabularies', glob('config/vocabularies/*.yaml')),
    ],
    install_requires=['setuptools'],
    zip_safe=True,
    maintainer='VLA suite maintainers',
    maintainer_email='maintainers@vla-ros2.dev',
    description='The core of the VLA suite, with neither PyTorch nor rclpy: the policy interface (Observation, '
                'PolicyOutput, Policy), embodiments (the robot action contract) and the PolicyRunner that turns '
                'action chunks into commands.',
    license='Apache-2.0',
    extras_require={'test': ['pytest']},
)
