"""Stylisation for users: colour preservation and several styles at once.

    from rastlib import load_model, load_image
    from rastlib.stylize import stylize
    out = stylize(model, content, [style_a, style_b], weights=[0.7, 0.3], preserve_color="luminance")

Colour preservation (Gatys et al., "Preserving color in neural artistic style transfer", 2016):

- "coral": recolour each style image so its pixel mean and covariance equal the content's (CORAL), then stylise;
- "luminance": stylise luminance only (Y of YIQ, as a grey RGB image, for content and styles) and put the
  content's chrominance (I, Q) back.
"""
import torch

from .errors import ConfigError

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
    if preserve_color not in (None, *COLOR_MODES):
        raise ConfigError(f"preserve_color must be None, 'coral' or 'luminance', got {preserve_color!r}")
    content = content.unsqueeze(0) if content.dim() == 3 else content
    several = isinstance(styles, (list, tuple))
    styles = [s.unsqueeze(0) if s.dim() == 3 else s for s in (styles if several else [styles])]
    if preserve_color == "coral":
        styles = [coral(s.expand(content.shape[0], -1, -1, -1), content) for s in styles]
    elif preserve_color == "luminance":
        content_yiq = to_yiq(content)
        content, styles = luminance_rgb(content), [luminance_rgb(s) for s in styles]
    out = model.T(content, styles if several else styles[0], alpha=alpha, weights=weights if several else None)
    if preserve_color == "luminance":
        y = to_yiq(out)[:, :1]
        out = from_yiq(torch.cat([y, content_yiq[:, 1:]], dim=1))
    return out.clamp(0, 1)


def output_name(content, style):
    """The output file of a (content, style) pair in a batch: `<content stem>__<style stem>.png`."""
    return f"{content.stem}__{style.stem}.png"


def stylize_folder(model, content_dir, style_dir, out_dir, size=512, max_size=2048, alpha=1.0, preserve_color=None,
                   progress=True):
    """Every content × every style → `out_dir/<content>__<style>.png`, plus `contact_sheet.png`.

    Resumable: a pair whose output exists is skipped (outputs are written atomically, so an existing file is
    whole). An unreadable image is skipped with one warning and counted. Returns the counts.
    """
    import warnings
    from pathlib import Path

    from tqdm.auto import tqdm

    from .data import list_images, load_image, save_image
    from .errors import ImageError
    from .viz import contact_sheet
    contents, styles = list_images(content_dir), list_images(style_dir)
    out_dir = Path(out_dir)
    counts = {"written": 0, "existing": 0, "unreadable": 0}
    loaded, bad = {}, set()

    def load(path):  # styles stay loaded (every content uses them); None for an unreadable file
        if path not in loaded and path not in bad:
            try:
                loaded[path] = load_image(path, size=size, max_size=max_size)
            except ImageError as e:
                bad.add(path)
                counts["unreadable"] += 1
                warnings.warn(f"skipping unreadable image: {e}", stacklevel=3)
        return loaded.get(path)

    for c in tqdm(contents, desc="contents", disable=not progress):
        todo = [s for s in styles if not (out_dir / output_name(c, s)).exists()]
        counts["existing"] += len(styles) - len(todo)
        content = load(c) if todo else None
        for s in todo if content is not None else []:
            style = load(s)
            if style is not None:
                out = stylize(model, content, style, alpha=alpha, preserve_color=preserve_color)
                save_image(out[0].cpu(), out_dir / output_name(c, s))
                counts["written"] += 1
        loaded.pop(c, None)
    contact_sheet(out_dir, [c for c in contents if c not in bad], [s for s in styles if s not in bad],
                  out_dir / "contact_sheet.png")
    return counts
