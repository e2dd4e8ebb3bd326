"""Shared pieces of the ``avemotion`` CLI tests: run the real console script, one small dataset.

The dataset (3 actors x 2 emotions x 1 statement, 192x144 frames) is generated once per pytest
session under the session's base temp dir, so every CLI test module reuses the same files.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = Path(sys.executable).with_name("avemotion")
IMAGE_SIZE = "64"  # the model is size-agnostic; 64 px keeps every test fast


def run_cli(
    *args: str | os.PathLike, timeout: float = 300, env: dict | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess:
    """Run the installed ``avemotion`` console script (falls back to ``python -m``)."""
    cmd = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "avemotion_core.cli"]
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run(
        [*cmd, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
        cwd=cwd or ROOT,
    )


def assert_clean_error(proc: subprocess.CompletedProcess, code: int, *fragments: str) -> None:
    """Expected failure: the given exit code, a one-line message naming the problem, no traceback."""
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    for fragment in fragments:
        assert fragment in proc.stderr, (fragment, proc.stderr)


def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's generated RAVDESS-format dataset (created on first use)."""
    root = tmp_path_factory.getbasetemp() / "cli_dataset"
    done = root / ".complete"
    if not done.exists():
        proc = run_cli(
            "generate",
            root,
            "--actors",
            "3",
            "--emotions",
            "happy,sad",
            "--statements",
            "1",
            "--workers",
            "2",
            "--frame-size",
            "192x144",
            "--no-progress",
        )
        assert proc.returncode == 0, proc.stderr
        done.touch()
    return root
