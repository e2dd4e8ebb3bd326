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
from fractions import Fraction
from functools import lru_cache

import av
import numpy as np
import soundfile as sf
import torch
from scipy.signal import resample_poly

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


def load_audio(path: str | os.PathLike, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Decode any audio file or container's first audio stream to float32 mono at ``sr`` Hz.

    wav/flac/ogg go through soundfile (exact, fast); anything libsndfile rejects (mp4, m4a, mkv, ...)
    is decoded with PyAV, aligned so that sample 0 is the instant of the container's first video
    frame (AAC priming and streams starting at different times would otherwise shift audio against
    the video frames).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise AudioError(f"audio file not found: {path}")
    try:
        data, native_sr = sf.read(path, dtype="float32", always_2d=True)
    except sf.LibsndfileError:
        data, native_sr = _decode_with_av(path)
    if data.shape[0] == 0:
        raise AudioError(f"{path}: audio stream has zero samples")
    mono = data.mean(axis=1, dtype=np.float32)
    mono = check_signal(mono, f"audio decoded from {path}")
    return resample(mono, int(native_sr), sr)


def _decode_with_av(path: str) -> tuple[np.ndarray, int]:
    """Decode the first audio stream with PyAV as (samples, channels) float32 plus its rate."""
    try:
        container = av.open(path)
    except (av.error.FFmpegError, UnicodeDecodeError) as e:
        raise AudioError(f"cannot open {path} as audio: {e}") from e
    with container:
        if not container.streams.audio:
            raise AudioError(f"{path} has no audio stream")
        stream = container.streams.audio[0]
        rate = stream.codec_context.sample_rate or stream.rate
        chunks: list[np.ndarray] = []
        first_time: float | None = None
        try:
            for frame in container.decode(stream):
                if first_time is None and frame.pts is not None and frame.time_base is not None:
                    first_time = float(frame.pts * frame.time_base)
                chunks.append(_frame_to_array(frame))
        except av.error.FFmpegError as e:
            raise AudioError(f"cannot decode audio of {path}: {e}") from e
        start = _time_origin(container)
    if not chunks:
        raise AudioError(f"{path}: audio stream has zero samples")
    data = np.concatenate(chunks, axis=0)
    # Shift so that sample 0 is at the time origin of the video frames (see _time_origin).
    offset = int(round(((first_time or 0.0) - start) * rate))
    if offset > 0:
        data = np.concatenate([np.zeros((offset, data.shape[1]), np.float32), data])
    elif offset < 0:
        data = data[-offset:]
    return data, int(rate)


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
    y = resample_poly(x, ratio.numerator, ratio.denominator)
    return y.astype(np.float32, copy=False)


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
    power = torch.view_as_real(spec).square().sum(-1)
    mel = _mel_basis(sr, N_FFT, N_MELS) @ power
    db = 10.0 * torch.log10(torch.clamp(mel, min=AMIN))
    db = torch.maximum(db, db.max() - TOP_DB)
    return (_dct_matrix(N_MELS, n_mfcc) @ db).float().numpy()
