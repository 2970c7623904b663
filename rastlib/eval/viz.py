"""Figures: image grids with column titles, and loss curves from a training log."""
import math
from pathlib import Path

import matplotlib.pyplot as plt
import torch

from ..data import save_image, to_pil
from ..model.stylize import COLOR_MODES, AlphaBlend, output_name, stylize


def _to_numpy(img):
    return img.detach().float().clamp(0, 1).cpu().permute(1, 2, 0).numpy()


def image_grid(rows, titles, path=None, cell=2.2, row_labels=None):
    """A figure of `rows` (each a list of [3,H,W] tensors) under column `titles`; saved to `path` as PNG."""
    n_rows, n_cols = len(rows), len(titles)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(cell * n_cols, cell * n_rows), squeeze=False)
    for r, row in enumerate(rows):
        for c in range(n_cols):
            ax = axes[r][c]
            ax.axis("off")
            if c < len(row) and row[c] is not None:
                ax.imshow(_to_numpy(row[c]))
            if r == 0:
                ax.set_title(titles[c], fontsize=9)
        if row_labels:
            axes[r][0].text(-0.05, 0.5, row_labels[r], transform=axes[r][0].transAxes, rotation=90,
                            va="center", ha="right", fontsize=7)
    fig.tight_layout()
    return _save(fig, path)


NOT_LOSSES = {"step", "lr", "seconds", "skipped", "phase"}  # the keys of a training-log row that are no loss term


def loss_curves(records, path=None, terms=None, smooth=25):
    """One panel per loss term of a training log (list of dicts), with a moving average over `smooth` steps."""
    terms = terms or [k for k in records[0] if k not in NOT_LOSSES]
    cols = min(4, len(terms))
    rows = math.ceil(len(terms) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.4 * rows), squeeze=False)
    steps = [r["step"] for r in records]
    for ax, term in zip(axes.flat, terms):
        vals = torch.tensor([float(r.get(term, float("nan"))) for r in records])
        ax.plot(steps, vals.numpy(), lw=0.5, alpha=0.35)
        if len(vals) >= smooth:
            kernel = torch.ones(smooth) / smooth
            avg = torch.nn.functional.conv1d(vals.view(1, 1, -1), kernel.view(1, 1, -1)).flatten()
            ax.plot(steps[smooth - 1:], avg.numpy(), lw=1.2)
        ax.set_title(term, fontsize=9)
        ax.set_yscale("log" if (vals > 0).all() else "linear")
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(terms):]:
        ax.axis("off")
    fig.tight_layout()
    return _save(fig, path)


def variant_loss_curves(logs, path=None, smooth=25):
    """The training curves of several runs overlaid, one panel per loss term ({label: log records}), moving
    averages over `smooth` steps once a run is long enough: how the variants of a comparison trained."""
    terms = list(dict.fromkeys(k for records in logs.values() for r in records[:1] for k in r if k not in NOT_LOSSES))
    cols = min(4, max(1, len(terms)))
    rows = max(1, math.ceil(len(terms) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.4 * rows), squeeze=False)
    for ax, term in zip(axes.flat, terms):
        for label, records in logs.items():
            pts = [(r["step"], float(r[term])) for r in records if term in r]
            if not pts:
                continue
            steps, vals = zip(*pts)
            vals = torch.tensor(vals)
            if len(vals) >= 2 * smooth:
                vals = torch.nn.functional.conv1d(vals.view(1, 1, -1), torch.ones(1, 1, smooth) / smooth).flatten()
                steps = steps[smooth - 1:]
            ax.plot(steps, vals.numpy(), lw=1.0, marker="." if len(vals) < 5 else None, label=label)
        ax.set_title(term, fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(terms):]:
        ax.axis("off")
    if terms:
        axes.flat[0].legend(fontsize=6)
    fig.tight_layout()
    return _save(fig, path)


PALETTE_COLOURS = 128  # dithered: the committed figures came out 14 % smaller than with 256, the same pictures


def save_light_png(img, path):
    """Save a PIL image to `path` (a file name or a binary stream) as a dithered `PALETTE_COLOURS`-colour PNG:
    3-4× smaller than full colour. Every committed figure is written so, since the committed tree travels
    with each device call (64 MiB in all, tests/test_device_script.py) and the notebooks embed these files."""
    from PIL import Image
    if isinstance(path, (str, Path)):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    img.convert("RGB").quantize(PALETTE_COLOURS, method=Image.Quantize.MEDIANCUT,
                                dither=Image.Dither.FLOYDSTEINBERG).save(path, format="PNG", optimize=True)


def _save(fig, path):
    """Save the figure as a light PNG (`save_light_png`) and close it."""
    if path is not None:
        import io

        from PIL import Image
        buf = io.BytesIO()
        fig.savefig(buf, dpi=110, format="png")
        plt.close(fig)
        save_light_png(Image.open(buf), path)
    return fig


def metric_bars(rows, metrics, path=None, labels=None):
    """One panel per metric: mean ± std over seeds for each variant, the seeds' values as dots."""
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    labels = labels or {}
    fig, axes = plt.subplots(1, len(metrics), figsize=(2.6 * len(metrics), 2.8), squeeze=False)
    for ax, m in zip(axes[0], metrics):
        for i, v in enumerate(variants):
            xs = [r[m] for r in rows if r["variant"] == v and math.isfinite(r[m])]
            mean = sum(xs) / len(xs) if xs else float("nan")
            std = torch.tensor(xs).std().item() if len(xs) > 1 else 0.0
            ax.bar(i, mean, yerr=std, color=f"C{i}", alpha=0.6, capsize=3)
            ax.plot([i] * len(xs), xs, "k.", ms=3)
        ax.set_xticks(range(len(variants)), variants, rotation=60, ha="right", fontsize=7)
        ax.set_title(labels.get(m, m), fontsize=8)
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    return _save(fig, path)


class AlphaSlider:
    """The live style-strength control of 01_baseline: a slider for alpha, a menu of (content, style) pairs and a
    checkbox that keeps the content's colours (luminance-only transfer).

    `pairs` is a list of (name, content [1,3,H,W], style [1,3,H,W]). A pair (with its colour mode) is encoded
    once (`stylize.AlphaBlend`); a move of the slider then only blends and decodes, so the image follows the
    slider while it is dragged (`continuous_update`). `image` holds the current PNG.
    """

    def __init__(self, model, pairs, alpha=1.0):
        import ipywidgets as w
        self.model, self.pairs = model, pairs
        self.slider = w.FloatSlider(value=alpha, min=0.0, max=1.0, step=0.05, description="alpha",
                                    continuous_update=True)
        self.pair = w.Dropdown(options=[(name, i) for i, (name, _, _) in enumerate(pairs)], value=0,
                               description="pair")
        self.preserve_color = w.Checkbox(value=False, description="keep content colours")
        self.image = w.Image(format="png")
        self.controls = [self.slider, self.pair, self.preserve_color]
        self.widget = w.VBox([w.HBox(self.controls), self.image])
        self._blends = {}
        for control in self.controls:
            control.observe(lambda _: self.render(), names="value")
        self.render()

    def blend(self):
        """The `AlphaBlend` of the chosen pair and colour mode (encoded on first use, then kept)."""
        key = (self.pair.value, self.preserve_color.value)
        if key not in self._blends:
            _, content, style = self.pairs[self.pair.value]
            self._blends[key] = AlphaBlend(self.model, content, style,
                                           "luminance" if self.preserve_color.value else None)
        return self._blends[key]

    def render(self):
        import io
        buf = io.BytesIO()
        img = to_pil(self.blend()(self.slider.value)[0].cpu())
        img.save(buf, format="PNG")
        self.image.width = str(img.width)  # its own size: JupyterLab would stretch it to the cell's width
        self.image.value = buf.getvalue()


def _stylised(model, c, s):
    return [model.T(c, s)]


def _repeated(model, c, s):
    o = model.T(c, s).clamp(0, 1)
    oo = model.T(o, s).clamp(0, 1)
    return [o, oo, model.T(oo, s)]


def _restored_low_res(model, c, s, side=64):
    from ..train.losses import downscale
    c, s = downscale(c, side), downscale(s, side)
    return [model.T(model.T(c, s).clamp(0, 1), c)]


# What each model contributes to a row of `variant_figure`: (column titles, function(model, c, s) → images).
VIEWS = {
    "stylised": (["I_o"], _stylised),
    "idempotency": (["I_o = T(c,s)", "T(I_o,s)", "T(T(I_o,s),s)"], _repeated),
    "restoration_64": (["I_c' at 64 px"], _restored_low_res),
}


def variant_figure(views, pairs, view, path=None):
    """Rows = (name, content, style) pairs; columns = content, style, then `view`'s images of each variant
    (`views`: {variant: one list of images per pair}, `experiments.figure_views`)."""
    titles = VIEWS[view][0]
    rows = [[c[0], s[0], *(img for images in views.values() for img in images[i])]
            for i, (_, c, s) in enumerate(pairs)]
    cols = ["content", "style"] + [f"{name}: {t}" for name in views for t in titles]
    return image_grid(rows, cols, path, row_labels=[name for name, _, _ in pairs])


@torch.no_grad()
def save_views(model, pairs, stem, quality=92):
    """Every `VIEWS` image of `model` on (content, style) pairs, one JPEG per view (`stem`_<view>.jpg: a row per
    pair, a column per image); returns {view: file name}. What a run's record keeps for the figures."""
    names = {}
    for view, (_, fn) in VIEWS.items():
        rows = [torch.cat([img[0].clamp(0, 1) for img in fn(model, c, s)], dim=2) for c, s in pairs]
        names[view] = save_image(torch.cat(rows, dim=1), f"{stem}_{view}.jpg", quality=quality).name
    return names


def load_views(path, n_pairs):
    """`save_views`' JPEG back as one list of [3,H,W] images per pair (square tiles)."""
    from ..data import load_image
    grid = load_image(path)
    side = grid.shape[1] // n_pairs
    return [[grid[:, r * side:(r + 1) * side, c * side:(c + 1) * side] for c in range(grid.shape[2] // side)]
            for r in range(n_pairs)]


@torch.no_grad()
def interpolation_strip(model, content, style_a, style_b, path=None, steps=5):
    """content, style A, then T(content, [A, B]) with weights (1, 0) … (0, 1), then style B."""
    ws = [i / (steps - 1) for i in range(steps)]
    outs = [stylize(model, content, [style_a, style_b], weights=[1 - w, w])[0] for w in ws]
    return image_grid([[content[0], style_a[0], *outs, style_b[0]]],
                      ["content", "style A", *[f"A {1 - w:.2g} : B {w:.2g}" for w in ws], "style B"], path)


@torch.no_grad()
def colour_strip(model, content, styles, path=None):
    """content, style, and the stylisation without and with each colour-preservation mode: one row per style
    (`styles`: one [1,3,H,W] style or a list of them)."""
    rows = [[content[0], style[0], *(stylize(model, content, style, preserve_color=m)[0] for m in (None, *COLOR_MODES))]
            for style in (styles if isinstance(styles, (list, tuple)) else [styles])]
    return image_grid(rows, ["content", "style", "stylised", *[f"keep colours: {m}" for m in COLOR_MODES]], path)


def contact_sheet(out_dir, contents, styles, path, thumb=128):
    """A PIL grid of a batch: the styles along the top, the contents down the left, each output at its crossing
    (`stylize.output_name`; a missing output stays blank). Thumbnails fit in thumb × thumb px."""
    from PIL import Image as PILImage

    from ..data import open_image

    def tile(p):
        img = open_image(p) if Path(p).exists() else PILImage.new("RGB", (thumb, thumb), "white")
        img.thumbnail((thumb, thumb))
        return img

    sheet = PILImage.new("RGB", ((len(styles) + 1) * thumb, (len(contents) + 1) * thumb), "white")
    for j, s in enumerate(styles):
        sheet.paste(tile(s), ((j + 1) * thumb, 0))
    for i, c in enumerate(contents):
        sheet.paste(tile(c), (0, (i + 1) * thumb))
        for j, s in enumerate(styles):
            sheet.paste(tile(Path(out_dir) / output_name(c, s)), ((j + 1) * thumb, (i + 1) * thumb))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)
    return sheet
