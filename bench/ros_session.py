"""What the DDS benchmarks share: rclpy on a run's own ROS domain, and another revision to compare.

Needs the ROS env of ``make setup`` (``.build/ros_env.sh``).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from avemotion_ros.ros_env import activate_in_process

ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def ros_session(localhost: bool = True) -> Iterator[None]:
    """rclpy initialised in this process, on a ROS domain of this run's own (two runs on one host
    must not hear each other); ``localhost`` keeps discovery on this machine (child processes inherit
    both settings)."""
    activate_in_process("modern")
    os.environ.setdefault("ROS_DOMAIN_ID", str(1 + os.getpid() % 100))
    if localhost:
        os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    import rclpy

    rclpy.init()
    try:
        yield
    finally:
        rclpy.try_shutdown()


@contextmanager
def checkout(rev: str | None) -> Iterator[Path | None]:
    """A detached git worktree of ``rev`` for a before/after run (None: no revision, no worktree)."""
    if rev is None:
        yield None
        return
    tree = Path(tempfile.mkdtemp(prefix="avemotion_before_"))
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), rev],
                   check=True, capture_output=True)
    try:
        yield tree
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)],
                       capture_output=True)
