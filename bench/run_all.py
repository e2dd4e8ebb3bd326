"""Run every CPU benchmark once with its quick settings and print their reports (``make bench``).

Each script is also runnable on its own with more repeats; BENCHMARKS.md lists the commands and
the numbers they gave. ``bench/gpu.py`` is separate: it needs a CUDA device.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RUNS = (
    ["model_forward.py", "--threads", "2", "--repeats", "3", "--batches", "1"],
    ["window_latency.py", "--threads", "1", "2", "--windows", "10"],
    ["preprocess.py"],
    ["media.py"],
)


def main() -> int:
    failed = 0
    for cmd in RUNS:
        print(f"\n=== bench/{' '.join(cmd)}", flush=True)
        failed += subprocess.run([sys.executable, str(HERE / cmd[0]), *cmd[1:]]).returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
