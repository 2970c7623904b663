"""Stylisation for users: colour preservation and several styles at once.

    from rastlib import load_model, load_image
    from rastlib.model.stylize import stylize
    out = stylize(model, content, [style_a, style_b], weights=[0.7, 0.3], preserve_color="luminance")

Colour preservation (Gatys et al., "Preserving color in neural artistic style transfer", 2016):

- "coral": recolour each style image so its pixel mean and covariance equal the content's (CORAL), then stylise;
- "luminance": stylise luminance only (Y of YIQ, as a grey RGB image, for content and styles) and put the
  content's chrominance (I, Q) back.
"""
import torch

from ..errors import ConfigError

COLOR_MODES = ("coral", "luminance")
# RGB → YIQ (NTSC); the rows of its inverse give RGB back.
_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])


def coral(source, target, eps=1e-5):
    """Recolour `source` [B,3,H,W] so its per-image RGB mean and covariance match `target`'s."""
    def stats(x):
        flat = x.flatten(2)                                   # [B, 3, N]
        mean = flat.mean(2, keepdim=True)
        centred = flat - mean
        cov = centred @ centred.transpose(1, 2) / flat.shape[2] + eps * torch.eye(3, device=x.device)
        return mean, centred, cov

    def sqrtm(cov, inverse=False):
        vals, vecs = torch.linalg.eigh(cov)
        vals = vals.clamp_min(eps).pow(-0.5 if inverse else 0.5)
        return vecs @ torch.diag_embed(vals) @ vecs.transpose(1, 2)

    _, s_centred, s_cov = stats(source)
    t_mean, _, t_cov = stats(target)
    out = sqrtm(t_cov) @ sqrtm(s_cov, inverse=True) @ s_centred + t_mean
    return out.view_as(source).clamp(0, 1)


def to_yiq(x):
    return torch.einsum("ij,bjhw->bihw", _YIQ.to(x), x)


def from_yiq(x):
    return torch.einsum("ij,bjhw->bihw", torch.linalg.inv(_YIQ).to(x), x)


def luminance_rgb(x):
    """The luminance Y of YIQ as a grey RGB image [B,3,H,W]."""
    return to_yiq(x)[:, :1].expand(-1, 3, -1, -1).clamp(0, 1)


@torch.no_grad()
def stylize(model, content, styles, weights=None, alpha=1.0, preserve_color=None):
    """T(content, styles) with optional style interpolation and colour preservation; returns [B,3,H,W] in [0,1].

    content: [B,3,H,W] or [3,H,W]; styles: one style tensor or a list (weights: one number each, normalised;
    default equal); alpha: style strength in [0, 1]; preserve_color: None, "coral" or "luminance".
    """
    several = isinstance(styles, (list, tuple))
    content, prepared, finish = _prepare(content, list(styles) if several else [styles], preserve_color)
    out = model.T(content, prepared if several else prepared[0], alpha=alpha, weights=weights if several else None)
    return finish(out)


class AlphaBlend:
    """`stylize(model, content, style, alpha, preserve_color)` for any alpha from one encoding: what the slider
    calls on every move. The transforms of T(c, s) and T(c, c) are computed once; each alpha is then their blend
    and one decoder pass (about a third of a full stylisation)."""

    @torch.no_grad()
    def __init__(self, model, content, style, preserve_color=None):
        self.model = model
        content, (style,), self.finish = _prepare(content, [style], preserve_color)
        with model.inference_autocast():
            content_feats, (style_feats,), self.size = model.encode_inputs(content, [style])
            self.styled = model.transform_features(content_feats, style_feats)
            self.identity = model.transform_features(content_feats, content_feats)

    @torch.no_grad()
    def __call__(self, alpha):
        if not 0.0 <= float(alpha) <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        h, w = self.size
        t = self.styled if alpha == 1.0 else alpha * self.styled + (1.0 - alpha) * self.identity
        with self.model.inference_autocast():
            out = self.model.decoder(t)
        return self.finish(out[..., :h, :w].float())


def _prepare(content, styles, preserve_color):
    """(content, styles, finish) for colour preservation: the inputs the model sees, and what turns its output
    into the result (the content's chrominance put back, for "luminance"; clamping to [0, 1])."""
    if preserve_color not in (None, *COLOR_MODES):
        raise ConfigError(f"preserve_color must be None, 'coral' or 'luminance', got {preserve_color!r}")
    content = content.unsqueeze(0) if content.dim() == 3 else content
    styles = [s.unsqueeze(0) if s.dim() == 3 else s for s in styles]
    if preserve_color == "coral":
        styles = [coral(s.expand(content.shape[0], -1, -1, -1), content) for s in styles]
    if preserve_color != "luminance":
        return content, styles, lambda out: out.clamp(0, 1)
    chroma = to_yiq(content)[:, 1:]

    def finish(out):
        return from_yiq(torch.cat([to_yiq(out)[:, :1], chroma], dim=1)).clamp(0, 1)
    return luminance_rgb(content), [luminance_rgb(s) for s in styles], finish


def output_name(content, style):
    """The output file of a (content, style) pair in a batch: `<content stem>__<style stem>.png`."""
    return f"{content.stem}__{style.stem}.png"
