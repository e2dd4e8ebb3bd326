"""One ament_python package (``avemotion_ros``) that installs both Python packages.

``pip install .`` works without ROS: the node's ROS imports are only needed when it runs.
"""
from glob import glob

from setuptools import find_packages, setup

PACKAGE = "avemotion_ros"

with open("requirements.txt") as f:
    REQUIRES = [line.strip() for line in f if line.strip() and not line.startswith("#")]

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(
        include=["avemotion_core", "avemotion_core.*", "avemotion_ros", "avemotion_ros.*"]
    ),
    package_data={"avemotion_core": ["assets/*", "assets/**/*"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml") + glob("config/*.xml")),
    ],
    install_requires=REQUIRES,
    extras_require={"ros": []},  # rclpy & messages come from ROS (apt) or the ros-kilted-* wheels
    zip_safe=True,
    maintainer="avemotion maintainers",
    maintainer_email="maintainers@avemotion.dev",
    description="Audiovisual emotion recognition for robots (core library + ROS 2 node)",
    license="Apache-2.0",
    python_requires=">=3.10",
    tests_require=["pytest"],
    entry_points={
        "console_scripts": [
            "emotion_node = avemotion_ros.emotion_node:main",
            "avemotion = avemotion_core.cli:main",
        ],
    },
)
