from glob import glob

from setuptools import find_packages, setup

package_name = 'vla_learning'

setup(
    name=package_name,
    version='0.1.0',
    packages=find_packages(exclude=['test']),
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml', 'README.md']),
        ('share/' + package_name + '/configs', glob('configs/*.yaml')),
        ('share/' + package_name + '/configs', glob('configs/*.txt') + glob('configs/*.tsv')),
    ],
    install_requires=['setuptools'],
    zip_safe=True,
    maintainer='VLA suite maintainers',
    maintainer_email='maintainers@vla-ros2.dev',
    description='Learning pipeline of the VLA suite: demonstration collection (simulator and ROS recorder), '
                'a LeRobot v3 dataset format, MCAP import, training (DDP-ready) and lockstep evaluation.',
    license='Apache-2.0',
    extras_require={'test': ['pytest']},
    entry_points={
        'console_scripts': [
            'recorder = vla_learning.recorder_node:main',
            'vla_collect = vla_learning.collect:main',
            'vla_train = vla_learning.train:main',
            'vla_evaluate = vla_learning.evaluate:main',
            'vla_ros_evaluate = vla_learning.ros_evaluate:main',
            'vla_mcap_import = vla_learning.mcap_import:main',
        ],
    },
)
