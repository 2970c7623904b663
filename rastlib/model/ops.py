"""Pure tensor functions shared by the model, the losses and the metrics, and the model's padding layers."""
import torch
import torch.nn.functional as F
from torch import nn


def calc_mean_std(feat, eps=1e-5):
    """Per-channel spatial mean and std of [B,C,H,W]; std = sqrt(unbiased var + eps), as in AdaIN/SANet."""
    x = feat.float()  # statistics in fp32, also under bf16 autocast
    mean = x.mean(dim=(2, 3), keepdim=True)
    d = x - mean  # two passes, centred, without reshaping: torch's var over a channels_last tensor copies it first
    var = (d * d).sum(dim=(2, 3), keepdim=True) / (x.shape[2] * x.shape[3] - 1)
    return mean, (var + eps).sqrt()


def mean_variance_norm(feat):
    """mvn(x) = (x − μ) / σ per channel."""
    mean, std = calc_mean_std(feat)
    return (feat - mean) / std


def pad_to_multiple(x, multiple=16):
    """Reflection-pad [B,C,H,W] on the bottom/right to a multiple of `multiple`; returns (padded, (H, W))."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        mode = "reflect" if ph < h and pw < w else "replicate"
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    return x, (h, w)


class ReflectionPad(nn.ReflectionPad2d):
    """nn.ReflectionPad2d that keeps its input's dtype under autocast. CPU autocast runs reflection padding in
    fp32, so in a bf16 pass each pad casts the previous conv's bf16 output up and the next conv casts it back
    down (~22 pads a pass); padding only copies values, so bf16 loses nothing. The same values otherwise."""

    def forward(self, x):
        with torch.autocast(x.device.type, enabled=False):
            return F.pad(x, self.padding, "reflect")


class SlicePad(nn.Module):
    """nn.ReflectionPad2d by slicing and concatenation: the same values, but a backward of plain slice copies
    instead of the atomic adds of the CUDA reflection-pad backward kernel (channels_last had gaps there too:
    pytorch#96738). Slower on a CPU (5-8x on the pads alone); a GPU call's probe may choose it."""

    def __init__(self, padding):
        super().__init__()
        self.padding = (padding,) * 4 if isinstance(padding, int) else tuple(padding)  # left, right, top, bottom

    def forward(self, x):
        left, right, top, bottom = self.padding
        x = torch.cat([x[..., 1:top + 1, :].flip(-2), x, x[..., x.shape[-2] - bottom - 1:-1, :].flip(-2)], dim=-2)
        return torch.cat([x[..., 1:left + 1].flip(-1), x, x[..., x.shape[-1] - right - 1:-1].flip(-1)], dim=-1)


PADDINGS = {"reflect": ReflectionPad, "slice": SlicePad}  # the `padding` option of a model (Config.padding)


def reflection_pad(padding):
    """The model's reflection-padding layer as built (`ReflectionPad`; `use_padding` swaps it afterwards)."""
    return ReflectionPad(padding)


def use_padding(module, kind):
    """Swap every reflection-padding layer inside `module` for `kind`'s (a key of PADDINGS), in place. Padding
    layers have no weights, so the checkpoint a model saves or loads is the same with either."""
    if kind not in PADDINGS:
        raise ValueError(f"padding must be one of {sorted(PADDINGS)}, got {kind!r}")
    for name, child in module.named_children():
        if isinstance(child, tuple(PADDINGS.values())):
            if not isinstance(child, PADDINGS[kind]):
                setattr(module, name, PADDINGS[kind](child.padding))
        else:
            use_padding(child, kind)
    return module
