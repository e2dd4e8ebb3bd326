"""A single inference thread fed through a one-slot, latest-wins mailbox.

Subscription callbacks must return quickly (a blocked executor drops camera/audio messages, which
is exactly OpenDR's failure mode), so windows are handed over here. When inference is slower than
the hop, a newer window replaces the waiting one: the output stays current instead of lagging
further behind with every window, and each replaced window is counted.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class LatestWins(Generic[T]):
    """Runs ``handle(item, submitted_at)`` on a worker thread for the newest submitted item."""

    def __init__(self, handle: Callable[[T, float], None], name: str = "inference"):
        self._handle = handle
        self._cond = threading.Condition()
        self._slot: tuple[T, float] | None = None
        self._stopping = False
        self.replaced = 0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, item: T) -> None:
        with self._cond:
            if self._slot is not None:
                self.replaced += 1
            self._slot = (item, time.monotonic())
            self._cond.notify()

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float = 5.0) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._slot is None and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                item, submitted = self._slot
                self._slot = None
            self._handle(item, submitted)
