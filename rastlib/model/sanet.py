"""SANet style-attentional transform (Park & Lee 2019), two levels as in RAST's `Transform`.

Module and parameter names follow the official code, so the official `transformer_iter_*.pth` keys load as is.
"""
import torch
import torch.nn.functional as F
from torch import nn

from .ops import mean_variance_norm, reflection_pad


class SANet(nn.Module):
    """O = out_conv(H · softmax(Fᵀ G)ᵀ) + Fc with F = f(mvn Fc), G = g(mvn Fs), H = h(Fs).

    The softmax has no 1/√d temperature (official code). It runs through `scaled_dot_product_attention`
    with scale=1.0, which never materialises the N×N matrix on the fused kernels; `fused = False` computes the
    official softmax(QKᵀ)V with the full matrix instead (for the benchmarks).
    """

    fused = True

    def __init__(self, channels=512):
        super().__init__()
        self.f = nn.Conv2d(channels, channels, 1)
        self.g = nn.Conv2d(channels, channels, 1)
        self.h = nn.Conv2d(channels, channels, 1)
        self.out_conv = nn.Conv2d(channels, channels, 1)

    def forward(self, content, style):
        b, c, hc, wc = content.shape
        q = self.f(mean_variance_norm(content)).flatten(2).transpose(1, 2)  # [B, Nc, C]
        k = self.g(mean_variance_norm(style)).flatten(2).transpose(1, 2)    # [B, Ns, C]
        v = self.h(style).flatten(2).transpose(1, 2)                         # [B, Ns, C]
        if self.fused:  # as one head of [B, heads, N, C]: the 4-D form takes the fused (flash) kernels on CPU too
            o = F.scaled_dot_product_attention(q[:, None], k[:, None], v[:, None], scale=1.0)[:, 0]  # [B, Nc, C]
        else:
            o = torch.softmax(q @ k.transpose(1, 2), dim=-1) @ v             # the N×N matrix, materialised
        o = o.transpose(1, 2).reshape(b, c, hc, wc)
        return self.out_conv(o) + content


def uniform_attention_init(transform):
    """Start a fresh `Transform` with uniform attention and an identity merge conv (a clean content path).

    g (the key projection) is zeroed, so every softmax starts uniform: each SANet adds out_conv(h(mean of the
    style features)) to the content features, a spatially constant, style-dependent shift like AdaIN's mean
    term, and g learns where to attend from there (its gradient is not zero). The merge conv starts as the
    identity (centre tap = I). The official code initialises all of them randomly; then the near one-hot random
    attention scrambles the content features, and on a short CPU budget the decoder learns textures without
    content (see results/demo_checkpoint/record.json).
    """
    with torch.no_grad():
        for sanet in (m for m in transform.modules() if isinstance(m, SANet)):
            sanet.g.weight.zero_()
            sanet.g.bias.zero_()
        w = transform.merge_conv.weight
        w.zero_()
        w[:, :, 1, 1] = torch.eye(w.shape[0])
        transform.merge_conv.bias.zero_()


class Transform(nn.Module):
    """SANet at relu4_1 and relu5_1; the relu5_1 result is upsampled (nearest), added, then a 3×3 merge conv."""

    levels = 5  # encoder taps it needs

    def __init__(self, channels=512):
        super().__init__()
        self.sanet4_1 = SANet(channels)
        self.sanet5_1 = SANet(channels)
        self.merge_conv_pad = reflection_pad(1)
        self.merge_conv = nn.Conv2d(channels, channels, 3)

    def forward(self, content4_1, style4_1, content5_1, style5_1):
        up = F.interpolate(self.sanet5_1(content5_1, style5_1), size=content4_1.shape[-2:], mode="nearest")
        return self.merge_conv(self.merge_conv_pad(self.sanet4_1(content4_1, style4_1) + up))


class SingleLevelTransform(nn.Module):
    """The simplified transform: SANet at relu4_1 only, then the merge conv (no relu5_1 branch).

    The seed's "architectural simplification" keeps only the modules that stylise and restore; this is our
    concrete reading of it (the seed names no module). It needs no relu5_1 features at inference, so the encoder
    stops at relu4_1. Parameter names match `Transform`, so a full model's weights initialise it (sanet5_1 dropped).
    """

    levels = 4  # encoder taps it needs

    def __init__(self, channels=512):
        super().__init__()
        self.sanet4_1 = SANet(channels)
        self.merge_conv_pad = reflection_pad(1)
        self.merge_conv = nn.Conv2d(channels, channels, 3)

    def forward(self, content4_1, style4_1, content5_1=None, style5_1=None):
        return self.merge_conv(self.merge_conv_pad(self.sanet4_1(content4_1, style4_1)))
