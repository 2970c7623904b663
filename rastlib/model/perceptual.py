"""LPIPS perceptual distance that works offline.

The `lpips` package ships only its linear calibration heads; its ImageNet backbone (vgg16 / alexnet) comes from
torchvision's download, which hangs or fails offline. So `load_lpips` picks a backend:

- "lpips":   real LPIPS v0.1, only when the torchvision backbone file is already in the torch hub cache
             (`torch.hub.get_dir()/checkpoints`, i.e. `$TORCH_HOME/hub/checkpoints`); checked before building,
             so nothing ever tries the network.
- "stlpips": ST-LPIPS (shift-tolerant LPIPS, Ghildyal & Liu 2022, package `stlpips-pytorch`), whose whole
             network ships in the wheel: fully offline, pretrained, but not numerically comparable with LPIPS.
- "auto":    "lpips" when its backbone file is present, else "stlpips"; `.backend` says which one it is.
- "random":  LPIPS heads on a randomly initialised backbone: exercises the code path only, never chosen silently.

Both packages take images in [-1, 1] unless called with `normalize=True` (which maps [0, 1] to [-1, 1]) and return
[B,1,1,1]; `PerceptualDistance` takes [0, 1] images and returns [B].
"""
import contextlib
import io
import os
import warnings

import torch
import torch.nn as nn
import torch.nn.functional as F

from .._compat import import_torchvision
from ..errors import ConfigError, RastError

BACKENDS = ("auto", "lpips", "stlpips", "random")
NETS = ("vgg", "alex")
BACKBONE_FILES = {"vgg": "vgg16-397923af.pth", "alex": "alexnet-owt-7be5be79.pth"}
MIN_SIDE = 32  # smallest side every backbone accepts: lpips-alex needs 31, stlpips-alex 21, stlpips-vgg 18, vgg 16

_CACHE = {}


class PerceptualDistance(nn.Module):
    """A frozen LPIPS-style network: forward(a, b) on [0, 1] images gives a [B] tensor of distances.

    Parameters never require grad and the module stays in eval mode (`train()` is a no-op), but gradients flow
    to the inputs, so it serves as a training loss. Images with a side under MIN_SIDE px are bilinearly upsampled
    (aspect kept) so the shorter side is MIN_SIDE, since the backbones' pooling stages cannot take smaller inputs.
    """

    def __init__(self, net, backend):
        super().__init__()
        self.net = net
        self.backend = backend
        for p in self.parameters():
            p.requires_grad_(False)
        self.train(False)

    def train(self, mode=True):
        """Always eval: dropout in the heads must stay off, even inside a model put in training mode."""
        return super().train(False)

    def features(self, x):
        """The backbone's five taps of [B,3,H,W] images in [0, 1] (the layers LPIPS compares): a second network,
        independent of the training VGG19, for style statistics (`metrics.diagnose`)."""
        net = self.net
        return net.net.forward(net.scaling_layer(2 * x - 1))

    def forward(self, a, b):
        if a.shape != b.shape:
            raise ValueError(f"images differ in shape: {tuple(a.shape)} vs {tuple(b.shape)}")
        if a.dim() == 3:
            a, b = a.unsqueeze(0), b.unsqueeze(0)
        if a.dim() != 4 or a.shape[1] != 3:
            raise ValueError(f"expected [B,3,H,W] or [3,H,W] images, got shape {tuple(a.shape)}")
        h, w = a.shape[-2:]
        if min(h, w) < MIN_SIDE:
            scale = MIN_SIDE / min(h, w)
            size = (max(MIN_SIDE, round(h * scale)), max(MIN_SIDE, round(w * scale)))
            a = F.interpolate(a, size=size, mode="bilinear", align_corners=False)
            b = F.interpolate(b, size=size, mode="bilinear", align_corners=False)
        return self.net(a, b, normalize=True).reshape(a.shape[0])


def backbone_path(net="vgg"):
    """Where torchvision looks for the ImageNet backbone of LPIPS `net` (it may not exist)."""
    return os.path.join(torch.hub.get_dir(), "checkpoints", BACKBONE_FILES[net])


def resolve_backend(backend="auto", net="vgg"):
    """The backend `load_lpips(backend, net)` builds ("auto" resolved by the backbone file's presence), without
    building it."""
    if backend == "auto":
        return "lpips" if os.path.isfile(backbone_path(net)) else "stlpips"
    return backend


def load_lpips(backend="auto", net="vgg"):
    """The PerceptualDistance for `backend` and `net` ("vgg" or "alex"), built once and then shared.

    The instance is cached per resolved backend and net, so `.to(device)` on it moves it for every holder.
    Raises ConfigError for an unknown backend or net, RastError when the backend cannot load.
    """
    if backend not in BACKENDS:
        raise ConfigError(f"unknown LPIPS backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if net not in NETS:
        raise ConfigError(f"unknown LPIPS net {net!r}; choose one of {', '.join(NETS)}")
    backend = resolve_backend(backend, net)
    key = (backend, net)
    if key not in _CACHE:
        _CACHE[key] = _build(backend, net)
    return _CACHE[key]


def _build(backend, net):
    """Construct one backend quietly (the packages print and warn) without touching the caller's RNG."""
    if backend == "lpips":
        path = backbone_path(net)
        if not os.path.isfile(path):
            raise RastError(f"LPIPS backbone weights missing: {path} (put torchvision's {BACKBONE_FILES[net]} "
                            f"there, or set TORCH_HOME to a folder holding hub/checkpoints/{BACKBONE_FILES[net]}; "
                            f"or use the offline backend 'stlpips')")
    import_torchvision()
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings(), torch.random.fork_rng(devices=[]):
        warnings.simplefilter("ignore")
        torch.default_generator.manual_seed(0)  # the "random" backbone is the same on every run
        if backend == "stlpips":
            try:
                from stlpips_pytorch import stlpips
            except ImportError as e:
                raise RastError(f"backend 'stlpips' needs the package stlpips-pytorch and its undeclared imports "
                                f"IPython and torchsummary: {e}") from e
            return PerceptualDistance(stlpips.LPIPS(net=net, variant="shift_tolerant", verbose=False),
                                      f"stlpips-{net} (shift-tolerant, offline)")
        try:
            import lpips
        except ImportError as e:
            raise RastError(f"backend {backend!r} needs the package lpips: {e}") from e
        if backend == "random":
            return PerceptualDistance(lpips.LPIPS(net=net, pnet_rand=True, verbose=False),
                                      f"lpips-{net} RANDOM backbone (code path only)")
        try:
            model = lpips.LPIPS(net=net, verbose=False)
        except Exception as e:  # the file is there but torch cannot read it as the backbone
            raise RastError(f"cannot load the LPIPS backbone {backbone_path(net)}: {e}") from e
        return PerceptualDistance(model, f"lpips-{net} (v0.1)")
