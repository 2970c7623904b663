"""Multi-scale LSGAN PatchGAN discriminator (IEContraAST / RAST `MultiDiscriminator`), 3 scales."""
from torch import nn


def _block(cin, cout, normalize=True):
    layers = [nn.Conv2d(cin, cout, 4, stride=2, padding=1)]
    if normalize:
        layers.append(nn.InstanceNorm2d(cout))
    layers.append(nn.LeakyReLU(0.2, inplace=True))
    return layers


class MultiDiscriminator(nn.Module):
    """Three PatchGANs on the image at full, 1/2 and 1/4 resolution (AvgPool 3, stride 2 between scales).

    A scale whose input is under `MIN_SIDE` px is skipped (its last InstanceNorm would see a 1×1 map);
    at the official 256² crops all three scales run.
    """

    MIN_SIDE = 32

    def __init__(self, in_channels=3, scales=3):
        super().__init__()
        self.models = nn.ModuleList(
            nn.Sequential(*_block(in_channels, 64, normalize=False), *_block(64, 128), *_block(128, 256),
                          *_block(256, 512), nn.Conv2d(512, 1, 3, padding=1))
            for _ in range(scales))
        self.downsample = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)

    def forward(self, x):
        outputs = []
        for m in self.models:
            if min(x.shape[-2:]) < self.MIN_SIDE:
                break
            outputs.append(m(x))
            x = self.downsample(x)
        return outputs
