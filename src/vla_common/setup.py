from setuptools import find_packages, setup

package_name = 'vla_common'

setup(
    name=package_name,
    version='0.1.0',
    packages=find_packages(exclude=['test']),
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml']),
    ],
    install_requires=['setuptools'],
    zip_safe=True,
    maintainer='VLA suite maintainers',
    maintainer_email='maintainers@vla-ros2.dev',
    description='ROS 2 helpers shared by the VLA nodes: typed parameters, diagnostics, QoS, rolling statistics, image conversion.',
    license='Apache-2.0',
    extras_require={'test': ['pytest']},
)
