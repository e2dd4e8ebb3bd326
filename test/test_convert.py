"""Message -> numpy decoders on real generated message classes (rclpy and rosbags) and bad input."""

from __future__ import annotations

import array
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from ros_support import ros_env  # noqa: F401
from sensor_msgs.msg import CompressedImage, Image

from avemotion_core import messages as C

FAST = settings(max_examples=30, deadline=None)
ROOT = Path(__file__).resolve().parents[1]
rgb_images = st.tuples(st.integers(1, 9), st.integers(1, 5)).flatmap(
    lambda hw: arrays(np.uint8, (hw[0], 2 * hw[1], 3))  # even width for the YUV encodings
)


def gray(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


@FAST
@given(rgb=rgb_images, enc=st.sampled_from(["rgb8", "bgr8", "rgba8", "bgra8", "8UC3"]), pad=st.integers(0, 7))
def test_colour_encodings_round_trip_with_row_padding(rgb, enc, pad):
    msg = C.fill_image(Image(), rgb, enc, pad=pad)
    assert msg.step == rgb.shape[1] * (4 if "a" in enc else 3) + pad
    np.testing.assert_array_equal(C.image_to_rgb(msg), rgb)


@FAST
@given(rgb=rgb_images, enc=st.sampled_from(["mono8", "8UC1"]), pad=st.integers(0, 3))
def test_mono_becomes_three_equal_channels(rgb, enc, pad):
    out = C.image_to_rgb(C.fill_image(Image(), rgb, enc, pad=pad))
    np.testing.assert_array_equal(out, np.repeat(gray(rgb)[:, :, None], 3, axis=2))


@pytest.mark.parametrize("enc,code", [("yuv422", cv2.COLOR_RGB2YUV), ("uyvy", None), ("yuyv", None)])
def test_yuv422_decodes_to_the_source_colours(enc, code):
    from skimage import data

    rgb = np.ascontiguousarray(data.astronaut()[::8, ::8])  # 64x64
    # build packed 4:2:2 from full-resolution YUV: UYVY = U Y0 V Y1, YUYV = Y0 U Y1 V
    yuv = cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV).astype(np.float32)
    y = yuv[:, :, 0]
    u = yuv[:, :, 1].reshape(64, 32, 2).mean(2)
    v = yuv[:, :, 2].reshape(64, 32, 2).mean(2)
    y0, y1 = y[:, 0::2], y[:, 1::2]
    order = (u, y0, v, y1) if enc in ("yuv422", "uyvy") else (y0, u, y1, v)
    packed = np.stack(order, axis=2).round().astype(np.uint8).reshape(64, 128)
    msg = Image(height=64, width=64, encoding=enc, step=128, data=packed.tobytes())
    out = C.image_to_rgb(msg)
    assert out.shape == (64, 64, 3)
    assert np.abs(out.astype(int) - rgb.astype(int)).mean() < 12  # chroma subsampling + BT.601 rounding


@pytest.mark.parametrize("big", [False, True])
def test_mono16_keeps_the_high_byte(big):
    vals = np.array([[0, 255, 256, 65535]], np.uint16)
    raw = vals.astype(">u2" if big else "<u2").tobytes()
    msg = Image(height=1, width=4, encoding="mono16", is_bigendian=int(big), step=8, data=raw)
    np.testing.assert_array_equal(C.image_to_rgb(msg)[0, :, 0], [0, 0, 1, 255])


@pytest.mark.parametrize(
    "fields,exc",
    [
        (dict(encoding="bayer_rggb8"), C.UnsupportedEncoding),
        (dict(step=5), C.SizeMismatch),  # step < width * 3
        (dict(height=5), C.SizeMismatch),  # data shorter than step * height
        (dict(width=0, height=0, step=0, data=b""), C.EmptyMessage),
        (dict(width=9000), C.MessageTooLarge),
        (dict(encoding="yuv422", width=3, step=6), C.SizeMismatch),
    ],
)
def test_bad_images_raise_specific_errors(fields, exc):
    msg = C.fill_image(Image(), np.zeros((4, 4, 3), np.uint8), "rgb8")
    for k, v in fields.items():
        setattr(msg, k, v)
    with pytest.raises(exc) as err:
        C.image_to_rgb(msg)
    assert isinstance(err.value, C.ConversionError) and err.value.reason


def test_compressed_jpeg_and_png_and_garbage():
    from skimage import data

    rgb = np.ascontiguousarray(data.astronaut()[::4, ::4])
    for fmt, ext in (("jpeg", ".jpg"), ("png", ".png")):
        ok, buf = cv2.imencode(ext, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        out = C.compressed_to_rgb(CompressedImage(format=fmt, data=buf.tobytes()))
        assert out.shape == rgb.shape
        assert np.abs(out.astype(int) - rgb.astype(int)).mean() < (4 if fmt == "jpeg" else 1e-9)
    with pytest.raises(C.DecodeError):
        C.compressed_to_rgb(CompressedImage(format="jpeg", data=b"\xff\xd8 not a jpeg"))
    with pytest.raises(C.EmptyMessage):
        C.compressed_to_rgb(CompressedImage(format="jpeg", data=b""))


def test_rosbags_deserialised_messages_decode_the_same():
    from rosbags.typesys import Stores, get_typestore

    ts = get_typestore(Stores.ROS2_HUMBLE)
    Img = ts.types["sensor_msgs/msg/Image"]
    Header = ts.types["std_msgs/msg/Header"]
    Time = ts.types["builtin_interfaces/msg/Time"]
    rgb = np.arange(2 * 4 * 3, dtype=np.uint8).reshape(2, 4, 3)
    ros_msg = C.fill_image(Image(), rgb, "bgr8", pad=3)
    bag_msg = Img(header=Header(stamp=Time(sec=5, nanosec=500), frame_id="cam"), height=2, width=4,
                  encoding="bgr8", is_bigendian=0, step=ros_msg.step,
                  data=np.frombuffer(bytes(ros_msg.data), np.uint8))
    raw = ts.serialize_cdr(bag_msg, Img.__msgtype__)
    back = ts.deserialize_cdr(raw, Img.__msgtype__)
    np.testing.assert_array_equal(C.image_to_rgb(back), rgb)
    assert C.stamp_seconds(back.header) == pytest.approx(5.0000005)


def test_unset_stamp_is_rejected():
    with pytest.raises(C.BadStamp):
        C.stamp_seconds(Image().header)


# ------------------------------------------------------------------------- audio (modern flavour)
FORMATS = {"float32": 1e-7, "int32": 1e-7, "int16": 1 / 32768, "int8": 1 / 128, "uint8": 1 / 128}


@FAST
@given(
    x=arrays(np.float32, st.integers(1, 400), elements=st.floats(-1, 1, width=32)),
    fmt=st.sampled_from(sorted(FORMATS)),
    channels=st.sampled_from([1, 2, 6]),
    rate=st.sampled_from([16000, 44100, 48000]),
)
def test_modern_audio_round_trip_every_format(ros_env, x, fmt, channels, rate):  # noqa: F811
    from audio_common_msgs.msg import AudioStamped

    msg = C.fill_audio(AudioStamped(), x, rate, fmt, channels)
    y, sr = C.audio_to_mono(msg)
    assert sr == rate and y.dtype == np.float32 and y.shape == x.shape
    assert np.abs(y - x).max() <= FORMATS[fmt] * 1.01 + 1e-6


def test_interleaved_channels_are_averaged(ros_env):  # noqa: F811
    from audio_common_msgs.msg import AudioStamped

    msg = AudioStamped()
    msg.audio.info.format, msg.audio.info.rate, msg.audio.info.channels = 8, 16000, 2
    msg.audio.audio_data.int16_data = array.array("h", [16384, -16384, 8192, 8192])
    y, _ = C.audio_to_mono(msg)
    np.testing.assert_allclose(y, [0.0, 0.25])


@pytest.mark.parametrize(
    "setup,exc",
    [
        (lambda m: setattr(m.audio.info, "format", 4), C.BadAudioFormat),  # 24-bit flag: not in the set
        (lambda m: setattr(m.audio.info, "rate", 0), C.BadAudioFormat),
        (lambda m: setattr(m.audio.info, "channels", 3), C.SizeMismatch),  # 4 samples / 3 channels
        (lambda m: setattr(m.audio.audio_data, "int16_data", []), C.EmptyMessage),
        (lambda m: setattr(m.audio.info, "format", 1), C.BadAudioFormat),  # says float, int16 filled
        (lambda m: setattr(m.audio.audio_data, "int16_data", np.zeros(11 * 16000, np.int16)),
         C.MessageTooLarge),
    ],
)
def test_bad_modern_audio_raises_specific_errors(ros_env, setup, exc):  # noqa: F811
    from audio_common_msgs.msg import AudioStamped

    msg = C.fill_audio(AudioStamped(), np.zeros(4, np.float32), 16000, "int16")
    setup(msg)
    with pytest.raises(exc):
        C.audio_to_mono(msg)


def test_nan_and_inf_float_audio_rejected(ros_env):  # noqa: F811
    from audio_common_msgs.msg import AudioStamped

    for bad in (np.nan, np.inf):
        msg = C.fill_audio(AudioStamped(), np.zeros(8, np.float32), 16000, "float32")
        msg.audio.audio_data.float32_data = np.array([0.0, bad, 0.0], np.float32)
        with pytest.raises(C.NonFiniteAudio):
            C.audio_to_mono(msg)


# ------------------------------------------------------------------------- audio (raw flavour)
@FAST
@given(
    x=arrays(np.float32, st.integers(1, 300), elements=st.floats(-1, 1, width=32)),
    fmt=st.sampled_from(sorted(FORMATS)),
    channels=st.sampled_from([1, 2]),
    big=st.booleans(),
)
def test_raw_audio_round_trip(x, fmt, channels, big):
    raw_fmt = C.RawAudioFormat(fmt, 16000, channels, big)

    class Data:  # the raw flavour's AudioDataStamped shape; real classes are tested in test_ros_node
        data = b""

    class Stamped:
        audio = Data()

    msg = C.fill_raw_audio(Stamped(), x, raw_fmt)
    y, sr = C.raw_audio_to_mono(msg, raw_fmt)
    assert sr == 16000 and np.abs(y - x).max() <= FORMATS[fmt] * 1.01 + 1e-6


def test_raw_audio_bad_inputs():
    fmt = C.RawAudioFormat("int16", 16000, 1)

    class Data:
        def __init__(self, data):
            self.data = data

    with pytest.raises(C.SizeMismatch):
        C.raw_audio_to_mono(Data(b"\x00\x01\x02"), fmt)
    with pytest.raises(C.EmptyMessage):
        C.raw_audio_to_mono(Data(b""), fmt)
    with pytest.raises(C.NonFiniteAudio):
        C.raw_audio_to_mono(Data(np.array([np.nan], np.float32).tobytes()), C.RawAudioFormat("float32"))
    with pytest.raises(ValueError):
        C.RawAudioFormat("int24")
