"""The AdaIN/SANet decoder: a mirror of VGG19 from relu4_1 back to RGB (no output activation).

Same Sequential layout as the official code, so `decoder_iter_*.pth` keys ('1.weight', …) load as is.
"""
from torch import nn

from .ops import reflection_pad


def make_decoder():
    """512 → 256, ×2 up, 256 ×3, → 128, ×2 up, 128, → 64, ×2 up, 64, → 3; reflection-padded 3×3 convs."""
    def conv(cin, cout, relu=True):
        return [reflection_pad(1), nn.Conv2d(cin, cout, 3)] + ([nn.ReLU()] if relu else [])

    def up():
        return [nn.Upsample(scale_factor=2, mode="nearest")]

    return nn.Sequential(
        *conv(512, 256), *up(),
        *conv(256, 256), *conv(256, 256), *conv(256, 256), *conv(256, 128), *up(),
        *conv(128, 128), *conv(128, 64), *up(),
        *conv(64, 64), *conv(64, 3, relu=False),
    )
