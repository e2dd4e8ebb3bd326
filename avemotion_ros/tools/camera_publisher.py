"""A stand-in camera driver: ``rgb8`` Images at a fixed rate with reliable or best-effort QoS.

    python -m avemotion_ros.tools.camera_publisher --topic /camera/image_raw [--size 640x480] [--fps 30]
                                                   [--seconds 5] [--reliability reliable|best_effort]

Camera drivers differ in the QoS they offer (many publish reliable, others use
the best-effort ``sensor_data`` profile), and a large frame's delivery depends on it (BENCHMARKS.md,
``bench/qos_delivery.py``, which runs this in its own process, as a driver is). It waits for a
subscriber, publishes on a wall-clock schedule (late frames are sent at once, not skipped) and
prints ``published N late S`` (S: how late the last frame went out). Needs the ROS env.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

RELIABILITIES = ("reliable", "best_effort")


def size(text: str) -> tuple[int, int]:
    """``WxH`` -> (width, height) for argparse."""
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, got {text!r}") from None
    if not (1 <= width <= 16384 and 1 <= height <= 16384):
        raise argparse.ArgumentTypeError(f"{text}: each side must be 1..16384")
    return width, height


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--topic", required=True)
    ap.add_argument("--size", type=size, default=(640, 480))
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--reliability", choices=RELIABILITIES, default="reliable")
    ap.add_argument("--wait", type=float, default=60.0, help="max seconds to wait for a subscriber")
    args = ap.parse_args(argv)
    if not (0 < args.fps <= 1000 and 0 < args.seconds <= 86400):
        ap.error("--fps must be in (0, 1000] and --seconds in (0, 86400]")

    import numpy as np
    import rclpy
    from rclpy.duration import Duration
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image

    rclpy.init()
    node = rclpy.create_node("camera_publisher")
    reliable = args.reliability == "reliable"
    # depths as drivers use them: the default 10 for reliable, sensor_data's 5 for best effort
    qos = QoSProfile(depth=10 if reliable else 5,
                     reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT)
    pub = node.create_publisher(Image, args.topic, qos)
    width, height = args.size
    rng = np.random.default_rng(0)
    frames = []
    for _ in range(4):  # made up front: the publisher's own cost stays out of the measurement
        msg = Image(height=height, width=width, encoding="rgb8", step=3 * width)
        msg.data = rng.integers(0, 255, height * width * 3, dtype=np.uint8).tobytes()
        frames.append(msg)
    end = time.monotonic() + args.wait
    while not pub.get_subscription_count() and time.monotonic() < end:
        time.sleep(0.05)
    time.sleep(1.0)  # matching is per endpoint pair: let the reverse direction settle
    n = max(1, int(args.seconds * args.fps))
    t0 = time.monotonic()
    for i in range(n):
        delay = t0 + i / args.fps - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        msg = frames[i % len(frames)]
        now = time.time()
        msg.header.stamp.sec, msg.header.stamp.nanosec = int(now), int((now % 1) * 1e9)
        pub.publish(msg)
    late = time.monotonic() - (t0 + (n - 1) / args.fps)
    if reliable:
        pub.wait_for_all_acked(Duration(seconds=3))
    print(f"published {n} late {late:.3f}", flush=True)
    time.sleep(0.5)  # the last best-effort frames leave before the writer goes away
    node.destroy_node()
    rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
