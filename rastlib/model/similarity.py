"""Pixel similarity metrics (SSIM, PSNR) as pure, differentiable tensor functions.

Inputs are [B,3,H,W] (or one [3,H,W] image) with values in [0, data_range]; both return one value per image,
a [B] tensor. SSIM matches `skimage.metrics.structural_similarity(..., channel_axis=-1, gaussian_weights=True,
sigma=1.5, use_sample_covariance=False)`, the setting of Wang et al. 2004, so our numbers can be checked
against (and compared with) that reference implementation.
"""
import torch
import torch.nn.functional as F

_K1, _K2 = 0.01, 0.03
PSNR_CAP_DB = 100.0


def _pair(a, b):
    """Both images as [B,C,H,W]; a shape mismatch raises ValueError naming both shapes."""
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {tuple(a.shape)} vs {tuple(b.shape)}")
    if a.dim() == 3:
        a, b = a.unsqueeze(0), b.unsqueeze(0)
    if a.dim() != 4:
        raise ValueError(f"expected [B,C,H,W] or [C,H,W] images, got shape {tuple(a.shape)}")
    return a, b


def _gaussian(win_size, sigma, like):
    """The normalised 1-D Gaussian window of `win_size` taps (the ndimage kernel for radius (win_size-1)/2)."""
    x = torch.arange(win_size, dtype=like.dtype, device=like.device) - (win_size - 1) / 2
    g = torch.exp(-0.5 * (x / sigma) ** 2)
    return g / g.sum()


def ssim(a, b, data_range=1.0, win_size=11, sigma=1.5):
    """Mean SSIM of each image pair (Wang et al. 2004), a [B] tensor; 1 for identical images.

    Gaussian-weighted local statistics (population covariance, K1=0.01, K2=0.03), computed per channel with
    valid filtering (only windows that lie wholly inside the image, which is what skimage's reflect-filter-
    then-crop amounts to) and averaged over channels and positions. An image smaller than the window gets
    the largest odd window that fits its shorter side, with the same sigma, so tiny images give a value
    instead of an error (such values are not comparable with skimage, which refuses them).
    """
    a, b = _pair(a, b)
    if win_size < 1 or win_size % 2 == 0:
        raise ValueError(f"win_size must be a positive odd number, got {win_size}")
    n, c, h, w = a.shape
    side = min(h, w)
    win_size = min(win_size, side if side % 2 else side - 1)
    g = _gaussian(win_size, sigma, a)
    planes = torch.cat([a, b, a * a, b * b, a * b], dim=1)  # [B, 5C, H, W]
    k = planes.shape[1]
    planes = F.conv2d(planes, g.view(1, 1, -1, 1).expand(k, 1, -1, 1), groups=k)
    planes = F.conv2d(planes, g.view(1, 1, 1, -1).expand(k, 1, 1, -1), groups=k)
    ux, uy, uxx, uyy, uxy = planes.split(c, dim=1)
    vx, vy, vxy = uxx - ux * ux, uyy - uy * uy, uxy - ux * uy
    c1, c2 = (_K1 * data_range) ** 2, (_K2 * data_range) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    return s.mean(dim=(1, 2, 3))


def psnr(a, b, data_range=1.0):
    """Peak signal-to-noise ratio of each image pair in dB, a [B] tensor.

    Capped at 100 dB (MSE floored at data_range**2 * 1e-10), so identical images give a finite 100 rather
    than inf, and means over a batch stay finite.
    """
    a, b = _pair(a, b)
    mse = (a - b).pow(2).mean(dim=(1, 2, 3))
    floor = data_range ** 2 * 10 ** (-PSNR_CAP_DB / 10)
    return 10 * torch.log10(data_range ** 2 / mse.clamp_min(floor))
