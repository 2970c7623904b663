"""Pure tensor functions shared by the model, the losses and the metrics (no state)."""
import torch
import torch.nn.functional as F


def calc_mean_std(feat, eps=1e-5):
    """Per-channel spatial mean and std of [B,C,H,W]; std = sqrt(unbiased var + eps), as in AdaIN/SANet."""
    b, c = feat.shape[:2]
    flat = feat.reshape(b, c, -1)
    std = (flat.var(dim=2) + eps).sqrt().view(b, c, 1, 1)
    return flat.mean(dim=2).view(b, c, 1, 1), std


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
