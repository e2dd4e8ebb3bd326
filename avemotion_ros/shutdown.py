"""SIGINT / SIGTERM as one orderly shutdown request for a node's spin loop.

Why not rclpy's own handlers: they shut the context down from inside the signal while the
executor is taking a message (seen as ``RuntimeError: Unable to convert call argument`` from
``take_message``, exit 1), and the ``KeyboardInterrupt`` of a second SIGINT -- which ``ros2 launch``
sends from scripts, CI and systemd -- landed in the middle of ``destroy_node`` (traceback, exit -2).
Here a signal only records that shutdown was asked for; the spin loop polls it and cleans up once.
Further signals are then ignored at the OS level (``SIG_IGN``): a Python handler would not do,
because interpreter finalisation resets Python handlers to ``SIG_DFL`` and a late SIGINT then kills
the process (exit -2); ``SIG_IGN`` survives finalisation. A stuck clean-up still yields to SIGKILL.
"""

from __future__ import annotations

import signal
from types import FrameType

POLL_SECONDS = 0.2  # how often a spin loop looks at the request: the latency of Ctrl-C


class ShutdownRequest:
    """Installs SIGINT and SIGTERM handlers; :attr:`signal` is the first one received (or None)."""

    def __init__(self, signals: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM)):
        self.signal: signal.Signals | None = None
        self._signals = signals
        for sig in signals:
            signal.signal(sig, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.signal = signal.Signals(signum)
        for sig in self._signals:
            signal.signal(sig, signal.SIG_IGN)

    @property
    def requested(self) -> bool:
        return self.signal is not None
