"""Building blocks of EfficientFace (Zhao et al., AAAI 2021) as used by OpenDR's audiovisual model.

Attribute names (``branch1``, ``gate_c_fc_0``, ``conv1_1`` ...) are part of the checkpoint format:
they must stay identical to OpenDR / EfficientFace so their state_dicts load with ``strict=True``.
"""

import torch
from torch import nn


def depthwise_conv(in_ch: int, out_ch: int, stride: int = 1) -> nn.Conv2d:
    """3x3 grouped conv with one group per input channel (EfficientFace's "depthwise" conv).

    When ``out_ch`` is a multiple of ``in_ch`` each input channel feeds ``out_ch // in_ch`` filters,
    which is how the local feature extractor widens 29 -> 116 channels.
    """
    return nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=False, groups=in_ch)


def shuffle_channels(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """Interleave the channels of two equally wide maps: ``a0, b0, a1, b1, ...``.

    This equals ShuffleNet's ``channel_shuffle(cat(first, second), groups=2)``. It is written so that
    channels-last activations stay channels-last (the shuffle is then a per-pixel reorder of contiguous
    channels), avoiding a memory-format round trip in every inverted-residual unit. ``second`` is a
    fresh conv output, so its layout tells which format the network runs in (``first`` may be a
    channel slice, contiguous in neither).
    """
    n, c, h, w = first.shape
    if second.is_contiguous(memory_format=torch.channels_last):
        pair = torch.stack((first.permute(0, 2, 3, 1), second.permute(0, 2, 3, 1)), dim=4)
        return pair.reshape(n, h, w, 2 * c).permute(0, 3, 1, 2)
    return torch.stack((first, second), dim=2).reshape(n, 2 * c, h, w)


class InvertedResidual(nn.Module):
    """ShuffleNetV2 unit: stride 1 splits the channels in half, stride 2 downsamples through two branches."""

    def __init__(self, in_ch: int, out_ch: int, stride: int) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2, got {stride}")
        half = out_ch // 2
        if stride == 1 and in_ch != out_ch:
            raise ValueError(f"a stride-1 unit keeps its width, got {in_ch} -> {out_ch}")
        self.stride = stride
        if stride == 2:
            self.branch1 = nn.Sequential(
                depthwise_conv(in_ch, in_ch, stride),
                nn.BatchNorm2d(in_ch),
                nn.Conv2d(in_ch, half, 1, bias=False),
                nn.BatchNorm2d(half),
                nn.ReLU(inplace=True),
            )
        self.branch2 = nn.Sequential(
            nn.Conv2d(in_ch if stride == 2 else half, half, 1, bias=False),
            nn.BatchNorm2d(half),
            nn.ReLU(inplace=True),
            depthwise_conv(half, half, stride),
            nn.BatchNorm2d(half),
            nn.Conv2d(half, half, 1, bias=False),
            nn.BatchNorm2d(half),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            kept, processed = x.chunk(2, dim=1)
            return shuffle_channels(kept, self.branch2(processed))
        return shuffle_channels(self.branch1(x), self.branch2(x))


class LocalFeatureExtractor(nn.Module):
    """Processes the four quadrants of the stage-2 input separately (local facial regions).

    OpenDR hard-codes 28-pixel quadrants (224 px input); splitting at half the height/width gives
    the same result at 224 px and lets smaller images run too.
    """

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.relu = nn.ReLU()
        for quadrant in range(1, 5):
            setattr(self, f"conv{quadrant}_1", depthwise_conv(in_ch, out_ch, 2))
            setattr(self, f"bn{quadrant}_1", nn.BatchNorm2d(out_ch))
            setattr(self, f"conv{quadrant}_2", depthwise_conv(out_ch, out_ch, 1))
            setattr(self, f"bn{quadrant}_2", nn.BatchNorm2d(out_ch))

    def _quadrant(self, index: int, patch: torch.Tensor) -> torch.Tensor:
        out = self.relu(getattr(self, f"bn{index}_1")(getattr(self, f"conv{index}_1")(patch)))
        return self.relu(getattr(self, f"bn{index}_2")(getattr(self, f"conv{index}_2")(out)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[2] // 2, x.shape[3] // 2
        # OpenDR's numbering: 1 top-left, 2 bottom-left, 3 top-right, 4 bottom-right.
        left = torch.cat((self._quadrant(1, x[:, :, :h, :w]), self._quadrant(2, x[:, :, h:, :w])), dim=2)
        right = torch.cat((self._quadrant(3, x[:, :, :h, w:]), self._quadrant(4, x[:, :, h:, w:])), dim=2)
        return torch.cat((left, right), dim=3)


class Channel(nn.Module):
    """Channel gate of the modulator: global average pool -> bottleneck MLP (16x reduction)."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = channels // reduction
        self.gate_c = nn.Sequential()
        self.gate_c.add_module("gate_c_fc_0", nn.Linear(channels, hidden))
        self.gate_c.add_module("gate_c_bn_1", nn.BatchNorm1d(hidden))
        self.gate_c.add_module("gate_c_relu_1", nn.ReLU())
        self.gate_c.add_module("gate_c_fc_final", nn.Linear(hidden, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gate_c(x.mean((2, 3)))[:, :, None, None]


class Spatial(nn.Module):
    """Spatial gate of the modulator: 1x1 reduce, two dilated 3x3 convs, 1x1 to a single map."""

    def __init__(self, channels: int, reduction: int = 16, dilation: int = 4) -> None:
        super().__init__()
        hidden = channels // reduction
        self.gate_s = nn.Sequential()
        self.gate_s.add_module("gate_s_conv_reduce0", nn.Conv2d(channels, hidden, 1))
        self.gate_s.add_module("gate_s_bn_reduce0", nn.BatchNorm2d(hidden))
        self.gate_s.add_module("gate_s_relu_reduce0", nn.ReLU())
        for i in range(2):
            self.gate_s.add_module(
                f"gate_s_conv_di_{i}", nn.Conv2d(hidden, hidden, 3, padding=dilation, dilation=dilation)
            )
            self.gate_s.add_module(f"gate_s_bn_di_{i}", nn.BatchNorm2d(hidden))
            self.gate_s.add_module(f"gate_s_relu_di_{i}", nn.ReLU())
        self.gate_s.add_module("gate_s_conv_final", nn.Conv2d(hidden, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gate_s(x)


class Modulator(nn.Module):
    """Channel x spatial attention that re-weights the global (stage-2) features."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channel_att = Channel(channels)
        self.spatial_att = Spatial(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.channel_att(x) * self.spatial_att(x)) * x
