"""VIBE's temporal encoder: a one-directional GRU over per-frame ResNet-50 features.

f_t = x_t + W relu(h_t) + b, with h_t the top GRU layer's output (2 layers, 1024 wide,
sequence-first as VIBE's `nn.GRU`) and the hidden state zero at the start of every sequence.
Because the GRU only looks back, frame t's output depends on frames <= t of its sequence only.
"""
from __future__ import annotations

import torch
from torch import nn

DEFAULT_FEATURE_DIM = 2048
DEFAULT_HIDDEN = 1024
DEFAULT_LAYERS = 2


class TemporalEncoder(nn.Module):
    """`(N, T, 2048)` features -> `(N, T, 2048)` temporally refined features (keys `gru.*`, `linear.*`)."""

    def __init__(self, feature_dim: int = DEFAULT_FEATURE_DIM, hidden_size: int = DEFAULT_HIDDEN,
                 num_layers: int = DEFAULT_LAYERS):
        super().__init__()
        self.gru = nn.GRU(input_size=feature_dim, hidden_size=hidden_size, num_layers=num_layers,
                          bidirectional=False)
        self.linear = nn.Linear(hidden_size, feature_dim)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        sequence_first = features.transpose(0, 1)  # (T, N, F): VIBE's GRU is not batch_first
        hidden, _ = self.gru(sequence_first)
        refined = self.linear(torch.relu(hidden)) + sequence_first
        return refined.transpose(0, 1)
