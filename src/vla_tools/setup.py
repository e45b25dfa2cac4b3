from setuptools import find_packages, setup

package_name = 'vla_tools'

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
    description='Tools around the VLA suite: the demo, the benchmarks, and the synthetic camera and '
                'latency-floor relay for trying it out.',
    license='Apache-2.0',
    extras_require={'test': ['pytest']},
    entry_points={'console_scripts': [
        'synthetic_camera = vla_tools.synthetic_camera:main',
        'vla_benchmark = vla_tools.benchmark:main',
        'vla_demo = vla_tools.demo:main',
        'sim_benchmark = vla_tools.sim_benchmark:main',
        'vla_safety_benchmark = vla_tools.safety_benchmark:main',
    ]},
)
