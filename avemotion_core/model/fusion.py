"""Cross-modal attention used by the three fusion variants of arXiv 2201.11095 (single head).

``av`` always takes audio as queries and video as keys, ``va`` the reverse. Layer names (``q``, ``kv``,
``proj``, ``norm1_q`` ...) follow OpenDR's timm-derived code so its checkpoints load strictly.
"""

import torch
from torch import nn

from avemotion_core.modes import FUSIONS

AUDIO_DIM = 128  # audio stage-1 and stage-2 width
VIDEO_STAGE1_DIM = 64
VIDEO_STAGE2_DIM = 128


class Attention(nn.Module):
    """Single-head cross-attention from ``x_q`` (B, Nq, Cq) to ``x_k`` (B, Nk, Ck)."""

    def __init__(self, in_dim_k: int, in_dim_q: int, out_dim: int) -> None:
        super().__init__()
        self.out_dim = out_dim
        self.scale = out_dim**-0.5
        self.q = nn.Linear(in_dim_q, out_dim, bias=False)
        self.kv = nn.Linear(in_dim_k, out_dim * 2, bias=False)  # rows [:out_dim] = keys, rest = values
        self.proj = nn.Linear(out_dim, out_dim)

    def attention_map(self, x_k: torch.Tensor, x_q: torch.Tensor) -> torch.Tensor:
        """Softmax(q k^T / sqrt(d)) of shape (B, Nq, Nk); computes keys only, not values."""
        keys = nn.functional.linear(x_k, self.kv.weight[: self.out_dim])
        return torch.softmax((self.q(x_q) @ keys.transpose(1, 2)) * self.scale, dim=-1)

    def forward(self, x_k: torch.Tensor, x_q: torch.Tensor) -> torch.Tensor:
        """Attended values, projected: (B, Nq, out_dim)."""
        keys, values = self.kv(x_k).chunk(2, dim=-1)
        attn = torch.softmax((self.q(x_q) @ keys.transpose(1, 2)) * self.scale, dim=-1)
        return self.proj(attn @ values)


class Mlp(nn.Module):
    """Two-layer GELU MLP."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class AttentionBlock(nn.Module):
    """Pre-norm cross-attention followed by a residual MLP (ratio 2).

    As in OpenDR there is no residual around the attention itself; the caller adds one (``it``) or
    pools the output directly (``lt``).
    """

    def __init__(self, in_dim_k: int, in_dim_q: int, out_dim: int, mlp_ratio: float = 2.0) -> None:
        super().__init__()
        self.norm1_q = nn.LayerNorm(in_dim_q)
        self.norm1_k = nn.LayerNorm(in_dim_k)
        self.attn = Attention(in_dim_k, in_dim_q, out_dim)
        self.norm2 = nn.LayerNorm(out_dim)
        self.mlp = Mlp(out_dim, int(out_dim * mlp_ratio))

    def forward(self, x_k: torch.Tensor, x_q: torch.Tensor) -> torch.Tensor:
        x = self.attn(self.norm1_k(x_k), self.norm1_q(x_q))
        return x + self.mlp(self.norm2(x))


def build_fusion(fusion: str) -> tuple[nn.Module, nn.Module]:
    """The (av, va) pair for one fusion type: audio->video and video->audio attention."""
    if fusion == "ia":
        return (
            Attention(VIDEO_STAGE1_DIM, AUDIO_DIM, AUDIO_DIM),
            Attention(AUDIO_DIM, VIDEO_STAGE1_DIM, VIDEO_STAGE1_DIM),
        )
    if fusion == "it":
        return (
            AttentionBlock(VIDEO_STAGE1_DIM, AUDIO_DIM, AUDIO_DIM),
            AttentionBlock(AUDIO_DIM, VIDEO_STAGE1_DIM, VIDEO_STAGE1_DIM),
        )
    if fusion == "lt":
        return (
            AttentionBlock(VIDEO_STAGE2_DIM, AUDIO_DIM, AUDIO_DIM),
            AttentionBlock(AUDIO_DIM, VIDEO_STAGE2_DIM, AUDIO_DIM),
        )
    raise ValueError(f"unknown fusion {fusion!r}; valid choices: {', '.join(FUSIONS)}")
