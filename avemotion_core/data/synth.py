"""Synthetic RAVDESS-format dataset: real faces and real synthetic speech, emotion-dependent.

Why: tests, demos and CI need data that has the exact RAVDESS layout and naming (so the same
dataset code reads it and the real corpus) and that a model can actually learn, without
downloading the 25 GB corpus. Speech comes from ``espeak-ng`` (+ ``sox`` effects) with
emotion-dependent prosody; video shows a real face (scikit-image's astronaut or an LFW face,
one per actor) whose motion, colour and mouth shape depend on the emotion and whose mouth
opening follows the loudness of the speech.

Layout written (as the RAVDESS per-actor folders)::

    OUT/Actor_01/02-01-03-01-01-01-01.mp4   video-only, H.264, 30 fps
    OUT/Actor_01/03-01-03-01-01-01-01.wav   audio-only, 48 kHz 16-bit mono
    (OUT/Actor_01/01-01-03-01-01-01-01.mp4  full audio-video, only with ``write_av=True``)

File name fields: modality-vocal channel-emotion-intensity-statement-repetition-actor; odd actors
are male voices, even actors female. Output is a pure function of the seed and the clip fields,
so any worker count gives identical files.

Command line::

    python -m avemotion_core.data.synth OUT_DIR --actors 4 --emotions all --statements 2 \
        --repetitions 1 --seed 0 [--intensities 2] [--workers N] [--av]
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import soundfile as sf
from tqdm import tqdm

from avemotion_core.data.workers import worker_pool
from avemotion_core.fileio import atomic_path
from avemotion_core.labels import EMOTIONS
from avemotion_core.media.video import write_video

STATEMENTS = ("Kids are talking by the door", "Dogs are sitting by the door")
AUDIO_SR = 48000  # RAVDESS audio-only files: 48 kHz, 16-bit, mono
FPS = 30
MAX_ACTORS = 24
DEFAULT_FRAME_SIZE = (320, 240)  # (width, height); RAVDESS is 1280x720, smaller keeps tests fast


class SynthError(RuntimeError):
    """The generator cannot run (missing tool, bad argument) or a tool failed on a clip."""


@dataclass(frozen=True)
class ClipSpec:
    """One RAVDESS utterance: the fields shared by its audio and video files (1-based codes)."""

    emotion: int  # 1..8
    intensity: int  # 1 normal, 2 strong (never strong for neutral, as in RAVDESS)
    statement: int  # 1..2
    repetition: int  # 1..2
    actor: int  # 1..24

    def name(self, modality: int, vocal_channel: int = 1) -> str:
        """RAVDESS stem, e.g. ``02-01-03-01-01-01-01`` (modality 01 AV, 02 video, 03 audio)."""
        fields = (modality, vocal_channel, self.emotion, self.intensity, self.statement, self.repetition,
                  self.actor)
        return "-".join(f"{f:02d}" for f in fields)

    @property
    def actor_dir(self) -> str:
        return f"Actor_{self.actor:02d}"


@dataclass(frozen=True)
class Prosody:
    """espeak-ng settings and sox effects for one emotion (deviations scale with intensity)."""

    pitch: float  # espeak -p, 0..99 (50 default)
    speed: float  # espeak -s, words per minute
    amplitude: float  # espeak -a, 0..200
    effects: tuple[str, ...] = ()


@dataclass(frozen=True)
class Look:
    """How the face moves and looks for one emotion.

    Motion alone would be undone by the face crop of preprocessing, so the emotion is also
    carried by colour/brightness, head tilt and mouth shape, which survive the crop.
    """

    tint: tuple[float, float, float]  # multiplicative RGB offset of the face
    brightness: float  # additive, in 0..255 units
    shake: tuple[float, float]  # horizontal motion (amplitude as a fraction of face size, Hz)
    bob: tuple[float, float]  # vertical motion (amplitude fraction, Hz)
    pulse: tuple[float, float]  # scale pulsing (relative amplitude, Hz)
    tilt: tuple[float, float, float]  # head roll: (constant deg, oscillation deg, Hz)
    mouth_curve: float  # >0 smile (corners up), <0 frown, in fractions of mouth width
    mouth_width: float  # fraction of face width
    mouth_open: float  # opening at full loudness, fraction of face height
    mouth_asym: float  # one corner raised (disgust)


# espeak-ng's -p saturates near 75-80 Hz for the male voices, so the scale is centred above 50
# and sad speech is lowered further with sox.
PROSODY: dict[str, Prosody] = {
    "neutral": Prosody(58, 165, 100),
    "calm": Prosody(48, 135, 80),
    "happy": Prosody(78, 190, 130),
    "sad": Prosody(30, 115, 65, ("pitch", "-200")),
    "angry": Prosody(52, 205, 185, ("overdrive", "6")),
    "fearful": Prosody(86, 215, 105, ("tremolo", "7", "55")),
    "disgust": Prosody(40, 140, 110, ("lowpass", "2500")),
    "surprised": Prosody(96, 175, 150, ("bend", "0.9,400,0.5")),
}

LOOK: dict[str, Look] = {
    "neutral": Look((0, 0, 0), 0, (0.01, 0.3), (0.01, 0.2), (0.0, 0.0), (0, 0, 0), 0.0, 0.30, 0.06, 0.0),
    "calm": Look((-0.05, 0.0, 0.12), -5, (0.02, 0.2), (0.02, 0.15), (0.02, 0.3), (0, 3, 0.2),
                 0.06, 0.30, 0.04, 0.0),
    "happy": Look((0.18, 0.10, -0.08), 15, (0.02, 0.8), (0.06, 2.0), (0.04, 1.0), (0, 4, 0.8),
                  0.22, 0.38, 0.10, 0.0),
    "sad": Look((-0.12, -0.05, 0.15), -30, (0.01, 0.2), (0.03, 0.3), (0.0, 0.0), (-6, 1, 0.1),
                -0.18, 0.28, 0.04, 0.0),
    "angry": Look((0.30, -0.12, -0.12), 0, (0.06, 3.0), (0.01, 1.0), (0.03, 2.5), (0, 2, 3.0),
                  -0.08, 0.36, 0.12, 0.0),
    "fearful": Look((-0.10, 0.10, 0.05), 10, (0.03, 6.0), (0.03, 5.0), (0.02, 6.0), (0, 2, 6.0),
                    -0.05, 0.40, 0.14, 0.0),
    "disgust": Look((0.02, 0.18, -0.15), -10, (0.02, 0.5), (0.01, 0.5), (0.0, 0.0), (7, 2, 0.5),
                    -0.04, 0.30, 0.05, 0.15),
    "surprised": Look((0.05, 0.05, 0.10), 25, (0.01, 0.5), (0.04, 1.5), (0.08, 0.7), (0, 3, 0.5),
                      0.0, 0.24, 0.22, 0.0),
}


# ----------------------------------------------------------------------------- planning


def parse_emotions(spec: str | Sequence[int | str] | None) -> list[int]:
    """Emotion codes (1..8) from ``'all'``, ``'3,4'``, ``'happy,sad'`` or a sequence of those."""
    if spec is None or spec == "all":
        return list(range(1, len(EMOTIONS) + 1))
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    codes = []
    for item in items:
        text = str(item).strip().lower()
        if text in EMOTIONS:
            code = EMOTIONS.index(text) + 1
        elif text.isdigit() and 1 <= int(text) <= len(EMOTIONS):
            code = int(text)
        else:
            raise SynthError(f"unknown emotion {item!r}; use 1..8 or one of {', '.join(EMOTIONS)}")
        if code not in codes:
            codes.append(code)
    if not codes:
        raise SynthError("no emotions selected")
    return sorted(codes)


def plan_clips(
    actors: int | Sequence[int] = 4,
    emotions: str | Sequence[int | str] | None = "all",
    statements: int = 2,
    repetitions: int = 1,
    intensities: int = 1,
) -> list[ClipSpec]:
    """All utterances to generate, in RAVDESS order; validates counts against the RAVDESS design."""
    actor_ids = list(range(1, actors + 1)) if isinstance(actors, int) else sorted(set(actors))
    if not actor_ids or not all(1 <= a <= MAX_ACTORS for a in actor_ids):
        raise SynthError(f"actors must be 1..{MAX_ACTORS} (RAVDESS has 24 actors), got {actors!r}")
    counts = {"statements": statements, "repetitions": repetitions, "intensities": intensities}
    for label, value in counts.items():
        if not 1 <= value <= 2:
            raise SynthError(f"{label} must be 1 or 2 (as in RAVDESS), got {value}")
    clips = []
    for actor in actor_ids:
        for emotion in parse_emotions(emotions):
            # RAVDESS has no strong intensity for neutral.
            for intensity in range(1, (1 if emotion == 1 else intensities) + 1):
                for statement in range(1, statements + 1):
                    for repetition in range(1, repetitions + 1):
                        clips.append(ClipSpec(emotion, intensity, statement, repetition, actor))
    return clips


def clip_rng(seed: int, clip: ClipSpec) -> np.random.Generator:
    """Per-clip generator: output depends only on (seed, clip), not on worker scheduling."""
    fields = [clip.actor, clip.emotion, clip.intensity, clip.statement, clip.repetition]
    return np.random.default_rng([seed, *fields])


def require_tools() -> None:
    """Fail early, with the fix, when the speech tools are not installed."""
    missing = [tool for tool in ("espeak-ng", "sox") if shutil.which(tool) is None]
    if missing:
        raise SynthError(
            f"{' and '.join(missing)} not found on PATH; the synthetic dataset needs them for speech "
            f"(Debian/Ubuntu: sudo apt-get install {' '.join(missing)})"
        )


# ----------------------------------------------------------------------------- audio


def _run(cmd: list[str]) -> None:
    try:
        subprocess.run(cmd, check=True, capture_output=True, timeout=60)
    except FileNotFoundError as exc:
        raise SynthError(f"{cmd[0]} not found: {exc}") from exc
    except subprocess.CalledProcessError as exc:
        raise SynthError(f"{' '.join(cmd)} failed: {exc.stderr.decode(errors='replace').strip()}") from exc


def _voice(actor: int) -> str:
    """espeak-ng voice per actor: odd actors male variants, even actors female (RAVDESS convention)."""
    if actor % 2:
        return f"en+m{(actor // 2) % 7 + 1}"
    return f"en+f{(actor // 2 - 1) % 5 + 1}"


def synth_speech(clip: ClipSpec, rng: np.random.Generator, duration: float, onset: float) -> np.ndarray:
    """Speech for ``clip`` as float32 mono at 48 kHz, exactly ``duration`` seconds long."""
    base = PROSODY["neutral"]
    p = PROSODY[EMOTIONS[clip.emotion - 1]]
    gain = 1.5 if clip.intensity == 2 else 1.0
    actor_pitch = (clip.actor * 37) % 21 - 10  # stable per actor, -10..10

    def scaled(value: float, neutral: float) -> float:
        return neutral + gain * (value - neutral)

    pitch = int(np.clip(scaled(p.pitch, base.pitch) + actor_pitch + rng.uniform(-3, 3), 0, 99))
    speed = int(np.clip(scaled(p.speed, base.speed) * rng.uniform(0.95, 1.05), 80, 400))
    amp = int(np.clip(scaled(p.amplitude, base.amplitude) * rng.uniform(0.92, 1.08), 10, 200))
    with tempfile.TemporaryDirectory(prefix="avemotion_synth_") as tmp:
        raw, fx = os.path.join(tmp, "raw.wav"), os.path.join(tmp, "fx.wav")
        _run(["espeak-ng", "-v", _voice(clip.actor), "-p", str(pitch), "-s", str(speed), "-a", str(amp),
              "-w", raw, STATEMENTS[clip.statement - 1]])
        # -D: no dither, so the output is bit-exact for a given seed.
        _run(["sox", "-D", raw, "-e", "floating-point", "-b", "32", fx, *p.effects,
              "rate", "-h", str(AUDIO_SR)])
        speech, sr = sf.read(fx, dtype="float32")
    if sr != AUDIO_SR:
        raise SynthError(f"sox produced {sr} Hz instead of {AUDIO_SR}")
    n = int(round(duration * AUDIO_SR))
    out = rng.normal(0.0, 10 ** (-62 / 20), n).astype(np.float32)  # faint room noise, like a studio
    start = int(onset * AUDIO_SR)
    seg = speech[: max(0, n - start)]
    out[start : start + len(seg)] += seg
    return np.clip(out, -1.0, 32767 / 32768)


def write_wav(path: Path, audio: np.ndarray, sr: int = AUDIO_SR) -> None:
    """16-bit PCM wav, written atomically."""
    with atomic_path(path) as tmp:
        sf.write(tmp, audio, sr, subtype="PCM_16", format="WAV")


def loudness_envelope(audio: np.ndarray, sr: int, n_frames: int, fps: float) -> np.ndarray:
    """Per-video-frame speech loudness in 0..1, so the mouth moves with the voice."""
    hop = sr / fps
    rms = np.empty(n_frames, np.float32)
    for i in range(n_frames):
        seg = audio[int(i * hop) : int((i + 1) * hop)]
        rms[i] = np.sqrt(np.mean(seg**2)) if len(seg) else 0.0
    peak = float(rms.max())
    env = rms / peak if peak > 0 else rms
    env = np.convolve(env, np.ones(3) / 3, mode="same")
    return np.clip((env - 0.05) / 0.95, 0.0, 1.0)


# ----------------------------------------------------------------------------- video

FACE_PX = 128  # side of the square face patch before per-frame scaling
# LFW subset images (the first 100 are faces) that OpenCV's Haar detector finds in every frame of
# the darkest, most tilted and fastest-moving renderings; one per actor 2..24.
LFW_FACES = (0, 2, 6, 10, 12, 18, 20, 25, 27, 33, 35, 37, 41, 45, 48, 50, 53, 60, 62, 66, 70, 73, 80)


@functools.lru_cache(maxsize=MAX_ACTORS)
def actor_face(actor: int) -> tuple[np.ndarray, tuple[float, float, float]]:
    """Face patch (FACE_PX², RGB float32) and mouth (x, y, size) as fractions of the patch.

    Actor 1 is scikit-image's astronaut; the others are distinct LFW faces. All are made grey,
    normalised to the same brightness and contrast, then given a skin tone that varies a little
    per actor: otherwise identity (the astronaut is the only colour photo, some LFW faces are
    much darker) would swamp the emotion's colour cue and a model could not generalise to
    unseen actors.
    """
    from skimage import data  # imported lazily: only the generator needs scikit-image

    if actor == 1:
        # as tight around the face as the LFW crops, so all actors share one face geometry
        grey = cv2.cvtColor(data.astronaut()[62:166, 172:276], cv2.COLOR_RGB2GRAY).astype(np.float32)
        mouth = (0.51, 0.81, 1.0)
    else:
        grey = data.lfw_subset()[LFW_FACES[actor - 2]].astype(np.float32) * 255
        mouth = (0.5, 0.80, 1.0)
    grey = (grey - grey.mean()) / (grey.std() + 1e-6) * 45 + 135
    tone = np.array([1.0, 0.86, 0.74]) + 0.03 * np.sin(np.array([1.0, 2.0, 3.0]) * actor)
    face = np.clip(grey[..., None] * tone, 0, 255).astype(np.float32)
    return cv2.resize(face, (FACE_PX, FACE_PX), interpolation=cv2.INTER_CUBIC), mouth


@functools.lru_cache(maxsize=1)
def _face_mask() -> np.ndarray:
    """Soft elliptical alpha mask, so the face blends into the background like a head."""
    mask = np.zeros((FACE_PX, FACE_PX), np.float32)
    c = FACE_PX // 2
    cv2.ellipse(mask, (c, c), (int(c * 0.92), int(c * 0.98)), 0, 0, 360, 1.0, -1)
    return cv2.GaussianBlur(mask, (0, 0), 3)


def background(actor: int, rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """Textured studio backdrop (per-actor colour + seeded blurred noise), float32 HxWx3."""
    w, h = size
    colour = np.array([120, 120, 125], np.float32) + 12 * np.sin(np.array([0.7, 1.3, 2.1]) * actor)
    ramp = np.linspace(0.85, 1.1, h, dtype=np.float32)[:, None, None]
    noise = cv2.GaussianBlur(rng.normal(0, 12, (h, w)).astype(np.float32), (0, 0), 4)[..., None]
    return np.clip(colour * ramp + noise, 0, 255)


def draw_mouth(
    layer: np.ndarray,
    anchor: tuple[float, float, float],
    look: Look,
    opening: float,
    gain: float,
    colours: tuple[tuple[float, ...], tuple[float, ...]],
) -> None:
    """Draw the mouth in place: lip line curved by emotion, opened by the current loudness.

    ``layer`` is the RGBA face patch; ``colours`` are the (inside, lip) RGBA colours.
    """
    width = FACE_PX * anchor[2] * look.mouth_width * (1 + 0.3 * (gain - 1))
    cx, cy = anchor[0] * FACE_PX, anchor[1] * FACE_PX
    xs = np.linspace(-1.0, 1.0, 24)
    centre = cy - gain * width * 0.5 * (look.mouth_curve * (xs**2 - 0.5) + look.mouth_asym * xs)
    half_open = 0.5 * FACE_PX * anchor[2] * (0.01 + gain * look.mouth_open * opening) * np.sqrt(1 - xs**2)
    upper = np.stack([cx + xs * width / 2, centre - half_open], 1)
    lower = np.stack([cx + xs[::-1] * width / 2, (centre + half_open)[::-1]], 1)
    poly = np.round(np.concatenate([upper, lower]) * 4).astype(np.int32)  # 2 fractional bits
    cv2.fillPoly(layer, [poly], colours[0], lineType=cv2.LINE_AA, shift=2)
    cv2.polylines(layer, [poly], True, colours[1], 1, lineType=cv2.LINE_AA, shift=2)


def render_frames(
    clip: ClipSpec,
    rng: np.random.Generator,
    envelope: np.ndarray,
    fps: float = FPS,
    size: tuple[int, int] = DEFAULT_FRAME_SIZE,
) -> np.ndarray:
    """Video frames (N, H, W, 3) uint8 RGB of the actor's face acting out the clip's emotion."""
    look = LOOK[EMOTIONS[clip.emotion - 1]]
    gain = 1.5 if clip.intensity == 2 else 1.0
    face0, anchor = actor_face(clip.actor)
    mask0 = _face_mask()
    bg_f = background(clip.actor, rng, size)
    bg = bg_f.astype(np.uint8)
    w, h = size
    face_scale = 0.55 * h / FACE_PX * rng.uniform(0.93, 1.07)
    cx0, cy0 = w / 2 + rng.uniform(-0.08, 0.08) * w, h / 2 + rng.uniform(-0.05, 0.05) * h
    phase = rng.uniform(0, 2 * np.pi, 4)
    tint = 1 + gain * np.asarray(look.tint, np.float32) * rng.uniform(0.85, 1.15)
    light = gain * look.brightness + rng.uniform(-8, 8)
    # Face and alpha mask as one RGBA layer, lit once per clip: one warp per frame instead of two.
    layer0 = np.dstack([np.clip(face0 * tint + light, 0, 255), mask0]).astype(np.float32)
    colours = tuple((*np.clip(np.array(c) * tint + light, 0, 255).tolist(), 1.0)
                    for c in ((70.0, 25.0, 30.0), (150.0, 60.0, 60.0)))
    px = FACE_PX * face_scale
    frames = np.empty((len(envelope), h, w, 3), np.uint8)
    for i, opening in enumerate(envelope):
        t = i / fps
        layer = layer0.copy()
        draw_mouth(layer, anchor, look, float(opening), gain, colours)
        scale = face_scale * (1 + gain * look.pulse[0] * np.sin(2 * np.pi * look.pulse[1] * t + phase[0]))
        angle = gain * (look.tilt[0] + look.tilt[1] * np.sin(2 * np.pi * look.tilt[2] * t + phase[1]))
        cx = cx0 + gain * look.shake[0] * px * np.sin(2 * np.pi * look.shake[1] * t + phase[2])
        cy = cy0 + gain * look.bob[0] * px * np.sin(2 * np.pi * look.bob[1] * t + phase[3])
        m = cv2.getRotationMatrix2D((FACE_PX / 2, FACE_PX / 2), angle, scale)
        m[:, 2] += (cx - FACE_PX / 2, cy - FACE_PX / 2)
        # Blend only inside the face's bounding box: full-frame float maths dominated the runtime.
        half = int(np.ceil(scale * FACE_PX * 0.75)) + 2
        x0, y0 = max(0, int(cx) - half), max(0, int(cy) - half)
        x1, y1 = min(w, int(cx) + half), min(h, int(cy) + half)
        m[:, 2] -= (x0, y0)
        roi = (x1 - x0, y1 - y0)
        warped = cv2.warpAffine(layer, m, roi, flags=cv2.INTER_LINEAR)
        alpha = warped[..., 3:]
        frames[i] = bg
        patch = bg_f[y0:y1, x0:x1]
        frames[i, y0:y1, x0:x1] = np.clip(patch + alpha * (warped[..., :3] - patch), 0, 255).astype(np.uint8)
    return frames


# ----------------------------------------------------------------------------- clips and CLI


def generate_clip(
    clip: ClipSpec,
    out_dir: str | os.PathLike[str],
    seed: int = 0,
    fps: float = FPS,
    frame_size: tuple[int, int] = DEFAULT_FRAME_SIZE,
    write_av: bool = False,
) -> list[Path]:
    """Write the audio-only wav and video-only mp4 (and optionally the AV mp4) of one utterance."""
    rng = clip_rng(seed, clip)
    n_frames = int(round(rng.uniform(3.5, 4.0) * fps))
    duration = n_frames / fps
    audio = synth_speech(clip, rng, duration, onset=rng.uniform(0.3, 0.7))
    frames = render_frames(clip, rng, loudness_envelope(audio, AUDIO_SR, n_frames, fps), fps, frame_size)
    folder = Path(out_dir) / clip.actor_dir
    folder.mkdir(parents=True, exist_ok=True)
    wav = folder / f"{clip.name(3)}.wav"
    video = folder / f"{clip.name(2)}.mp4"
    write_wav(wav, audio)
    write_video(video, frames, fps)
    written = [wav, video]
    if write_av:
        av_path = folder / f"{clip.name(1)}.mp4"
        write_video(av_path, frames, fps, audio=audio, sr=AUDIO_SR)
        written.append(av_path)
    return written


def _worker_init() -> None:
    # One process per core already; nested thread pools would only oversubscribe.
    cv2.setNumThreads(1)


def generate_dataset(
    out_dir: str | os.PathLike[str],
    actors: int | Sequence[int] = 4,
    emotions: str | Sequence[int | str] | None = "all",
    statements: int = 2,
    repetitions: int = 1,
    intensities: int = 1,
    seed: int = 0,
    workers: int = 1,
    fps: float = FPS,
    frame_size: tuple[int, int] = DEFAULT_FRAME_SIZE,
    write_av: bool = False,
    progress: bool = True,
) -> list[Path]:
    """Generate a RAVDESS-format dataset under ``out_dir``; returns the written file paths."""
    require_tools()
    clips = plan_clips(actors, emotions, statements, repetitions, intensities)
    if min(frame_size) < 64 or frame_size[0] % 2 or frame_size[1] % 2:
        raise SynthError(f"frame size must be even and at least 64x64 (H.264 4:2:0), got {frame_size}")
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    job = functools.partial(generate_clip, out_dir=out_dir, seed=seed, fps=fps, frame_size=frame_size,
                            write_av=write_av)
    bar = tqdm(total=len(clips), desc="synth clips", unit="clip", disable=not progress)
    written: list[Path] = []
    with bar:
        if workers <= 1:
            for clip in clips:
                written += job(clip)
                bar.update()
        else:
            with worker_pool(workers, _worker_init) as pool:
                for paths in pool.map(job, clips):
                    written += paths
                    bar.update()
    return written


def _frame_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"frame size must look like 320x240, got {text!r}") from exc
    return w, h


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m avemotion_core.data.synth",
                                     description="Write a synthetic dataset in the RAVDESS layout.")
    parser.add_argument("out_dir", help="dataset root; Actor_XX folders are created inside")
    parser.add_argument("--actors", type=int, default=4, help="actors 1..N (N <= 24)")
    parser.add_argument("--emotions", default="all", help="'all' or a comma list of codes 1-8 or names")
    parser.add_argument("--statements", type=int, default=2, choices=(1, 2))
    parser.add_argument("--repetitions", type=int, default=1, choices=(1, 2))
    parser.add_argument("--intensities", type=int, default=1, choices=(1, 2),
                        help="2 also writes the strong intensity (not for neutral)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--frame-size", type=_frame_size, default=DEFAULT_FRAME_SIZE,
                        help="WxH, e.g. 320x240")
    parser.add_argument("--av", action="store_true", help="also write modality-01 audio-video mp4 files")
    args = parser.parse_args(argv)
    try:
        files = generate_dataset(args.out_dir, args.actors, args.emotions, args.statements, args.repetitions,
                                 args.intensities, args.seed, args.workers, frame_size=args.frame_size,
                                 write_av=args.av)
    except SynthError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {len(files)} files under {args.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
