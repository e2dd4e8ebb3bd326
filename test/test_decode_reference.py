"""Decoders checked against bytes laid out by hand with numpy, never by the project's own encoders.

``fill_image`` / ``fill_raw_audio`` and the decoders are each other's inverse, so a round trip
cannot see a channel order or byte order that both get wrong in the same way. Here the message
bytes come from the ROS encoding definitions (sensor_msgs/image_encodings: bgr8 = B,G,R bytes per
pixel; audio big-endian int16 = numpy '>i2'), and the encoders are checked against the same bytes.
"""

from __future__ import annotations

import numpy as np
import pytest
from sensor_msgs.msg import Image
from skimage import data

from avemotion_core.stream import messages as C


@pytest.fixture(scope="module")
def rgb() -> np.ndarray:
    """A real photograph whose three channels differ everywhere it matters (a swap shows)."""
    img = np.ascontiguousarray(data.astronaut()[::16, ::16])  # 32x32
    assert np.abs(img[..., 0].astype(int) - img[..., 2].astype(int)).mean() > 20
    return img


def by_hand(rgb: np.ndarray, encoding: str) -> np.ndarray:
    """Pixel bytes of ``encoding`` per the ROS definition, one row per image row."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    alpha = np.full_like(r, 200)
    planes = {"rgb8": (r, g, b), "bgr8": (b, g, r), "8UC3": (b, g, r), "rgba8": (r, g, b, alpha),
              "bgra8": (b, g, r, alpha)}[encoding]
    return np.stack(planes, axis=-1).reshape(rgb.shape[0], -1)


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "8UC3", "rgba8", "bgra8"])
@pytest.mark.parametrize("pad", [0, 5])
def test_hand_built_colour_messages_decode_to_rgb(rgb, encoding, pad):
    rows = by_hand(rgb, encoding)
    padded = np.concatenate([rows, np.full((rows.shape[0], pad), 77, np.uint8)], axis=1)
    msg = Image(height=rgb.shape[0], width=rgb.shape[1], encoding=encoding, step=padded.shape[1],
                data=padded.tobytes())
    np.testing.assert_array_equal(C.image_to_rgb(msg), rgb)


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "8UC3", "bgra8"])
def test_fill_image_writes_the_ros_byte_order(rgb, encoding):
    msg = C.fill_image(Image(), rgb, encoding, pad=3)
    rows = np.frombuffer(bytes(msg.data), np.uint8).reshape(rgb.shape[0], msg.step)[:, :-3]
    expected = by_hand(rgb, encoding)
    if encoding == "bgra8":  # fill_image writes an opaque alpha
        expected = expected.reshape(*rgb.shape[:2], 4).copy()
        expected[..., 3] = 255
        expected = expected.reshape(rgb.shape[0], -1)
    np.testing.assert_array_equal(rows, expected)
    assert (msg.encoding, msg.height, msg.width, msg.is_bigendian) == (encoding, 32, 32, 0)


def test_a_pure_red_bgr8_pixel_is_red():
    msg = Image(height=1, width=2, encoding="bgr8", step=6, data=bytes([0, 0, 255, 255, 0, 0]))
    np.testing.assert_array_equal(C.image_to_rgb(msg), [[[255, 0, 0], [0, 0, 255]]])


class RawChunk:
    """The raw flavour's ``AudioData`` shape: one ``uint8[] data`` field."""

    def __init__(self, data: bytes = b""):
        self.data = data


class RawStamped:
    def __init__(self):
        self.audio = RawChunk()


PCM = {"int16": (32768.0, "i2"), "int32": (2147483648.0, "i4"), "float32": (1.0, "f4")}


@pytest.mark.parametrize("fmt", sorted(PCM))
@pytest.mark.parametrize("big", [False, True])
def test_raw_audio_decodes_hand_built_bytes(fmt, big):
    scale, code = PCM[fmt]
    if fmt == "float32":
        values = np.array([0.0, 0.5, -0.25, 0.999, -1.0], np.float32)
    else:
        full = int(scale)
        values = np.array([0, 1, -1, 258, -full // 3, full - 1, -full], np.int64)
    raw = values.astype(("<" if not big else ">") + code).tobytes()
    y, rate = C.raw_audio_to_mono(RawChunk(raw), C.RawAudioFormat(fmt, 16000, 1, big))
    assert rate == 16000 and y.dtype == np.float32
    np.testing.assert_allclose(y, values / scale, rtol=1e-6, atol=1e-9)


def test_raw_big_endian_stereo_is_averaged():
    pcm = np.array([[1000, 3000], [-2000, 2000], [256, 0]], ">i2")  # interleaved L, R
    y, _ = C.raw_audio_to_mono(RawChunk(pcm.tobytes()), C.RawAudioFormat("int16", 16000, 2, True))
    np.testing.assert_allclose(y, [2000 / 32768, 0.0, 128 / 32768])


@pytest.mark.parametrize("big", [False, True])
def test_fill_raw_audio_writes_the_declared_byte_order(big):
    x = np.array([0.0, 0.5, -0.5, 2.0 ** -15, -1.0], np.float32)
    msg = C.fill_raw_audio(RawStamped(), x, C.RawAudioFormat("int16", 16000, 1, big))
    expected = np.array([0, 16384, -16384, 1, -32768], ">i2" if big else "<i2").tobytes()
    assert bytes(msg.audio.data) == expected


# ------------------------------------------------- edges found by the mutation run (TESTING.md)
class Stamp:
    def __init__(self, sec: int, nanosec: int):
        self.stamp = type("Time", (), {"sec": sec, "nanosec": nanosec})()


def test_stamp_nanoseconds_must_be_below_one_second():
    assert C.stamp_seconds(Stamp(7, 999_999_999)) == pytest.approx(7.999999999)
    with pytest.raises(C.BadStamp):
        C.stamp_seconds(Stamp(7, 1_000_000_000))
    assert C.seconds_to_stamp(5.25) == (5, 250_000_000)
    assert C.seconds_to_stamp(12.000000001) == (12, 1)


@pytest.mark.parametrize(("h", "w"), [(0, 4), (4, 0)])
def test_an_image_with_one_zero_side_is_empty(h, w):
    msg = Image(height=h, width=w, encoding="rgb8", step=w * 3, data=bytes(12))
    with pytest.raises(C.EmptyMessage):
        C.image_to_rgb(msg)


def test_image_side_limit_is_inclusive():
    side = C.MAX_IMAGE_SIDE
    column = np.arange(side * 3, dtype=np.uint64).astype(np.uint8).reshape(side, 1, 3)
    msg = Image(height=side, width=1, encoding="rgb8", step=3, data=column.tobytes())
    np.testing.assert_array_equal(C.image_to_rgb(msg), column)
    for h, w in ((side + 1, 1), (1, side + 1)):
        with pytest.raises(C.MessageTooLarge):
            C.image_to_rgb(Image(height=h, width=w, encoding="mono8", step=w, data=bytes(h * w)))


class AudioFields:
    """A modern ``Audio`` message's fields, the typed arrays given as numpy arrays."""

    def __init__(self, **arrays):
        self.info = type("Info", (), {"format": 8, "rate": 16000, "channels": 1})()
        names = ("float32", "int32", "int16", "int8", "uint8")
        self.audio_data = type("Data", (), {f"{n}_data": arrays.get(n, []) for n in names})()


def test_modern_audio_from_numpy_arrays():
    pcm = np.array([0, 16384, -16384, -32768, 32767], np.int16)
    y, rate = C.audio_to_mono(AudioFields(int16=pcm))
    assert rate == 16000
    np.testing.assert_allclose(y, pcm / 32768.0)


def cv2_bytes(ext: str, w: int, h: int, *params: int) -> bytes:
    import cv2

    img = np.ascontiguousarray(data.astronaut()[:h, :w, ::-1])
    ok, buf = cv2.imencode(ext, img, list(params))
    assert ok
    return buf.tobytes()


def test_compressed_sizes_from_real_headers():
    import cv2

    webp = cv2_bytes(".webp", 300, 260, cv2.IMWRITE_WEBP_QUALITY, 80)  # lossy: a "VP8 " chunk
    assert webp[12:16] == b"VP8 "
    assert C.compressed_size(webp) == ("webp", 300, 260)
    assert C.compressed_size(webp[:30]) == ("webp", 300, 260)  # the header alone is enough
    jpeg = cv2_bytes(".jpg", 300, 260)
    assert C.compressed_size(jpeg) == ("jpeg", 300, 260)
    # fill bytes and a standalone marker (TEM) before the next segment are legal and skipped
    assert C.compressed_size(jpeg[:2] + b"\xff\xff\xff\x01" + jpeg[2:]) == ("jpeg", 300, 260)
    with pytest.raises(C.DecodeError):
        C.compressed_size(b"\xff\xd8\xff\xff")  # ends in fill bytes: no frame header
    png = cv2_bytes(".png", 1, 2)  # one pixel wide is a real image
    out = C.compressed_to_rgb(type("Msg", (), {"data": png, "format": "png"})())
    assert out.shape == (2, 1, 3)


def test_stamps_of_the_first_second_and_values():
    assert C.stamp_seconds(Stamp(0, 5)) == pytest.approx(5e-9)  # sec 0 is valid once nanosec is set
    assert C.stamp_seconds(Stamp(3, 250_000_000)) == 3.25


def test_image_with_sides_but_no_bytes_is_empty_and_list_data_decodes(rgb):
    with pytest.raises(C.EmptyMessage):
        C.image_to_rgb(Image(height=4, width=4, encoding="rgb8", step=12, data=b""))
    msg = type("Msg", (), dict(height=32, width=32, encoding="rgb8", step=96,
                               data=list(rgb.tobytes())))()  # a plain list of ints
    np.testing.assert_array_equal(C.image_to_rgb(msg), rgb)


def test_mono16_gives_three_channels():
    raw = np.array([[0x1234, 0xFF00]], "<u2").tobytes()
    out = C.image_to_rgb(Image(height=1, width=2, encoding="mono16", step=4, data=raw))
    np.testing.assert_array_equal(out, [[[0x12] * 3, [0xFF] * 3]])


def test_frame_from_msg_shrinks_only_larger_frames(rgb):
    msg = C.fill_image(Image(), rgb, "rgb8")
    msg.header.stamp.sec, msg.header.stamp.nanosec = 9, 500
    stamp, same = C.frame_from_msg(msg, False, 32)
    assert stamp == pytest.approx(9.0000005)
    np.testing.assert_array_equal(same, rgb)  # already at the limit: untouched
    import cv2

    _, small = C.frame_from_msg(msg, False, 16)
    np.testing.assert_array_equal(small, cv2.resize(rgb, (16, 16), interpolation=cv2.INTER_AREA))
    wide = C.fill_image(Image(), np.ascontiguousarray(np.concatenate([rgb, rgb], axis=1)), "rgb8")
    wide.header.stamp.sec = 1
    assert C.frame_from_msg(wide, False, 16)[1].shape == (8, 16, 3)  # aspect ratio kept


def test_audio_from_msg_stamps_unstamped_chunks_by_arrival():
    pcm = np.zeros(1600, "<i2")
    msg = RawStamped()
    msg.audio.data = pcm.tobytes()
    fmt = C.RawAudioFormat("int16", 16000, 1)
    stamp, samples, rate = C.audio_from_msg(msg, fmt, arrival=100.0)
    assert stamp == pytest.approx(99.9) and rate == 16000 and len(samples) == 1600  # ended on arrival
    msg.header = Stamp(50, 0)
    assert C.audio_from_msg(msg, fmt)[0] == 50.0  # stamped: the header's first-sample time


def test_raw_audio_rate_limit_is_inclusive():
    assert C.RawAudioFormat("int16", C.MAX_AUDIO_RATE, 1).rate == C.MAX_AUDIO_RATE
    with pytest.raises(ValueError, match="rate"):
        C.RawAudioFormat("int16", C.MAX_AUDIO_RATE + 1, 1)
    with pytest.raises(ValueError, match="rate"):
        C.RawAudioFormat("int16", 0, 1)


# Limits below are written as numbers, not as C.MAX_*: a test that reads the constant moves with it.
def test_raw_image_limits_8192_a_side_and_64_mib():
    side = 8192
    full = Image(height=side, width=side, encoding="mono8", step=side, data=bytes(64 << 20))
    full.header.stamp.sec = 4
    assert C.frame_stamp(full, compressed=False) == 4.0  # both sides and the byte count at the limit
    full.step, full.data = side + 1, bytes(side * (side + 1))  # one byte of padding per row: over
    with pytest.raises(C.MessageTooLarge):
        C.frame_stamp(full, compressed=False)
    for h, w in ((8193, 1), (1, 8193)):
        with pytest.raises(C.MessageTooLarge):
            C.image_to_rgb(Image(height=h, width=w, encoding="mono8", step=w, data=bytes(h * w)))


@pytest.mark.parametrize(("encoding", "step", "bpp"), [("rgb8", 11, 3), ("mono16", 7, 2), ("16UC1", 7, 2)])
def test_a_step_shorter_than_a_row_is_a_size_mismatch(encoding, step, bpp):
    msg = Image(height=2, width=4, encoding=encoding, step=step, data=bytes(2 * step))
    with pytest.raises(C.SizeMismatch, match=f"width 4 x {bpp} bytes per pixel"):
        C.image_to_rgb(msg)


@pytest.mark.parametrize("encoding", ["mono16", "16UC1"])
def test_16_bit_fields_without_is_bigendian_are_little_endian(encoding):
    raw = np.array([[0x1234, 0xFF00]], "<u2").tobytes()
    msg = type("Msg", (), dict(height=1, width=2, encoding=encoding, step=4, data=raw))()  # no is_bigendian
    np.testing.assert_array_equal(C.image_to_rgb(msg), [[[0x12] * 3, [0xFF] * 3]])


def test_fill_image_default_has_no_padding_and_refuses_non_rgb(rgb):
    msg = C.fill_image(Image(), rgb)
    assert msg.step == 32 * 3 and bytes(msg.data) == rgb.tobytes()
    for bad in (rgb[..., 0], rgb[..., :2], rgb.astype(np.float32), rgb.astype(np.int8)):
        with pytest.raises(ValueError, match="expected RGB uint8"):
            C.fill_image(Image(), np.ascontiguousarray(bad))


@pytest.mark.parametrize(("shape", "max_side", "out"), [((1, 64), 16, (1, 16)), ((64, 1), 16, (16, 1))])
def test_frame_from_msg_keeps_a_one_pixel_strip_one_pixel(shape, max_side, out):
    msg = C.fill_image(Image(), np.full((*shape, 3), 90, np.uint8))
    msg.header.stamp.sec = 2
    assert C.frame_from_msg(msg, False, max_side)[1].shape == (*out, 3)


@pytest.mark.parametrize(("flag", "dtype", "values", "expected"), [
    (2, np.int32, [1 << 30, -(1 << 31)], [0.5, -1.0]),  # PortAudio paInt32 = 0x02
    (16, np.int8, [64, -128], [0.5, -1.0]),  # paInt8 = 0x10
    (32, np.uint8, [192, 0, 128], [0.5, -1.0, 0.0]),  # paUInt8 = 0x20: offset binary
])
def test_modern_audio_format_flags_are_portaudio_values(flag, dtype, values, expected):
    msg = AudioFields(**{np.dtype(dtype).name: np.array(values, dtype)})
    msg.info.format = flag
    np.testing.assert_allclose(C.audio_to_mono(msg)[0], expected)


def test_modern_audio_names_the_field_that_is_filled_instead():
    msg = AudioFields(float32=np.zeros(4, np.float32))  # format says int16 (8)
    with pytest.raises(C.BadAudioFormat, match="only float32_data is filled"):
        C.audio_to_mono(msg)


def test_raw_audio_format_defaults_bounds_and_immutability():
    import dataclasses

    fmt = C.RawAudioFormat()
    assert (fmt.sample_format, fmt.rate, fmt.channels, fmt.big_endian) == ("int16", 16000, 1, False)
    with pytest.raises(dataclasses.FrozenInstanceError):
        fmt.rate = 0  # validated once: it cannot be made invalid afterwards
    assert C.RawAudioFormat("int16", 1, 64).channels == 64  # 1 Hz and 64 channels are the inclusive bounds
    for rate, channels, what in ((384_001, 1, "rate"), (16000, 65, "channels"), (16000, 0, "channels")):
        with pytest.raises(ValueError, match=what):
            C.RawAudioFormat("int16", rate, channels)


def test_raw_audio_limits_ten_seconds_and_2_pow_22_samples():
    one_khz = C.RawAudioFormat("int16", 1000, 1)
    assert C.raw_audio_to_mono(RawChunk(bytes(2 * 10_000)), one_khz)[0].size == 10_000  # 10 s exactly
    with pytest.raises(C.MessageTooLarge):
        C.raw_audio_to_mono(RawChunk(bytes(2 * 10_001)), one_khz)
    wide = C.RawAudioFormat("int16", 384_000, 8)
    assert C.raw_audio_to_mono(RawChunk(bytes(2 << 22)), wide)[0].size == (1 << 22) // 8  # at the cap
    with pytest.raises(C.SizeMismatch):  # a half sample over the cap: a size error, not "too large"
        C.raw_audio_to_mono(RawChunk(bytes((2 << 22) + 1)), wide)
    with pytest.raises(C.MessageTooLarge):
        C.raw_audio_to_mono(RawChunk(bytes((2 << 22) + 16)), wide)


@pytest.mark.parametrize(("fmt", "expected"), [
    ("float32", np.array([-1.0, 1.0, 0.25, -1.0], "<f4").tobytes()),
    ("uint8", bytes([0, 255, 160, 0])),  # 0.25 -> 128 + 32; -1 and below -> 0
])
def test_encoders_clip_to_full_scale(fmt, expected):
    x = np.array([-1.5, 1.5, 0.25, -1.0])
    assert bytes(C.fill_raw_audio(RawStamped(), x, C.RawAudioFormat(fmt)).audio.data) == expected


def test_seconds_to_stamp_from_zero_and_refusals():
    assert C.seconds_to_stamp(0.0) == (0, 0)
    assert C.seconds_to_stamp(0.5) == (0, 500_000_000)
    for bad in (-1.0, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="cannot stamp"):
            C.seconds_to_stamp(bad)
