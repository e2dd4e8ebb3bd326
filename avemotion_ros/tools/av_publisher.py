"""Publish frames + audio as a live camera and microphone would: stamped, in real time, over DDS.

Used by the demo, the integration tests and, from the command line, as a stand-in sensor rig:

    python -m avemotion_ros.tools.av_publisher --seconds 8 [--flavour raw] [--fps 30] [--rate 16000]

(face images from scikit-image, speech from espeak-ng; needs the ROS env of ``.build/ros_env*.sh``).
"""

from __future__ import annotations

import argparse
import io
import subprocess
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import soundfile as sf
from sensor_msgs.msg import Image

from avemotion_core.stream import messages as convert


class AVPublisher:
    """Camera (``sensor_msgs/Image``) + microphone (either audio_common_msgs flavour) publishers."""

    def __init__(self, node: Any, image_topic: str = "/camera/image_raw", audio_topic: str = "/audio",
                 flavour: str = "modern", raw_format: convert.RawAudioFormat | None = None,
                 sample_format: str = "int16", encoding: str = "rgb8"):
        if flavour == "modern":
            from audio_common_msgs.msg import AudioStamped as audio_cls
        else:
            from audio_common_msgs.msg import AudioDataStamped as audio_cls
        self.node = node
        self.flavour = flavour
        self.raw_format = raw_format or convert.RawAudioFormat()
        self.sample_format = sample_format
        self.encoding = encoding
        self.audio_cls = audio_cls
        self.image_pub = node.create_publisher(Image, image_topic, 30)
        self.audio_pub = node.create_publisher(audio_cls, audio_topic, 30)

    def wait_for_subscribers(self, timeout: float) -> bool:
        """Block until both topics have a matched subscriber (else the first seconds are lost)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.image_pub.get_subscription_count() and self.audio_pub.get_subscription_count():
                time.sleep(0.3)  # matching is per endpoint pair; let the reverse direction settle
                return True
            time.sleep(0.05)
        return False

    def publish_frame(self, stamp: float, rgb: np.ndarray) -> None:
        msg = convert.fill_image(Image(), rgb, self.encoding)
        msg.header.stamp.sec, msg.header.stamp.nanosec = convert.seconds_to_stamp(stamp)
        msg.header.frame_id = "camera"
        self.image_pub.publish(msg)

    def publish_audio(self, stamp: float, samples: np.ndarray, rate: int) -> None:
        """One chunk whose first sample was recorded at ``stamp`` (raw flavour: at raw_format.rate)."""
        msg = self.audio_cls()
        if self.flavour == "modern":
            convert.fill_audio(msg, samples, rate, self.sample_format)
        else:
            convert.fill_raw_audio(msg, samples, self.raw_format)
        msg.header.stamp.sec, msg.header.stamp.nanosec = convert.seconds_to_stamp(stamp)
        self.audio_pub.publish(msg)

    def play(self, frames: Sequence[np.ndarray], fps: float, audio: np.ndarray | None, rate: int,
             t0: float | None = None, chunk_seconds: float = 0.1, video_until: float | None = None,
             realtime: bool = True) -> float:
        """Stream ``frames`` (looped to the audio length) and ``audio``; returns the start stamp t0.

        ``video_until`` stops the camera early (seconds after t0) while audio goes on.
        """
        duration = len(audio) / rate if audio is not None else len(frames) / fps
        t0 = time.time() if t0 is None else t0
        # (send time, stamp offset, kind, payload): a frame goes out when it is captured, an audio
        # chunk once all its samples are recorded. Sorting by send time keeps the messages spaced as
        # a live rig spaces them; sorting by stamp would hold frames back behind the chunk that
        # starts before them and then send them in a burst, which loses samples in DDS.
        events: list[tuple[float, float, int, Any]] = []
        for i in range(int(duration * fps)):
            if video_until is None or i / fps < video_until:
                events.append((i / fps, i / fps, 0, frames[i % len(frames)]))
        if audio is not None:
            step = max(1, int(round(chunk_seconds * rate)))
            for start in range(0, len(audio) - step + 1, step):
                events.append(((start + step) / rate, start / rate, 1, audio[start : start + step]))
        events.sort(key=lambda e: (e[0], e[2]))
        wall0 = time.monotonic()
        for send_at, offset, kind, payload in events:
            if realtime:
                delay = wall0 + send_at - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            if kind == 0:
                self.publish_frame(t0 + offset, payload)
            else:
                self.publish_audio(t0 + offset, payload, rate)
        return t0


def espeak(text: str, rate: int, voice: str = "en", pitch: int = 50, speed: int = 160) -> np.ndarray:
    """Speech from espeak-ng, resampled by sox, as float32 mono at ``rate`` Hz."""
    try:
        wav = subprocess.run(["espeak-ng", "-v", voice, "-p", str(pitch), "-s", str(speed), "--stdout", text],
                             check=True, capture_output=True, timeout=30).stdout
        to_float = ["sox", "-D", "-t", "wav", "-", "-t", "wav", "-e", "floating-point", "-b", "32", "-"]
        wav = subprocess.run([*to_float, "rate", str(rate)], input=wav, check=True, capture_output=True,
                             timeout=30).stdout
    except FileNotFoundError as exc:
        raise RuntimeError("espeak-ng and sox are needed (apt-get install espeak-ng sox)") from exc
    x, sr = sf.read(io.BytesIO(wav), dtype="float32")
    if sr != rate:
        raise RuntimeError(f"sox returned {sr} Hz instead of {rate}")
    return x


def speech_track(seconds: float, rate: int) -> np.ndarray:
    """``seconds`` of repeated spoken sentences with short pauses (a talking person)."""
    sentences = ["Kids are talking by the door.", "Dogs are sitting by the door."]
    out = np.zeros(int(seconds * rate), np.float32)
    pos, k = int(0.2 * rate), 0
    while pos < len(out):
        s = espeak(sentences[k % 2], rate, pitch=40 + 10 * (k % 3))
        n = min(len(s), len(out) - pos)
        out[pos : pos + n] = s[:n]
        pos += n + int(0.4 * rate)
        k += 1
    return out


def face_frames(n: int = 30, size: int = 256) -> list[np.ndarray]:
    """A face that moves a little (scikit-image's astronaut), ``n`` RGB frames of size x size."""
    import cv2
    from skimage import data

    img = cv2.resize(data.astronaut(), (size, size), interpolation=cv2.INTER_AREA)
    frames = []
    for i in range(n):
        shift = np.float32([[1, 0, 4 * np.sin(2 * np.pi * i / n)], [0, 1, 2 * np.cos(2 * np.pi * i / n)]])
        frames.append(cv2.warpAffine(img, shift, (size, size), borderMode=cv2.BORDER_REFLECT))
    return frames


def main(argv: Sequence[str] | None = None) -> int:
    import rclpy
    from rclpy.duration import Duration

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--rate", type=int, default=16000)
    ap.add_argument("--flavour", choices=("modern", "raw"), default="modern")
    ap.add_argument("--sample-format", default="int16")
    ap.add_argument("--image-topic", default="/camera/image_raw")
    ap.add_argument("--audio-topic", default="/audio")
    ap.add_argument("--wait", type=float, default=30.0, help="max seconds to wait for subscribers to match")
    args = ap.parse_args(argv)
    raw = convert.RawAudioFormat(args.sample_format, args.rate, 1)
    audio = speech_track(args.seconds, args.rate)
    frames = face_frames()
    rclpy.init()
    node = rclpy.create_node("av_publisher")
    pub = AVPublisher(node, args.image_topic, args.audio_topic, args.flavour, raw, args.sample_format)
    if not pub.wait_for_subscribers(args.wait):
        print(f"warning: no subscriber on both topics after {args.wait} s; publishing anyway", flush=True)
    t0 = pub.play(frames, args.fps, audio, args.rate)
    print(f"published {args.seconds} s from t0={t0:.6f}", flush=True)
    for p in (pub.image_pub, pub.audio_pub):  # deliver the tail before the writers go away
        p.wait_for_all_acked(Duration(seconds=5))
    node.destroy_node()
    rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
