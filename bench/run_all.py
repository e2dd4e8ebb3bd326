"""Run every CPU benchmark once with its quick settings and print their reports (``make bench``).

Each script is also runnable on its own with more repeats; BENCHMARKS.md lists the commands and
the numbers they gave (the soak runs 60 s here, 10 minutes there). ``bench/gpu.py`` is separate:
it needs a CUDA device.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RUNS = (
    ["model_forward.py", "--threads", "2", "--repeats", "3", "--batches", "1"],
    ["encoder_runtime.py", "--rounds", "1"],
    ["window_latency.py", "--threads", "1", "2", "--windows", "10"],
    ["node_cpu.py", "--seconds", "20", "--sizes", "64", "224", "--floor"],  # the real node over DDS
    ["preprocess.py"],
    ["media.py"],
    ["train_throughput.py", "--sizes", "64", "--fusions", "ia"],
    # the real node over DDS (needs make ros-interfaces)
    ["-m", "avemotion_ros.tools.soak", "--seconds", "60"],
)


def main() -> int:
    failed = 0
    for cmd in RUNS:
        args = cmd if cmd[0] == "-m" else [str(HERE / cmd[0]), *cmd[1:]]
        print(f"\n=== {' '.join(args)}", flush=True)
        failed += subprocess.run([sys.executable, *args], cwd=HERE.parent).returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
