"""Visual branch: EfficientFace applied to every frame, then a 1-D temporal CNN over the frame features."""

import torch
from torch import nn

from avemotion_core.model.efficientface_blocks import InvertedResidual, LocalFeatureExtractor, Modulator

# EfficientFace widths (conv1, stage2, stage3, stage4, conv5) and stage depths.
STAGE_CHANNELS = (29, 116, 232, 464, 1024)
STAGE_REPEATS = (4, 8, 4)
# Sub-modules that make up the per-frame 2-D network, i.e. what an EfficientFace checkpoint provides.
FRAME_MODULES = ("conv1", "stage2", "stage3", "stage4", "local", "modulator", "conv5")
# The 2-D network downsamples by 32 and splits the 1/4-scale map into quadrants.
SIZE_MULTIPLE = 32


def temporal_block(in_ch: int, out_ch: int) -> nn.Sequential:
    """Conv1d(k3, 'same' padding) + BN + ReLU over the frame axis."""
    return nn.Sequential(
        nn.Conv1d(in_ch, out_ch, 3, padding=1), nn.BatchNorm1d(out_ch), nn.ReLU(inplace=True)
    )


class EfficientFaceTemporal(nn.Module):
    """Per-frame EfficientFace features (1024-d) followed by two temporal stages (64-d, then 128-d).

    The stages are exposed separately because the fusion blocks sit between them.
    """

    def __init__(self, num_classes: int = 8, seq_length: int = 15) -> None:
        super().__init__()
        width = STAGE_CHANNELS[0]
        self.conv1 = nn.Sequential(
            nn.Conv2d(3, width, 3, 2, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True)
        )
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        for name, repeats, out_ch in zip(
            ("stage2", "stage3", "stage4"), STAGE_REPEATS, STAGE_CHANNELS[1:4], strict=True
        ):
            units = [InvertedResidual(width, out_ch, 2)]
            units += [InvertedResidual(out_ch, out_ch, 1) for _ in range(repeats - 1)]
            setattr(self, name, nn.Sequential(*units))
            width = out_ch
        self.local = LocalFeatureExtractor(STAGE_CHANNELS[0], STAGE_CHANNELS[1])
        self.modulator = Modulator(STAGE_CHANNELS[1])
        self.conv5 = nn.Sequential(
            nn.Conv2d(width, STAGE_CHANNELS[4], 1, bias=False),
            nn.BatchNorm2d(STAGE_CHANNELS[4]),
            nn.ReLU(inplace=True),
        )
        self.conv1d_0 = temporal_block(STAGE_CHANNELS[4], 64)
        self.conv1d_1 = temporal_block(64, 64)
        self.conv1d_2 = temporal_block(64, 128)
        self.conv1d_3 = temporal_block(128, 128)
        # Unused by the fused model; kept so OpenDR state_dicts load strictly.
        self.classifier = nn.Sequential(nn.Linear(128, num_classes))
        self.seq_length = seq_length

    def forward_features(self, frames: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) frames -> (N, 1024) pooled EfficientFace features."""
        x = self.maxpool(self.conv1(frames))
        x = self.modulator(self.stage2(x)) + self.local(x)
        x = self.conv5(self.stage4(self.stage3(x)))
        return x.mean((2, 3))

    def forward_stage1(self, features: torch.Tensor) -> torch.Tensor:
        """(B * seq_length, 1024) clip-major frame features -> (B, 64, seq_length)."""
        x = features.reshape(-1, self.seq_length, features.shape[1]).transpose(1, 2)
        return self.conv1d_1(self.conv1d_0(x))

    def forward_stage2(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 64, T) -> (B, 128, T)."""
        return self.conv1d_3(self.conv1d_2(x))
