from glob import glob

from setuptools import find_packages, setup

package_name = 'vla_policy'

setup(
    name=package_name,
    version='0.1.0',
    packages=find_packages(exclude=['test']),
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml']),
        ('share/' + package_name + '/checkpoints/default', glob('checkpoints/default/*')),
    ],
    install_requires=['setuptools'],
    zip_safe=True,
    maintainer='VLA suite maintainers',
    maintainer_email='maintainers@vla-ros2.dev',
    description='VLA policies: the policy interface, embodiments, a registry, and PyTorch policies. Plain Python, importable without ROS.',
    license='Apache-2.0',
    extras_require={'test': ['pytest']},
    entry_points={'console_scripts': [
        'vla-serve = vla_policy.remote.server:main',
    ]},
)
