"""The node's latest-wins inference mailbox, with real threads."""

from __future__ import annotations

import threading
import time

from avemotion_ros.worker import LatestWins


def test_slow_handler_sees_the_newest_item_and_replacements_are_counted():
    handled: list[int] = []
    first_started = threading.Event()
    release = threading.Event()

    def handle(item: int, submitted: float) -> None:
        assert submitted <= time.monotonic()
        first_started.set()
        release.wait(5)
        handled.append(item)

    worker = LatestWins(handle)
    worker.submit(0)
    assert first_started.wait(5)
    for i in range(1, 10):  # arrive while item 0 is being processed: only the newest survives
        worker.submit(i)
    release.set()
    deadline = time.monotonic() + 5
    while len(handled) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    worker.stop()
    assert handled == [0, 9]
    assert worker.replaced == 8


def test_stop_ends_an_idle_worker():
    worker = LatestWins(lambda item, t: None)
    worker.stop(timeout=2)
    assert not worker.is_alive()
