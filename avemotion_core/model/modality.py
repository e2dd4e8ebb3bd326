"""Modality dropout for training and the degraded-input evaluation modes of arXiv 2201.11095.

Both follow OpenDR's trainer exactly (which modality is zeroed / replaced by N(0, 1) noise, the
0.00..0.99 mixing coefficients, the shuffle), except that new tensors are created on the inputs'
device and dtype and an optional generator makes the randomness reproducible.
"""

import torch

from avemotion_core.modes import DROPOUT_MODES, EVAL_MODES


def _check(mode: str, valid: tuple[str, ...], what: str) -> None:
    if mode not in valid:
        raise ValueError(f"unknown {what} {mode!r}; valid choices: {', '.join(valid)}")


def _randn_like(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    return torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)


def modality_dropout(
    audio: torch.Tensor,
    video: torch.Tensor,
    target: torch.Tensor,
    mode: str,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Expand a training batch so the model also learns from missing or noisy modalities.

    - ``nodrop``: inputs returned unchanged.
    - ``noisedrop``: 3B items, shuffled: originals; audio replaced by N(0, 1); video replaced by N(0, 1).
    - ``zerodrop``: 4B items, shuffled: originals; audio x c with video x (1 - c), c in {0, .01, ..., .99}
      per item; audio zeroed; video zeroed.

    ``audio`` is (B, 10, T), ``video`` (B, 3, frames, H, W), ``target`` (B,). Gradients are not needed
    through this step (OpenDR runs it under no_grad). A ``generator`` must live on the inputs' device.
    """
    _check(mode, DROPOUT_MODES, "modality dropout mode")
    if not audio.shape[0] == video.shape[0] == target.shape[0]:
        raise ValueError(
            "audio, video and target batch sizes differ: "
            f"{audio.shape[0]}, {video.shape[0]}, {target.shape[0]}"
        )
    if mode == "nodrop":
        return audio, video, target
    if mode == "noisedrop":
        audio = torch.cat((audio, _randn_like(audio, generator), audio))
        video = torch.cat((video, video, _randn_like(video, generator)))
        target = target.repeat(3)
    else:
        batch = audio.shape[0]
        coeff = torch.randint(0, 100, (batch,), generator=generator, device=audio.device) / 100
        audio_coeff = coeff.to(audio.dtype).view(batch, *([1] * (audio.ndim - 1)))
        video_coeff = (1 - coeff).to(video.dtype).view(batch, *([1] * (video.ndim - 1)))
        audio = torch.cat((audio, audio * audio_coeff, torch.zeros_like(audio), audio))
        video = torch.cat((video, video * video_coeff, video, torch.zeros_like(video)))
        target = target.repeat(4)
    order = torch.randperm(audio.shape[0], generator=generator, device=audio.device)
    return audio[order], video[order], target[order]


def apply_eval_mode(
    audio: torch.Tensor,
    video: torch.Tensor,
    mode: str = "audiovisual",
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Simulate a missing or corrupted modality at evaluation time.

    ``audiovisual`` leaves both inputs untouched; ``onlyaudio`` / ``onlyvideo`` zero the other
    modality; ``noisyvideo`` / ``noisyaudio`` replace that modality by N(0, 1) noise (drawn from
    ``generator`` when given, which must live on the inputs' device).
    """
    _check(mode, EVAL_MODES, "evaluation mode")
    if mode == "onlyaudio":
        video = torch.zeros_like(video)
    elif mode == "onlyvideo":
        audio = torch.zeros_like(audio)
    elif mode == "noisyvideo":
        video = _randn_like(video, generator)
    elif mode == "noisyaudio":
        audio = _randn_like(audio, generator)
    return audio, video
