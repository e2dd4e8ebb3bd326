"""Message -> numpy decoders on real generated message classes (rclpy and rosbags) and bad input."""

from __future__ import annotations

import array
import os
import subprocess
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from ros_support import ros_env  # noqa: F401
from sensor_msgs.msg import CompressedImage, Image

from avemotion_core.stream import messages as C

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


@pytest.mark.parametrize("enc,code", [("yuv422", cv2.COLOR_RGB2YUV), ("uyvy", None), ("yuyv", None),
                                      ("yuv422_yuy2", None)])
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


def png_bytes(width: int, height: int, idat: bytes = b"") -> bytes:
    """An 8-bit grey PNG declaring ``width`` x ``height``; its pixel data is ``idat`` (zlib stream)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")

    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def jpeg_bytes(width: int, height: int) -> bytes:
    """A real 16x8 JPEG whose frame header (SOF0) is patched to declare ``width`` x ``height``."""
    ok, buf = cv2.imencode(".jpg", np.full((8, 16, 3), 128, np.uint8))
    data = bytearray(buf.tobytes())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = height.to_bytes(2, "big") + width.to_bytes(2, "big")
    return bytes(data)


def bmp_bytes(width: int, height: int) -> bytes:
    """A 24-bit BMP header (BITMAPINFOHEADER) declaring ``width`` x ``height``, with no pixels."""
    info = (40).to_bytes(4, "little") + width.to_bytes(4, "little")
    info += height.to_bytes(4, "little", signed=True) + (1).to_bytes(2, "little") + (24).to_bytes(2, "little")
    info += bytes(24)
    return b"BM" + (54).to_bytes(4, "little") + bytes(4) + (54).to_bytes(4, "little") + info


BOMBS = {
    # over OpenCV's own 2^30-pixel limit: cv2.imdecode raised cv2.error, which killed the node (issue 14 A)
    "png_40000": png_bytes(40000, 40000),
    "jpeg_40000": jpeg_bytes(40000, 40000),
    "bmp_40000": bmp_bytes(40000, -40000),
    "pbm_40000": b"P4\n# comment\n40000 40000\n" + bytes(64),
    "hdr_40000": b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 40000 +X 40000\n" + bytes(64),
    "webp_16384": b"RIFF\x00\x00\x00\x00WEBPVP8X\x0a\x00\x00\x00" + bytes(4) + b"\xff\x3f\x00" * 2,
    # under it: decoded to gigabytes before the size was checked (issue 14 item 4)
    "jpeg_30000": jpeg_bytes(30000, 30000),
    "png_20000": png_bytes(20000, 20000),
    "png_6000_pixels": png_bytes(6000, 6000),  # sides fine, 36 Mpx over MAX_IMAGE_PIXELS
}


@pytest.mark.parametrize("name", sorted(BOMBS))
def test_compressed_bombs_are_refused_from_their_header(name):
    msg = CompressedImage(format=name.split("_")[0], data=BOMBS[name])
    msg.header.stamp.sec = 1
    with pytest.raises(C.MessageTooLarge, match="header declares"):
        C.frame_from_msg(msg, compressed=True, max_side=640)


def test_compressed_headers_give_the_decoded_size():
    rgb = np.random.default_rng(0).integers(0, 256, (37, 53, 3), np.uint8)
    grey = rgb[:, :, 0]
    cases = {".jpg": rgb, ".png": rgb, ".webp": rgb, ".bmp": rgb, ".ppm": rgb, ".pgm": grey, ".pbm": grey,
             ".pam": rgb, ".pfm": rgb.astype(np.float32) / 255, ".hdr": rgb.astype(np.float32) / 255}
    for ext, img in cases.items():
        data = cv2.imencode(ext, img)[1].tobytes()
        assert C.compressed_size(data)[1:] == (53, 37), ext
        assert C.compressed_to_rgb(CompressedImage(data=data)).shape == (37, 53, 3), ext
    lossless = cv2.imencode(".webp", rgb, [cv2.IMWRITE_WEBP_QUALITY, 101])[1].tobytes()
    progressive = cv2.imencode(".jpg", rgb, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])[1].tobytes()
    assert C.compressed_size(lossless) == ("webp", 53, 37)
    assert C.compressed_size(progressive) == ("jpeg", 53, 37)
    # a format whose size we cannot read before decoding is not decoded
    with pytest.raises(C.UnsupportedEncoding):
        C.compressed_to_rgb(CompressedImage(data=cv2.imencode(".tiff", rgb)[1].tobytes()))
    with pytest.raises(C.DecodeError):
        C.compressed_to_rgb(CompressedImage(data=png_bytes(0, 5)))


def run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    """``code`` in a fresh interpreter: its peak RSS and OpenCV's start-up settings are its own."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "OMP_NUM_THREADS": "1", **env}, cwd=ROOT)


def test_decompression_bombs_cost_no_memory(tmp_path):
    """Issue 14 item 4: a 389 KB PNG that inflates to 20000x20000 and a 631-byte JPEG declaring
    30000x30000 drove the node to 3.0 and 5.8 GB; refused from the header, they cost nothing."""
    rows = zlib.compressobj(9)
    idat = b"".join(rows.compress(b"\0" * 20001 * 1000) for _ in range(20)) + rows.flush()
    (tmp_path / "bomb.png").write_bytes(png_bytes(20000, 20000, idat))  # valid: decodes to 1.2 GB BGR
    (tmp_path / "bomb.jpg").write_bytes(jpeg_bytes(30000, 30000))
    proc = run_python(f"""
import re, types
from pathlib import Path
from avemotion_core.stream import messages as C
def peak_kb():  # VmHWM, not ru_maxrss: that one keeps the parent's peak across exec
    return int(re.search(r"VmHWM:\\s+(\\d+)", Path("/proc/self/status").read_text())[1])
before = peak_kb()
for name in ("bomb.png", "bomb.jpg"):
    msg = types.SimpleNamespace(header=types.SimpleNamespace(stamp=types.SimpleNamespace(sec=1, nanosec=0)),
                                format=name[-3:], data=Path({str(tmp_path)!r}, name).read_bytes())
    try:
        C.frame_from_msg(msg, compressed=True, max_side=640)
    except C.ConversionError as exc:
        print(name, exc.reason)
print("grew_mb", (peak_kb() - before) / 1024)
""")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.split()
    assert out[:4] == ["bomb.png", "too_large", "bomb.jpg", "too_large"], proc.stdout
    assert float(out[-1]) < 20, f"peak RSS grew by {out[-1]} MB"


def test_decoder_errors_are_conversion_errors():
    """Whatever makes ``cv2.imdecode`` raise (here OpenCV's own pixel limit, set low) is a counted drop."""
    proc = run_python("""
import cv2, numpy as np
from sensor_msgs.msg import CompressedImage
from avemotion_core.stream import messages as C
data = cv2.imencode(".png", np.zeros((40, 40, 3), np.uint8))[1].tobytes()
try:
    C.compressed_to_rgb(CompressedImage(format="png", data=data))
except C.ConversionError as exc:
    print(exc.reason)
""", OPENCV_IO_MAX_IMAGE_PIXELS="100")
    assert proc.stdout.split() == ["decode_failed"], proc.stdout + proc.stderr


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


def test_huge_audio_chunks_are_refused_before_conversion(ros_env):  # noqa: F811
    """Issue 14 item 11: one 491 MB chunk (10 s x 384 kHz x 64 channels, int16) cost 3.5 GB RSS.

    Refused by its sample count before anything is converted: tracemalloc (which sees numpy's
    buffers) records no allocation beyond the message itself.
    """
    import tracemalloc

    from audio_common_msgs.msg import AudioStamped

    class Raw:
        def __init__(self, data):
            self.data = data

    raw = Raw(np.zeros(10 * 384_000 * 64 * 2, np.uint8))  # calloc: no page touched until decoded
    modern = C.fill_audio(AudioStamped(), np.zeros(4, np.float32), 384_000, "int16", channels=64)
    modern.audio.audio_data.int16_data = array.array("h", bytes(2 * 5_000_000))  # 0.2 s, 10 MB
    tracemalloc.start()
    try:
        with pytest.raises(C.MessageTooLarge, match="samples exceeds"):
            C.raw_audio_to_mono(raw, C.RawAudioFormat("int16", 384_000, 64))
        with pytest.raises(C.MessageTooLarge, match="samples exceeds"):
            C.audio_to_mono(modern)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20, f"conversion allocated {peak / 2**20:.0f} MB"
    ok = C.fill_audio(AudioStamped(), np.zeros(48_000 * 10, np.float32), 48_000, "int16", channels=8)
    assert C.audio_to_mono(ok)[0].size == 480_000  # 10 s of 8-channel 48 kHz is within the cap


# ----------------------------------------- compressed headers built byte by byte (TESTING.md, mutation)
def jpeg_segment(marker: int, body: bytes) -> bytes:
    """One JPEG marker segment: FF, marker, big-endian length (counting itself), body."""
    return bytes([0xFF, marker]) + (len(body) + 2).to_bytes(2, "big") + body


def sof(width: int, height: int, marker: int = 0xC0) -> bytes:
    """A frame header: precision 8, height, width, one component (id 1, 1x1 sampling, table 0)."""
    sides = height.to_bytes(2, "big") + width.to_bytes(2, "big")
    return jpeg_segment(marker, bytes([8]) + sides + b"\x01\x01\x11\x00")


SOI, APP0 = b"\xff\xd8", jpeg_segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")


def test_jpeg_size_skips_whole_segments_even_with_a_thumbnail_inside():
    # an EXIF APP1 carries a thumbnail JPEG with its own frame header: it is not the image's
    thumbnail = SOI + APP0 + sof(160, 120) + bytes(300)
    assert C.compressed_size(SOI + jpeg_segment(0xE1, b"Exif\x00\x00" + thumbnail) + sof(640, 480)) == (
        "jpeg", 640, 480)


@pytest.mark.parametrize("marker", [0xC4, 0xC8, 0xCC])  # DHT, JPG, DAC sit among the SOFn codes
def test_jpeg_tables_before_the_frame_header_are_not_frame_headers(marker):
    table = jpeg_segment(marker, bytes([8]) + (111).to_bytes(2, "big") + (222).to_bytes(2, "big") + bytes(4))
    assert C.compressed_size(SOI + table + sof(640, 480, 0xC2)) == ("jpeg", 640, 480)


@pytest.mark.parametrize("gap", [b"\xff\xd0", b"\xff\xd7", b"\x00", b"\x00\x13\x37"])
def test_jpeg_restart_markers_and_stray_bytes_between_segments_are_skipped(gap):
    assert C.compressed_size(SOI + APP0 + gap + sof(640, 480)) == ("jpeg", 640, 480)


@pytest.mark.parametrize("before", [b"\xff\xd9\x00\x02", jpeg_segment(0xDA, b"\x01\x01\x00\x00\x3f\x00")])
def test_jpeg_end_or_scan_before_any_frame_header_is_an_error(before):
    with pytest.raises(C.DecodeError, match="frame header"):
        C.compressed_size(SOI + APP0 + before + sof(640, 480))


def test_jpeg_frame_header_cut_short():
    head = SOI + sof(640, 480)[:9]  # marker, length, precision, height, width: the size is all there
    assert C.compressed_size(head) == ("jpeg", 640, 480)
    with pytest.raises(C.DecodeError):
        C.compressed_size(head[:-1])


RIFF = b"RIFF\x00\x10\x00\x00WEBP"


def test_webp_vp8x_canvas_size_is_stored_minus_one_in_24_bits():
    vp8x = RIFF + b"VP8X" + (10).to_bytes(4, "little") + bytes(4) + bytes([1, 2, 3, 4, 5, 6])
    assert C.compressed_size(vp8x + b"ALPH" + bytes(8)) == ("webp", 0x030201 + 1, 0x060504 + 1)


def test_webp_vp8l_header_of_exactly_25_bytes():
    bits = (53 - 1) | ((37 - 1) << 14)  # 14-bit width-1, then 14-bit height-1
    vp8l = RIFF + b"VP8L" + (5).to_bytes(4, "little") + b"\x2f" + bits.to_bytes(4, "little")
    assert len(vp8l) == 25 and C.compressed_size(vp8l) == ("webp", 53, 37)


def test_webp_vp8_needs_its_start_code_and_whole_size_fields():
    vp8 = RIFF + b"VP8 " + (10).to_bytes(4, "little") + b"\x10\x02\x00" + b"\x9d\x01\x2a"
    vp8 += (300).to_bytes(2, "little") + (260).to_bytes(2, "little")
    assert C.compressed_size(vp8) == ("webp", 300, 260)
    for broken in (vp8[:23] + b"\x00\x00\x00" + vp8[26:], vp8[:29]):
        with pytest.raises(C.DecodeError):
            C.compressed_size(broken)


def test_a_riff_that_is_not_webp_is_unsupported():
    wave = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(40)
    with pytest.raises(C.UnsupportedEncoding):
        C.compressed_size(wave)


def test_png_header_needs_ihdr_first_and_reads_all_32_bits():
    png = png_bytes(0x01020304, 0x05060708)
    assert C.compressed_size(png) == ("png", 0x01020304, 0x05060708)
    assert C.compressed_size(png[:24]) == ("png", 0x01020304, 0x05060708)  # signature + IHDR sides
    for kind in (b"IDAT", b"iTXt"):
        with pytest.raises(C.DecodeError, match="IHDR"):
            C.compressed_size(png[:12] + kind + png[16:])


def test_bmp_headers_core_info_and_top_down():
    core = b"BM" + bytes(12) + (12).to_bytes(4, "little") + (0x0102).to_bytes(2, "little")
    core += (0x0304).to_bytes(2, "little") + (1).to_bytes(2, "little") + (24).to_bytes(2, "little")
    assert C.compressed_size(core) == ("bmp", 0x0102, 0x0304)  # OS/2: 16-bit sides
    assert C.compressed_size(bmp_bytes(53, 37)[:26]) == ("bmp", 53, 37)
    assert C.compressed_size(bmp_bytes(53, -37)) == ("bmp", 53, 37)  # negative height: top-down rows


def test_pam_header_with_height_before_width():
    pam = b"P7\nHEIGHT 37\nWIDTH 53\nDEPTH 3\nMAXVAL 255\nTUPLTYPE RGB\nENDHDR\n" + bytes(53 * 37 * 3)
    assert C.compressed_size(pam) == ("pnm", 53, 37)


def stamped(data: bytes) -> CompressedImage:
    msg = CompressedImage(format="png", data=data)
    msg.header.stamp.sec = 3
    return msg


@pytest.mark.parametrize(("w", "h"), [(8192, 1), (5, 1), (1, 5), (2731, 8191), (8192, 2049)])
def test_compressed_size_limits_are_inclusive(w, h):
    """8192 px a side and (64 MiB // 3) = 22369621 = 2731 x 8191 pixels pass, as numbers."""
    assert C.frame_stamp(stamped(png_bytes(w, h)), compressed=True) == 3.0


@pytest.mark.parametrize(("w", "h", "exc"), [(8193, 1, C.MessageTooLarge), (1, 8193, C.MessageTooLarge),
                                             (2731, 8192, C.MessageTooLarge), (0, 5, C.DecodeError),
                                             (5, 0, C.DecodeError)])
def test_compressed_sizes_over_the_limits_or_empty_are_refused_unread(w, h, exc):
    with pytest.raises(exc):
        C.frame_stamp(stamped(png_bytes(w, h)), compressed=True)


def test_compressed_message_byte_limit_is_inclusive():
    png = png_bytes(5, 5)
    assert C.frame_stamp(stamped(png + bytes((64 << 20) - len(png))), compressed=True) == 3.0
    with pytest.raises(C.MessageTooLarge):
        C.frame_stamp(stamped(png + bytes((64 << 20) + 1 - len(png))), compressed=True)


def test_a_decoded_side_of_8192_is_kept():
    line = cv2.imencode(".png", np.zeros((1, 8192), np.uint8))[1].tobytes()
    assert C.compressed_to_rgb(stamped(line)).shape == (1, 8192, 3)
