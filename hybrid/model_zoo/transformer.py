"""A pre-LayerNorm transformer encoder block: x + MHA(LN(x)), then + MLP(LN(.)) with GELU."""
from __future__ import annotations

import math

from ..frontend import np, npx, nn


class MultiHeadAttention(nn.HybridBlock):
    def __init__(self, d_model: int, heads: int):
        super().__init__()
        if d_model % heads:
            raise ValueError(f"d_model {d_model} is not divisible by heads {heads}")
        self.heads = heads
        self.qkv = nn.Dense(3 * d_model, flatten=False, in_units=d_model)
        self.proj = nn.Dense(d_model, flatten=False, in_units=d_model)

    def forward(self, x):
        batch, seq, d = x.shape
        head_dim = d // self.heads
        qkv = np.reshape(self.qkv(x), (batch, seq, 3, self.heads, head_dim))
        qkv = np.transpose(qkv, (2, 0, 3, 1, 4))             # 3, B, H, S, Dh
        q, k, v = qkv[0], qkv[1], qkv[2]
        scores = np.matmul(q, np.swapaxes(k, -1, -2)) * (1.0 / math.sqrt(head_dim))
        attn = np.matmul(npx.softmax(scores, axis=-1), v)     # B, H, S, Dh
        attn = np.reshape(np.transpose(attn, (0, 2, 1, 3)), (batch, seq, d))
        return self.proj(attn)


class TransformerBlock(nn.HybridBlock):
    def __init__(self, d_model: int = 256, heads: int = 4, mlp: int = 1024, dropout: float = 0.0):
        super().__init__()
        self.ln1 = nn.LayerNorm(in_channels=d_model)
        self.attn = MultiHeadAttention(d_model, heads)
        self.ln2 = nn.LayerNorm(in_channels=d_model)
        self.fc1 = nn.Dense(mlp, flatten=False, in_units=d_model)
        self.fc2 = nn.Dense(d_model, flatten=False, in_units=mlp)
        self.drop = nn.Dropout(dropout)

    def forward(self, x):
        x = x + self.drop(self.attn(self.ln1(x)))
        h = npx.gelu(self.fc1(self.ln2(x)), approximate="tanh")
        return x + self.drop(self.fc2(h))
