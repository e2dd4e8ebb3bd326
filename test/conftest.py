"""Suite-wide setup for ``make test``'s two pytest-xdist workers (CI has two cores).

- One ROS 2 domain per worker, so DDS tests that run at once never meet: each worker takes its own
  ``ROS_DOMAIN_ID`` for the run, before any test, node or child process starts DDS; discovery
  stays on this host. (A plain ``pytest`` takes one from its process id, unless one is set.)
- One intra-op thread per worker (``OMP_NUM_THREADS``, read when torch is first imported, which
  the test modules do after this): two workers of two threads each on two cores spin-wait on each
  other, which made ``fit`` tests 3x slower than running alone.
"""

from __future__ import annotations

import os
import zlib

import pytest


def pytest_configure(config: pytest.Config) -> None:
    worker = getattr(config, "workerinput", {}).get("workerid")  # "gw0", "gw1", ... in a worker
    if worker is None and getattr(config.option, "numprocesses", None):
        return  # the xdist controller: it runs no test, and its env must not pin the workers' domain
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    if worker is None:
        os.environ.setdefault("ROS_DOMAIN_ID", str(1 + os.getpid() % 100))
        return
    # 1..100: the workers of one run get neighbouring domains, another run most likely others
    run = zlib.crc32(os.environ.get("PYTEST_XDIST_TESTRUNUID", "").encode())
    os.environ["ROS_DOMAIN_ID"] = str(1 + (run % 25) * 4 + int(worker.removeprefix("gw")) % 4)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
