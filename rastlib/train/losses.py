"""Every loss term of RAST and of the seed paper, each a small named function of a `RestorationGraph`.

Distances (official `net_v19.py`), on the VGG taps φ_1 … φ_5 (relu1_1 … relu5_1):

    Dc(a, b) = Σ_{l∈{4,5}} MSE(mvn φ_l(a), mvn φ_l(b))                      content distance
    Ds(a, b) = Σ_{l=1..5} MSE(μ φ_l(a), μ φ_l(b)) + MSE(σ φ_l(a), σ φ_l(b))   style distance

`LOSS_TERMS` maps each term's name to its function; a run's weights (config.LOSS_PRESETS) use the same names,
weight 0 turns a term off. `SEED_GROUPS` maps the seed paper's groups Lc, Ls, Lr, La, Lid, Lmr, LLPIPS to terms.
"""
import torch
import torch.nn.functional as F

from ..errors import ConfigError
from ..model.ops import calc_mean_std, mean_variance_norm
from ..model.similarity import ssim


def content_distance(fa, fb):
    """Dc: MSE of the mean-variance-normalised relu4_1 and relu5_1 features."""
    return sum(F.mse_loss(mean_variance_norm(fa[l]), mean_variance_norm(fb[l])) for l in (3, 4))


def style_distance(fa, fb):
    """Ds: MSE of the per-channel means plus MSE of the per-channel stds, summed over relu1_1 … relu5_1."""
    total = 0.0
    for a, b in zip(fa, fb):
        (ma, sa), (mb, sb) = calc_mean_std(a), calc_mean_std(b)
        total = total + F.mse_loss(ma, mb) + F.mse_loss(sa, sb)
    return total


# --- restoration (the "replaced" RAST of WACV 2023) -----------------------------------------------------------

def content_transitive(g):
    """Dc(I_c', I_c) + Dc(I_s'', I_s): a restoration keeps the content of the image it restores."""
    return content_distance(g.feats("I_c'"), g.feats("I_c")) + content_distance(g.feats("I_s''"), g.feats("I_s"))


def style_transitive(g):
    """Ds(I_s', I_s) + Ds(I_c'', I_c): a restoration gets back the style of the image it restores."""
    return style_distance(g.feats("I_s'"), g.feats("I_s")) + style_distance(g.feats("I_c''"), g.feats("I_c"))


def content_restoration(g):
    """Dc(I_c', I_c'') + Dc(I_s', I_s''): the right and left restoration branches agree in content."""
    return (content_distance(g.feats("I_c'"), g.feats("I_c''"))
            + content_distance(g.feats("I_s'"), g.feats("I_s''")))


def style_restoration(g):
    """Ds(I_c', I_c'') + Ds(I_s', I_s''): the two branches agree in style."""
    return (style_distance(g.feats("I_c'"), g.feats("I_c''"))
            + style_distance(g.feats("I_s'"), g.feats("I_s''")))


def style_difference(g):
    """1/(Ds(I_o, I_c) + ε) + 1/(Ds(I_o', I_s) + ε): push each output's style away from its content source.

    The official code has no ε (1/Ds); ε (LossSettings.style_difference_eps) guards against division by zero.
    """
    eps = g.settings.style_difference_eps
    return (1.0 / (style_distance(g.feats("I_o"), g.feats("I_c")) + eps)
            + 1.0 / (style_distance(g.feats("I_o'"), g.feats("I_s")) + eps))


def identity_pixel(g):
    """MSE(I_cc, I_c) + MSE(I_ss, I_s): an image stylised by itself comes back unchanged (pixels)."""
    return F.mse_loss(g["I_cc"], g["I_c"]) + F.mse_loss(g["I_ss"], g["I_s"])


def identity_feature(g):
    """Σ_l MSE(φ_l(I_cc), φ_l(I_c)) + MSE(φ_l(I_ss), φ_l(I_s)) on the raw VGG taps."""
    return sum(F.mse_loss(a, b) for x, y in (("I_cc", "I_c"), ("I_ss", "I_s"))
               for a, b in zip(g.feats(x), g.feats(y)))


def info_nce(z, positive, negative, tau):
    """Σ over anchors of the InfoNCE cross-entropy: the positive is target 0 among [positive, negatives].

    z: [B, D] L2-normalised embeddings; positive/negative: disjoint [B, B] boolean masks (an anchor's first
    positive is its positive). Anchors without a positive or without negatives are skipped. All anchors at once,
    by masks: nothing here asks the device for a value (a GPU step runs on without waiting), except the check
    that some anchor counts, made only where the masks are on the CPU (a Trainer refuses a batch too small for
    any).
    """
    first = positive & (positive.cumsum(dim=1) == 1)  # each anchor's first positive, one-hot
    used = first.any(dim=1) & negative.any(dim=1)
    if positive.device.type == "cpu" and not bool(used.any()):
        raise ConfigError("the contrastive losses need a batch with the pair trick (batch_size ≥ 4, even)")
    with torch.autocast(z.device.type, enabled=False):  # fp32: a well-separated anchor's loss is ~1e-2 of its
        z = z.float()                                    # logits (~5), below bf16's resolution there
        sims = z @ z.T / tau
        lse = sims.masked_fill(~(first | negative), float("-inf")).logsumexp(dim=1)
        per_anchor = lse - (sims * first).sum(dim=1)
        return torch.where(used, per_anchor, torch.zeros_like(per_anchor)).sum()


def _pair_masks(g):
    if g.content_ids is None or g.style_ids is None or g.heads is None:
        raise ConfigError("contrastive losses need content_ids, style_ids and projection heads in the graph")
    c, s = g.content_ids, g.style_ids
    same_c, same_s = c[:, None] == c[None], s[:, None] == s[None]
    return same_c, same_s, ~same_c & ~same_s


def contrastive_style(g):
    """InfoNCE on the style embedding of I_o: positive = same style, other content; negatives = both differ."""
    same_c, same_s, negative = _pair_masks(g)
    return info_nce(g.projections()[0], same_s & ~same_c, negative, g.settings.tau)


def contrastive_content(g):
    """InfoNCE on the content embedding of I_o: positive = same content, other style; negatives = both differ."""
    same_c, same_s, negative = _pair_masks(g)
    return info_nce(g.projections()[1], same_c & ~same_s, negative, g.settings.tau)


def lsgan(d, x, target):
    """Σ over the discriminator's scales of mean((D(x) − target)²); target 1 = real, 0 = fake."""
    return sum(torch.mean((out - target) ** 2) for out in d(x))


def adversarial(g):
    """Generator side of LSGAN: D1(I_o) → 1 (looks like a painting), D2(I_o') → 1 (looks like a photo)."""
    return lsgan(g.d_style, g["I_o"], 1.0) + lsgan(g.d_content, g["I_o'"], 1.0)


def discriminator_loss(g):
    """Discriminator side of LSGAN on detached fakes: D1 real I_s / fake I_o, D2 real I_c / fake I_o'."""
    return (lsgan(g.d_style, g["I_s"], 1.0) + lsgan(g.d_style, g["I_o"].detach(), 0.0)
            + lsgan(g.d_content, g["I_c"], 1.0) + lsgan(g.d_content, g["I_o'"].detach(), 0.0))


# --- direct losses of the "combined" variant (TOMM 2024) and of SANet ---------------------------------------

def direct_content(g):
    """Dc(I_o, I_c) + Dc(I_o', I_s): each output keeps the content of its content source."""
    return content_distance(g.feats("I_o"), g.feats("I_c")) + content_distance(g.feats("I_o'"), g.feats("I_s"))


def direct_style(g):
    """Ds(I_o, I_s) + Ds(I_o', I_c): each output takes the style of its style source."""
    return style_distance(g.feats("I_o"), g.feats("I_s")) + style_distance(g.feats("I_o'"), g.feats("I_c"))


# --- the seed paper's new terms -----------------------------------------------------------------------------

def idempotency(g):
    """‖T(T(I_c, I_s), I_s) − T(I_c, I_s)‖² (pixel MSE).

    The target I_o is detached: re-stylising must leave I_o unchanged; gradients flow through both passes of
    the re-stylisation (I_o is its input), not into pulling I_o towards its own re-stylisation.
    """
    return F.mse_loss(g["I_oo"], g["I_o"].detach())


def downscale(x, side):
    """Area-downscale [B,3,H,W] so its shorter side is `side` (no-op when already at most that)."""
    h, w = x.shape[-2:]
    if min(h, w) <= side:
        return x
    r = side / min(h, w)
    return F.interpolate(x, size=(max(1, round(h * r)), max(1, round(w * r))), mode="area")


def multirestoration(g):
    """Σ_r ‖R(S_r(I_o)) − S_r(I_c)‖² with S_r a downscale to r ∈ scales and R(x) = T(x, S_r(I_c)).

    The content restoration must work at low resolution too (the seed's L_mr, scales 256/128/64). Scales at
    or above the training crop are the full resolution; duplicates are counted once. At full resolution
    R(I_o) is I_c' = T(I_o, I_c), which the graph shares with the transitive terms instead of computing it again
    (a step encodes I_o and I_c once fewer and runs the generator once fewer). With `multirestoration_detach`
    the gradient stops at I_o: only the restoring pass R learns, and the stylisation is not pulled towards
    keeping what R needs.
    """
    full = min(g["I_c"].shape[-2:])
    sides = sorted({min(r, full) for r in g.settings.multirestoration_scales}, reverse=True)
    detach = g.settings.multirestoration_detach
    stylised = g["I_o"].detach() if detach else g["I_o"]
    total = 0.0
    for side in sides:
        if side == full and not detach:
            total = total + F.mse_loss(g["I_c'"], g["I_c"])
            continue
        c, o = downscale(g["I_c"], side), downscale(stylised, side)
        with torch.no_grad():
            fc = g.model.encode(c)
        total = total + F.mse_loss(g.decode_transfer(g.model.encode(o), fc), c)
    return total


def restoration_ssim(g):
    """1 − SSIM(I_c', I_c), the batch mean: the full-resolution restoration's local structure, as the bar measures
    it (a term of this kit, not of RAST or the seed). Multirestoration's MSE is mostly colour, which the style
    changes and the restoration must then undo; SSIM weighs structure. In fp32 (a bf16 SSIM is too coarse)."""
    with torch.autocast(g["I_c"].device.type, enabled=False):
        return 1 - ssim(g["I_c'"].float(), g["I_c"].float()).mean()


def lpips(g):
    """LPIPS(I_o, I_c) + LPIPS(I_o', I_s): perceptual distance of each output to its content source (seed L_LPIPS)."""
    return g.perceptual(g["I_o"], g["I_c"]).mean() + g.perceptual(g["I_o'"], g["I_s"]).mean()


LOSS_TERMS = {
    "content_transitive": content_transitive,
    "style_transitive": style_transitive,
    "content_restoration": content_restoration,
    "style_restoration": style_restoration,
    "style_difference": style_difference,
    "identity_pixel": identity_pixel,
    "identity_feature": identity_feature,
    "contrastive_content": contrastive_content,
    "contrastive_style": contrastive_style,
    "adversarial": adversarial,
    "direct_content": direct_content,
    "direct_style": direct_style,
    "idempotency": idempotency,
    "multirestoration": multirestoration,
    "restoration_ssim": restoration_ssim,
    "lpips": lpips,
}

# The seed writes L = λc Lc + λs Ls + λr Lr + λa La + λid Lid + λmr Lmr + λLPIPS LLPIPS. Our mapping
# (identity, contrastive and style difference are always on; the seed does not name them):
SEED_GROUPS = {
    "content": ("direct_content", "content_transitive"),
    "style": ("direct_style", "style_transitive"),
    "restoration": ("content_restoration", "style_restoration"),
    "adversarial": ("adversarial",),
    "idempotency": ("idempotency",),
    "multirestoration": ("multirestoration",),
    "lpips": ("lpips",),
}


# Terms that compare each image only with itself: a run with only these on needs no pair trick.
IDENTITY_TERMS = ("identity_pixel", "identity_feature")


def compute_losses(g, weights):
    """Evaluate every term with a nonzero weight. Returns ({name: unweighted value}, weighted total)."""
    values = {name: LOSS_TERMS[name](g) for name, w in weights.items() if w}
    total = sum(weights[name] * v for name, v in values.items())
    return values, total
