"""Which reliability the node's input subscriptions ask for, given what the publishers offer.

A reliable subscription never matches a best-effort publisher (the QoS are incompatible, nothing is
delivered), while a best-effort subscription to a reliable publisher turns the link best effort:
with Fast DDS's default 512 KiB shared-memory segment that link loses nearly every frame larger
than the segment (a 640x480 rgb8 frame is 921,600 bytes; BENCHMARKS.md, bench/qos_delivery.py).
``auto`` therefore follows the publishers, as rosbag2 does: reliable while every publisher on the
topic is reliable, best effort once any of them is best effort (so that it still matches).
"""

from __future__ import annotations

from collections.abc import Iterable

from rclpy.qos import ReliabilityPolicy

FIXED = {"sensor_data": ReliabilityPolicy.BEST_EFFORT, "reliable": ReliabilityPolicy.RELIABLE}


def reliability_for(choice: str, offered: Iterable[ReliabilityPolicy]) -> ReliabilityPolicy:
    """The subscription reliability for the ``qos`` parameter ``choice`` and the publishers' offers."""
    if choice in FIXED:
        return FIXED[choice]
    if any(policy == ReliabilityPolicy.BEST_EFFORT for policy in offered):
        return ReliabilityPolicy.BEST_EFFORT
    return ReliabilityPolicy.RELIABLE  # also before any publisher is seen: the common camera driver
