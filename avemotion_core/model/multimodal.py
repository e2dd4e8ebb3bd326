"""``MultiModalCNN``: the audiovisual emotion model of arXiv 2201.11095, state_dict-compatible with OpenDR."""

from pathlib import Path

import torch
from torch import nn

from avemotion_core.labels import MFCC_FRAMES, N_MFCC, SEQ_LENGTH
from avemotion_core.model.audio_branch import AudioCNNPool
from avemotion_core.model.efficientface import SIZE_MULTIPLE, EfficientFaceTemporal
from avemotion_core.model.frame_checkpoint import checkpointed_features
from avemotion_core.model.fusion import AUDIO_DIM, FUSIONS, build_fusion
from avemotion_core.model.pretrained import load_efficientface


class MultiModalCNN(nn.Module):
    """Audio CNN + per-frame EfficientFace/temporal CNN, joined by ``ia``, ``it`` or ``lt`` fusion.

    ``forward(audio (B, 10, 156), video (B, 3, seq_length, H, W) in [0, 1]) -> logits (B, num_classes)``.
    H = W must be a multiple of 32 (224 for the published weights; smaller sizes for fast tests).
    """

    def __init__(
        self,
        num_classes: int = 8,
        fusion: str = "ia",
        seq_length: int = SEQ_LENGTH,
        pretr_ef: str | Path | None = None,
    ) -> None:
        super().__init__()
        if fusion not in FUSIONS:
            raise ValueError(f"unknown fusion {fusion!r}; valid choices: {', '.join(FUSIONS)}")
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
        if isinstance(seq_length, bool) or not isinstance(seq_length, int) or seq_length < 1:
            raise ValueError(f"seq_length must be a positive int, got {seq_length!r}")
        # Registration order matches OpenDR so parameters() (and optimizer state) line up too.
        self.audio_model = AudioCNNPool(num_classes=num_classes, n_mfcc=N_MFCC)
        self.visual_model = EfficientFaceTemporal(num_classes=num_classes, seq_length=seq_length)
        self.fusion = fusion
        self.seq_length = seq_length
        self.num_classes = num_classes
        # Recompute the backbone's activations in backward instead of keeping them (training only;
        # a plain attribute, not state: the state_dict and every output stay the same).
        self.checkpoint_frames = False
        if pretr_ef is not None:
            load_efficientface(self.visual_model, pretr_ef)
        self.av, self.va = build_fusion(fusion)
        self.classifier = nn.Sequential(nn.Linear(2 * AUDIO_DIM, num_classes))

    def check_inputs(self, audio: torch.Tensor, video: torch.Tensor) -> None:
        """Raise ValueError/TypeError describing the first way the inputs break the data contract."""
        for name, tensor in (("audio", audio), ("video", video)):
            if not isinstance(tensor, torch.Tensor):
                raise TypeError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}")
            if not tensor.is_floating_point():
                raise TypeError(f"{name} must be a floating-point tensor, got {tensor.dtype}")
        if audio.ndim != 3 or tuple(audio.shape[1:]) != (N_MFCC, MFCC_FRAMES):
            raise ValueError(
                f"audio must be MFCCs of shape (B, {N_MFCC}, {MFCC_FRAMES}), got {tuple(audio.shape)}"
            )
        if video.ndim != 5 or video.shape[1] != 3 or video.shape[2] != self.seq_length:
            raise ValueError(
                f"video must have shape (B, 3, {self.seq_length}, H, W) (RGB, {self.seq_length} frames), "
                f"got {tuple(video.shape)}"
            )
        height, width = video.shape[3], video.shape[4]
        if height != width or height % SIZE_MULTIPLE or height == 0:
            raise ValueError(
                f"video frames must be square with a side that is a positive multiple of {SIZE_MULTIPLE} "
                f"(224 for the published weights), got {height}x{width}"
            )
        if audio.shape[0] != video.shape[0] or audio.shape[0] == 0:
            raise ValueError(
                f"audio and video must hold the same non-zero number of items, got {audio.shape[0]} "
                f"and {video.shape[0]}"
            )

    def forward(self, audio: torch.Tensor, video: torch.Tensor) -> torch.Tensor:
        """Logits for whole windows: every frame through the 2-D backbone, then the window head.

        Training and parity use this; a stream computes :meth:`forward_frames` once per frame and
        reuses the features in every window that contains the frame (``avemotion_core.stream``).
        """
        # Shape checks are Python control flow: a traced module would freeze them (with warnings)
        # rather than run them, so callers of an exported model use check_inputs() themselves.
        if not torch.jit.is_tracing():
            self.check_inputs(audio, video)
        batch, _, frames, height, width = video.shape
        # Clip-major frame batch (B*T, 3, H, W), the layout OpenDR's forward expects.
        flat = video.transpose(1, 2).reshape(batch * frames, 3, height, width)
        return self.forward_head(audio, self.forward_frames(flat).reshape(batch, frames, -1))

    def forward_frames(self, frames: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) frames in [0, 1] -> (N, 1024) EfficientFace features, each frame on its own.

        Strictly per frame in eval mode (BatchNorm uses running statistics; the modulator's pooling
        and the channel shuffles are per sample): frames first mix in the temporal convolutions.
        With ``checkpoint_frames`` a training forward keeps only segment boundaries
        (``frame_checkpoint``); eval, inference and tracing never take that path.
        """
        if self.visual_model.conv1[0].weight.is_contiguous(memory_format=torch.channels_last):
            frames = frames.contiguous(memory_format=torch.channels_last)
        if self.checkpoint_frames and self.training and torch.is_grad_enabled():
            return checkpointed_features(self.visual_model, frames)
        return self.visual_model.forward_features(frames)

    def forward_head(self, audio: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        """MFCC (B, 10, 156) + per-frame features (B, seq_length, 1024) -> logits (B, num_classes).

        The audio branch, the temporal stages, the fusion and the classifier: everything in the model
        that looks at more than one frame.
        """
        audio_feats = self.audio_model.forward_stage1(audio)
        video_feats = self.visual_model.forward_stage1(features.reshape(-1, features.shape[-1]))
        if self.fusion == "ia":
            return self._intermediate_attention(audio_feats, video_feats)
        if self.fusion == "it":
            return self._intermediate_transformer(audio_feats, video_feats)
        return self._late_transformer(audio_feats, video_feats)

    def _head(self, audio_pooled: torch.Tensor, video_pooled: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.cat((audio_pooled, video_pooled), dim=-1))

    def _intermediate_attention(self, audio: torch.Tensor, video: torch.Tensor) -> torch.Tensor:
        """Each modality's stage-1 features are scaled per time step by how much the other attends to them."""
        audio_seq, video_seq = audio.transpose(1, 2), video.transpose(1, 2)
        video_weight = self.av.attention_map(video_seq, audio_seq).sum(1)  # (B, T_video)
        audio_weight = self.va.attention_map(audio_seq, video_seq).sum(1)  # (B, T_audio)
        audio = self.audio_model.forward_stage2(audio * audio_weight.unsqueeze(1))
        video = self.visual_model.forward_stage2(video * video_weight.unsqueeze(1))
        return self._head(audio.mean(-1), video.mean(-1))

    def _intermediate_transformer(self, audio: torch.Tensor, video: torch.Tensor) -> torch.Tensor:
        """Cross-attention transformer outputs are added to the stage-1 features of the querying modality."""
        audio_seq, video_seq = audio.transpose(1, 2), video.transpose(1, 2)
        audio = audio + self.av(video_seq, audio_seq).transpose(1, 2)
        video = video + self.va(audio_seq, video_seq).transpose(1, 2)
        audio = self.audio_model.forward_stage2(audio)
        video = self.visual_model.forward_stage2(video)
        return self._head(audio.mean(-1), video.mean(-1))

    def _late_transformer(self, audio: torch.Tensor, video: torch.Tensor) -> torch.Tensor:
        """Both branches run to the end; cross-attention outputs are pooled over time."""
        audio_seq = self.audio_model.forward_stage2(audio).transpose(1, 2)
        video_seq = self.visual_model.forward_stage2(video).transpose(1, 2)
        return self._head(self.av(video_seq, audio_seq).mean(1), self.va(audio_seq, video_seq).mean(1))
