"""VIBE's motion discriminator: GRU over 69-d body poses, self-attention pooling, a linear score.

Keys as `disc_motion_state_dict`: `gru.*` (69 -> 1024, 2 layers), `attention.attention.{0,3,6}`
(Linear 1024->1024, tanh, dropout; Linear 1024->1024, tanh, dropout; Linear 1024->1, tanh,
dropout), `fc` (1024 -> 1). The score is raw (least-squares GAN: real -> 1, fake -> 0).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

BODY_POSE_DIM = 69  # 23 joints x axis-angle, no root, no camera
DEFAULT_HIDDEN = 1024
DEFAULT_LAYERS = 2
ATTENTION_LAYERS = 3
ATTENTION_DROPOUT = 0.2


@dataclass
class DiscriminatorOutput:
    """`score (N, 1)` raw; `attention (N, T)` softmax weights over time (rows sum to one)."""

    score: torch.Tensor
    attention: torch.Tensor


class SelfAttentionPool(nn.Module):
    """Softmax-over-time weights from a small tanh MLP; output = weighted sum of the inputs."""

    def __init__(self, size: int = DEFAULT_HIDDEN, layers: int = ATTENTION_LAYERS, dropout: float = ATTENTION_DROPOUT):
        super().__init__()
        modules: list[nn.Module] = []
        for index in range(layers):
            out_size = 1 if index == layers - 1 else size
            modules += [nn.Linear(size, out_size), nn.Tanh(), nn.Dropout(dropout)]
        self.attention = nn.Sequential(*modules)

    def forward(self, sequence: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`(N, T, C)` -> pooled `(N, C)` and weights `(N, T)`."""
        weights = torch.softmax(self.attention(sequence).squeeze(-1), dim=-1)
        return (sequence * weights.unsqueeze(-1)).sum(dim=1), weights


class MotionDiscriminator(nn.Module):
    """`forward(pose (N, T, 69))` -> raw scores `(N, 1)`; `score_with_attention` also gives the weights."""

    def __init__(self, input_size: int = BODY_POSE_DIM, hidden_size: int = DEFAULT_HIDDEN, num_layers: int = DEFAULT_LAYERS):
        super().__init__()
        self.gru = nn.GRU(input_size, hidden_size, num_layers=num_layers)
        self.attention = SelfAttentionPool(hidden_size)
        self.fc = nn.Linear(hidden_size, 1)

    def score_with_attention(self, pose: torch.Tensor) -> DiscriminatorOutput:
        outputs, _ = self.gru(pose.transpose(0, 1))  # sequence-first, as VIBE
        pooled, weights = self.attention(outputs.transpose(0, 1))
        return DiscriminatorOutput(score=self.fc(pooled), attention=weights)

    def forward(self, pose: torch.Tensor) -> torch.Tensor:
        return self.score_with_attention(pose).score
