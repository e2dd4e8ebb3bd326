"""Suite-wide setup for ``make test``'s two pytest-xdist workers (CI has two cores).

- One ROS 2 domain per pytest process, so DDS tests that run at once never meet: each worker takes
  its own ``ROS_DOMAIN_ID`` for the run, before any test, node or child process starts DDS;
  discovery stays on this host.
- One intra-op thread per worker (``OMP_NUM_THREADS``, read when torch is first imported): two
  workers of two threads each on two cores spin-wait on each other, which made ``fit`` tests 3x
  slower than running alone.
"""

from __future__ import annotations

import os
import zlib


def _domain() -> int:
    """1..100: the workers of one run get neighbouring domains, another run (say a second checkout
    on the same host) most likely others."""
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID", str(os.getpid()))
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
    return 1 + (zlib.crc32(run.encode()) % 25) * 4 + worker % 4


os.environ.setdefault("ROS_DOMAIN_ID", str(_domain()))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
if "PYTEST_XDIST_WORKER" in os.environ:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
