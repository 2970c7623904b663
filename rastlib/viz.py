"""Figures: image grids with column titles, and loss curves from a training log."""
import math
from pathlib import Path

import matplotlib.pyplot as plt
import torch


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


def loss_curves(records, path=None, terms=None, smooth=25):
    """One panel per loss term of a training log (list of dicts), with a moving average over `smooth` steps."""
    skip = {"step", "lr", "seconds", "skipped"}
    terms = terms or [k for k in records[0] if k not in skip]
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


def _save(fig, path):
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110)
        plt.close(fig)
    return fig
