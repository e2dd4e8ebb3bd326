"""Fixtures for the tests that need the locally built ROS interfaces (vision_msgs, audio_common_msgs).

``make test`` builds them first (``scripts/build_ros_interfaces.sh``), so in CI these tests run.
When the build is absent (a bare ``pytest`` on a fresh clone) they are skipped with a loud reason
rather than failing on an ImportError that hides the cause. Import the fixtures by name in a test
module (``from ros_support import ros_env  # noqa: F401``).
"""

from __future__ import annotations

import warnings

import pytest

from avemotion_ros.ros_env import RosEnvMissing, activate_in_process, env_file, subprocess_env

MISSING = (
    "ROS interface packages are not built ({path} missing): these ROS tests are SKIPPED. "
    "Run `make ros-interfaces` (or scripts/build_ros_interfaces.sh .venv .build); `make test` does it."
)


def _skip_loudly(path) -> None:
    reason = MISSING.format(path=path)
    warnings.warn(reason, stacklevel=2)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def ros_env() -> dict[str, str]:
    """Activate the modern flavour in this process; returns the env for child processes (with the
    ``ROS_DOMAIN_ID`` that ``conftest.py`` chose for this pytest process)."""
    try:
        activate_in_process("modern")
    except RosEnvMissing:
        _skip_loudly(env_file("modern"))
    return subprocess_env("modern")


@pytest.fixture(scope="session")
def ros_env_raw(ros_env) -> dict[str, str]:
    """Env for child processes that speak the raw audio flavour (this process stays modern)."""
    try:
        return subprocess_env("raw")
    except RosEnvMissing:
        _skip_loudly(env_file("raw"))
