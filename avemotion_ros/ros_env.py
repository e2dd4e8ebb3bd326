"""Find and apply the environment of the locally built ROS interface packages.

``scripts/build_ros_interfaces.sh`` builds vision_msgs and audio_common_msgs (not on PyPI) into
``.build/ros/`` and writes ``.build/ros_env.sh`` (modern audio flavour) and
``.build/ros_env_raw.sh`` (raw uint8 flavour). Processes started from a shell can ``source``
those; this module gives Python callers (tests, the demo) the same environment without a shell
wrapper. No ROS import here: it must work before the ROS paths are known.
"""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
from pathlib import Path

FLAVOURS = ("modern", "raw")
ENV_VARS = ("PYTHONPATH", "LD_LIBRARY_PATH", "AMENT_PREFIX_PATH", "AVEMOTION_AUDIO_FLAVOUR")
REPO_ROOT = Path(__file__).resolve().parents[1]


class RosEnvMissing(RuntimeError):
    """The interface build has not been run (or was run for another checkout)."""


def build_dir() -> Path:
    """Where the interface build lives: ``$AVEMOTION_BUILD_DIR`` or ``<repo>/.build``."""
    return Path(os.environ.get("AVEMOTION_BUILD_DIR", REPO_ROOT / ".build"))


def env_file(flavour: str = "modern") -> Path:
    """Path of the env script for an audio flavour (``modern`` or ``raw``)."""
    if flavour not in FLAVOURS:
        raise ValueError(f"unknown audio flavour {flavour!r}; expected one of {FLAVOURS}")
    return build_dir() / ("ros_env.sh" if flavour == "modern" else "ros_env_raw.sh")


def read_env(flavour: str = "modern", base: dict[str, str] | None = None) -> dict[str, str]:
    """Values of the ROS variables after sourcing the env script on top of ``base``.

    Sourcing through bash (rather than parsing) keeps the file the single definition of the
    environment, whatever shell syntax the build script writes.
    """
    path = env_file(flavour)
    if not path.is_file():
        raise RosEnvMissing(
            f"{path} is missing: build the ROS interfaces first "
            f"(make ros-interfaces, or scripts/build_ros_interfaces.sh .venv .build)"
        )
    base_env = dict(os.environ if base is None else base)
    script = f'. "{path}" && ' + " && ".join(f'printf "%s\\0" "${{{v}:-}}"' for v in ENV_VARS)
    out = subprocess.run(["bash", "-c", script], env=base_env, capture_output=True, check=True).stdout
    values = out.decode().split("\0")[: len(ENV_VARS)]
    return dict(zip(ENV_VARS, values, strict=True))


def subprocess_env(flavour: str = "modern", base: dict[str, str] | None = None) -> dict[str, str]:
    """A complete environment for a child process that uses the built interfaces."""
    env = dict(os.environ if base is None else base)
    env.update(read_env(flavour, env))
    return env


def activate_in_process(flavour: str = "modern") -> None:
    """Make the built messages importable and usable by rclpy in *this* interpreter.

    The dynamic loader reads LD_LIBRARY_PATH only at start-up, and rmw loads each message's
    ``*_typesupport_fastrtps_c`` library by bare name; loading those libraries by absolute path
    first lets that lookup find them already in memory.
    """
    values = read_env(flavour)
    for entry in reversed([p for p in values["PYTHONPATH"].split(os.pathsep) if p]):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    os.environ.update(values)
    prefixes = [Path(p) for p in values["AMENT_PREFIX_PATH"].split(os.pathsep) if p]
    for prefix in prefixes:
        if not (prefix / ".avemotion_hash").is_file():
            continue  # a prefix of the wheels themselves: already on the loader's path
        for lib in sorted((prefix / "lib").glob("lib*.so")):
            ctypes.CDLL(str(lib))
