"""Audio branch: a small 1-D CNN over the MFCC sequence (OpenDR's ``AudioCNNPool``)."""

import torch
from torch import nn


def audio_block(in_ch: int, out_ch: int) -> nn.Sequential:
    """Conv1d(k3, no padding) + BN + ReLU + MaxPool1d(2, stride 1): each block shortens time by 3."""
    return nn.Sequential(
        nn.Conv1d(in_ch, out_ch, 3), nn.BatchNorm1d(out_ch), nn.ReLU(inplace=True), nn.MaxPool1d(2, 1)
    )


class AudioCNNPool(nn.Module):
    """MFCC (B, 10, T) -> stage 1 (B, 128, T-6) -> stage 2 (B, 128, T-12); split for the fusion blocks."""

    def __init__(self, num_classes: int = 8, n_mfcc: int = 10) -> None:
        super().__init__()
        self.conv1d_0 = audio_block(n_mfcc, 64)
        self.conv1d_1 = audio_block(64, 128)
        self.conv1d_2 = audio_block(128, 256)
        self.conv1d_3 = audio_block(256, 128)
        # Unused by the fused model; kept so OpenDR state_dicts load strictly.
        self.classifier = nn.Sequential(nn.Linear(128, num_classes))

    def forward_stage1(self, mfcc: torch.Tensor) -> torch.Tensor:
        return self.conv1d_1(self.conv1d_0(mfcc))

    def forward_stage2(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv1d_3(self.conv1d_2(x))
