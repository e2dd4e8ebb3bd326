"""Audio decoding, resampling and a torch MFCC that reproduces ``librosa.feature.mfcc`` defaults.

The model was trained on librosa MFCCs (22050 Hz, n_fft 2048, hop 512, centred with zero padding,
128 Slaney mel bands, power 2, ``power_to_db(ref=1, amin=1e-10, top_db=80)``, orthonormal DCT-II).
librosa itself is only a dev dependency (its first call compiles numba for ~15 s and it cannot
read mp4 audio without an ffmpeg binary), so the runtime computes the same features in torch.

Non-finite samples are *rejected* (``ValueError``), not sanitised: a NaN in a microphone stream
means a broken driver or file, and replacing it with zeros would silently change the prediction.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

import av
import numpy as np
import soundfile as sf
import torch
from scipy.signal import firwin, resample_poly

from avemotion_core.labels import N_MFCC, SAMPLE_RATE

N_FFT = 2048
HOP_LENGTH = 512
N_MELS = 128
AMIN = 1e-10
TOP_DB = 80.0


class AudioError(ValueError):
    """A file or array cannot be turned into usable audio (unreadable, no stream, empty, NaN)."""


def check_signal(x: np.ndarray, what: str = "audio") -> np.ndarray:
    """Return ``x`` as float32 mono 1-D, or raise: empty, multi-dim or non-finite input is a bug upstream."""
    x = np.asarray(x)
    if x.ndim != 1:
        raise AudioError(f"{what} must be a 1-D mono signal, got shape {x.shape}")
    if x.size == 0:
        raise AudioError(f"{what} is empty (zero samples)")
    if not np.issubdtype(x.dtype, np.floating):
        raise AudioError(f"{what} must be floating point in [-1, 1], got dtype {x.dtype}")
    if not np.all(np.isfinite(x)):
        raise AudioError(f"{what} contains NaN or inf samples")
    return x.astype(np.float32, copy=False)


# Extra audio decoded on each side of a requested span, so that the resampling filter sees the
# same neighbourhood as when the whole file is resampled (its kernel is far shorter than this).
SPAN_MARGIN_SECONDS = 0.05
AV_PREROLL_SECONDS = 0.2


@dataclass(frozen=True)
class _Span:
    """Which native samples to decode for ``[start, start + duration)`` at ``sr`` Hz output.

    The decoded span begins on a native sample that the polyphase resampler maps exactly onto an
    output sample (a multiple of the rate ratio's denominator), so the cut output equals the
    same samples of the whole resampled file instead of being shifted by a fraction of a sample.
    """

    start: float
    duration: float | None
    sr: int

    def _plan(self, rate: int) -> tuple[int, int, int, int | None]:
        ratio = Fraction(self.sr, rate)
        up, down = ratio.numerator, ratio.denominator
        a0 = int(round(self.start * self.sr))
        margin = int(np.ceil(SPAN_MARGIN_SECONDS * self.sr))
        first_out = max(0, (a0 - margin) // up * up)
        count = None if self.duration is None else int(round(self.duration * self.sr))
        return first_out // up * down, first_out, a0 - first_out, count

    def native(self, rate: int) -> tuple[int, int | None]:
        """(first native sample, how many to decode or None for all the rest)."""
        first, _, skip, count = self._plan(rate)
        if count is None:
            return first, None
        margin = int(np.ceil(SPAN_MARGIN_SECONDS * self.sr))
        return first, int(np.ceil((skip + count + margin) * rate / self.sr))

    def cut(self, resampled: np.ndarray, rate: int) -> np.ndarray:
        """The requested output samples out of the resampled decoded span."""
        _, _, skip, count = self._plan(rate)
        return resampled[skip : None if count is None else skip + count]


def load_audio(
    path: str | os.PathLike, sr: int = SAMPLE_RATE, start: float = 0.0, duration: float | None = None
) -> np.ndarray:
    """Decode any audio file or container's first audio stream to float32 mono at ``sr`` Hz.

    wav/flac/ogg go through soundfile (exact, fast); anything libsndfile rejects (mp4, m4a, mkv, ...)
    is decoded with PyAV, aligned so that sample 0 is the instant of the container's first video
    frame (AAC priming and streams starting at different times would otherwise shift audio against
    the video frames).

    ``start``/``duration`` (seconds on that time line) decode only that span: a 3.6 s window of
    an hour-long recording must not decode the hour (2.6 GB and 25 s for a 48 kHz stereo wav).
    The result is sample ``round(start * sr)`` onwards of the whole file's, and shorter than
    ``duration`` only where the file ends.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise AudioError(f"audio file not found: {path}")
    if not np.isfinite(start) or start < 0 or (duration is not None and not duration > 0):
        raise AudioError(f"invalid audio span start={start} duration={duration}")
    span = _Span(start, duration, sr)
    try:
        data, native_sr = _read_soundfile(path, span)
    except sf.LibsndfileError:
        data, native_sr = _decode_with_av(path, span)
    if data.shape[0] == 0:
        where = f" at {start:.2f} s and later" if start > 0 else ""
        raise AudioError(f"{path}: audio stream has zero samples{where}")
    mono = data.mean(axis=1, dtype=np.float32)
    mono = check_signal(mono, f"audio decoded from {path}")
    out = span.cut(resample(mono, int(native_sr), sr), int(native_sr))
    if out.size == 0:
        raise AudioError(f"{path}: audio stream has zero samples at {start:.2f} s and later")
    return out


def _read_soundfile(path: str, span: _Span) -> tuple[np.ndarray, int]:
    """(samples, channels) float32 of the span's native samples, through libsndfile's seek."""
    with sf.SoundFile(path) as f:
        rate = f.samplerate
        first, count = span.native(rate)
        f.seek(min(first, f.frames))
        return f.read(-1 if count is None else count, dtype="float32", always_2d=True), rate


def _decode_with_av(path: str, span: _Span) -> tuple[np.ndarray, int]:
    """Decode the first audio stream with PyAV as (samples, channels) float32 plus its rate.

    Only the span's native samples are kept; the demuxer seeks to the packet before them and
    decoding stops after them.
    """
    try:
        container = av.open(path)
    except (av.error.FFmpegError, UnicodeDecodeError) as e:
        raise AudioError(f"cannot open {path} as audio: {e}") from e
    with container:
        if not container.streams.audio:
            raise AudioError(f"{path} has no audio stream")
        stream = container.streams.audio[0]
        rate = int(stream.codec_context.sample_rate or stream.rate)
        first, count = span.native(rate)
        origin = _time_origin(container)
        t0 = origin + first / rate  # container time of the first sample to return
        end = None if count is None else t0 + count / rate
        chunks: list[np.ndarray] = []
        first_time: float | None = None
        try:
            if first > 0 and stream.time_base is not None:
                # A decoder restarted at a packet misses the overlap its first frame needs (AAC
                # frames overlap by half): start a few frames early and drop them below.
                target = max(0.0, t0 - AV_PREROLL_SECONDS)
                container.seek(int(target / stream.time_base), stream=stream, backward=True)
            for frame in container.decode(stream):
                timed = frame.pts is not None and frame.time_base is not None
                when = float(frame.pts * frame.time_base) if timed else None
                if when is not None and end is not None and when >= end:
                    break
                if when is not None and when + frame.samples / rate <= t0:
                    continue  # wholly before the span (seeking lands on an earlier packet)
                if first_time is None:
                    first_time = when if when is not None else origin
                chunks.append(_frame_to_array(frame))
        except av.error.FFmpegError as e:
            raise AudioError(f"cannot decode audio of {path}: {e}") from e
    if not chunks:
        return np.zeros((0, 1), np.float32), rate
    data = np.concatenate(chunks, axis=0)
    # Shift so that sample 0 is at t0 on the time line of the video frames (see _time_origin).
    offset = int(round(((first_time if first_time is not None else t0) - t0) * rate))
    if offset > 0:
        data = np.concatenate([np.zeros((offset, data.shape[1]), np.float32), data])
    elif offset < 0:
        data = data[-offset:]
    return (data if count is None else data[:count]), rate


def _time_origin(container: av.container.InputContainer) -> float:
    """Seconds that count as t=0: the first video frame when there is video (frame indices of
    ``video.read_frames`` count from there), else the container's start."""
    if container.streams.video:
        video = container.streams.video[0]
        if video.start_time is not None:
            return float(video.start_time * video.time_base)
    return container.start_time / av.time_base if container.start_time is not None else 0.0


def _frame_to_array(frame: av.AudioFrame) -> np.ndarray:
    """(samples, channels) float32 from a decoded frame of any sample format."""
    arr = frame.to_ndarray()
    channels = len(frame.layout.channels)
    if frame.format.is_planar:
        arr = arr.T
    else:
        arr = arr.reshape(-1, channels)
    kind = arr.dtype
    if np.issubdtype(kind, np.integer):
        arr = arr.astype(np.float32) / float(np.iinfo(kind).max + 1)
        if kind == np.uint8:
            arr = arr * 2.0 - 1.0
    return arr.astype(np.float32, copy=False)


def resample(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Polyphase resampling (Kaiser-windowed FIR) — far less aliasing than linear interpolation."""
    x = check_signal(x)
    if sr_in <= 0 or sr_out <= 0:
        raise AudioError(f"sample rates must be positive, got {sr_in} -> {sr_out}")
    if sr_in == sr_out:
        return x
    ratio = Fraction(int(sr_out), int(sr_in))
    up, down = ratio.numerator, ratio.denominator
    y = resample_poly(x, up, down, window=_polyphase_filter(up, down).astype(x.dtype))
    return y.astype(np.float32, copy=False)


@lru_cache(maxsize=8)
def _polyphase_filter(up: int, down: int) -> np.ndarray:
    """``resample_poly``'s own default low-pass (Kaiser, beta 5, 10 zero crossings per side; it casts
    the taps to the signal's dtype, as the caller does), made once per rate pair: designing its
    8,821 taps (16 -> 22.05 kHz) every window cost more than the filtering."""
    max_rate = max(up, down)
    return firwin(2 * 10 * max_rate + 1, 1.0 / max_rate, window=("kaiser", 5.0))


def fit_length(x: np.ndarray, n: int) -> np.ndarray:
    """Zero-pad at the end or centre-crop to exactly ``n`` samples (the OpenDR rule, minus its bug
    that returned an empty array for a clip of exactly ``n`` samples)."""
    x = np.asarray(x)
    if n <= 0:
        raise AudioError(f"target length must be positive, got {n}")
    if x.ndim != 1:
        raise AudioError(f"audio must be 1-D, got shape {x.shape}")
    if len(x) >= n:
        start = (len(x) - n) // 2
        return x[start : start + n]
    return np.pad(x, (0, n - len(x)))


@lru_cache(maxsize=8)
def _mel_basis(sr: int, n_fft: int, n_mels: int) -> torch.Tensor:
    """Slaney-scale, Slaney-normalised triangular filters (librosa's default), float64 (n_mels, bins)."""
    fmax = sr / 2.0
    fft_freqs = np.linspace(0.0, fmax, 1 + n_fft // 2)
    mel_pts = np.linspace(_hz_to_mel(0.0), _hz_to_mel(fmax), n_mels + 2)
    hz_pts = _mel_to_hz(mel_pts)
    widths = np.diff(hz_pts)
    ramps = hz_pts[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (hz_pts[2:] - hz_pts[:-2]))[:, None]  # equal area per filter
    return torch.from_numpy(weights.astype(np.float32)).double()


def _hz_to_mel(f: np.ndarray | float) -> np.ndarray:
    """Slaney mel scale: linear below 1 kHz, logarithmic above."""
    f = np.asarray(f, dtype=np.float64)
    f_sp = 200.0 / 3
    min_log_hz = 1000.0
    logstep = np.log(6.4) / 27.0
    log_part = min_log_hz / f_sp + np.log(np.maximum(f, 1e-12) / min_log_hz) / logstep
    return np.where(f >= min_log_hz, log_part, f / f_sp)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    f_sp = 200.0 / 3
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


@lru_cache(maxsize=8)
def _hann(n_fft: int) -> torch.Tensor:
    # Periodic Hann, as scipy.signal.get_window('hann', n, fftbins=True) used by librosa.
    return torch.hann_window(n_fft, periodic=True, dtype=torch.float64)


@lru_cache(maxsize=8)
def _dct_matrix(n_mels: int, n_mfcc: int) -> torch.Tensor:
    """Orthonormal DCT-II rows 0..n_mfcc-1, shape (n_mfcc, n_mels)."""
    n = np.arange(n_mels)
    k = np.arange(n_mfcc)[:, None]
    basis = np.cos(np.pi / n_mels * (n + 0.5) * k) * np.sqrt(2.0 / n_mels)
    basis[0] /= np.sqrt(2.0)
    return torch.from_numpy(basis)


def mfcc(x: np.ndarray, sr: int = SAMPLE_RATE, n_mfcc: int = N_MFCC) -> np.ndarray:
    """MFCC (n_mfcc, 1 + len(x) // 512) float32, equal to ``librosa.feature.mfcc(y=x, sr=sr,
    n_mfcc=n_mfcc)`` up to that function's own float32 rounding.

    Everything runs in float64: a float32 FFT's error is relative to the loudest bin of a frame,
    and the log turns it into up to ~0.03 on c0 for bins near the 80 dB floor, an amount that
    changed with the FFT library and CPU. In float64 the features no longer depend on either.
    """
    x = check_signal(x)
    if n_mfcc < 1 or n_mfcc > N_MELS:
        raise AudioError(f"n_mfcc must be in [1, {N_MELS}], got {n_mfcc}")
    pad = N_FFT // 2
    y = torch.from_numpy(np.pad(x.astype(np.float64), (pad, pad)))
    spec = torch.stft(y, N_FFT, hop_length=HOP_LENGTH, window=_hann(N_FFT), center=False, return_complex=True)
    power = spec.real.square() + spec.imag.square()  # 9x faster than view_as_real(...).sum(-1)
    mel = _mel_basis(sr, N_FFT, N_MELS) @ power
    db = 10.0 * torch.log10(torch.clamp(mel, min=AMIN))
    db = torch.maximum(db, db.max() - TOP_DB)
    return (_dct_matrix(N_MELS, n_mfcc) @ db).float().numpy()
