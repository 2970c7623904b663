"""The official RAST weights, side by side with the kit's model, for users who have the files.

The official release (`YingnanMa/RAST`) ships `decoder_iter_160000.pth` and `transformer_iter_160000.pth`; its
encoder is SANet/AdaIN's `vgg_normalised.pth`. Their keys are the kit's (`RAST.load_official`), so
`load_upstream` builds a `RAST` from the three files, and `save_official` writes a kit model in the same three
files (the official scripts can then run it). `compare` stylises and restores the same pairs with both models and
writes to `out_dir`:

- `comparison.png`: content | style | I_o ours | I_o theirs | I_c' ours | I_c' theirs, one row per pair;
- `metrics.json` / `metrics.md`: every `metrics.evaluate_pair` metric for both models (mean ± std; Dc/Ds on the
  one fixed metric encoder, so the two are on one scale), and how far apart the two outputs are
  (`output_mae`, `output_ssim` between our I_o and theirs).

CLI: `python -m rastlib compare-upstream --decoder … --transformer … --vgg … [--checkpoint ours.pt]`.
"""
import json
from pathlib import Path

import torch
from torch import nn

from ..data import load_image
from ..model.encoder import vgg19_layers
from .metrics import evaluate_pair, mean_std, summarise
from ..model.similarity import ssim
from .viz import image_grid


def load_upstream(decoder, transformer, vgg, device="cpu"):
    """A `RAST` in eval mode on the official files: vgg_normalised encoder, their transformer and decoder."""
    from ..model.rast import RAST
    model = RAST("vgg_normalised", vgg)
    model.load_official(decoder, transformer)
    return model.to(device).eval()


def save_official(model, folder, iteration=160000):
    """Write `model` as the official files: decoder_iter_N.pth, transformer_iter_N.pth, vgg_normalised.pth.

    The encoder file holds all 53 layers of the official one; layers after relu5_1 (never used) are VGG19's
    shapes with fresh values. Returns the three paths (decoder, transformer, vgg)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    vgg = vgg19_layers().state_dict()
    vgg.update(nn.Sequential(*[m for s in model.encoder.slices for m in s]).state_dict())
    paths = (folder / f"decoder_iter_{iteration}.pth", folder / f"transformer_iter_{iteration}.pth",
             folder / "vgg_normalised.pth")
    for path, state in zip(paths, (model.decoder.state_dict(), model.transform.state_dict(), vgg)):
        torch.save({k: v.detach().float().cpu().contiguous() for k, v in state.items()}, path)
    return paths


@torch.no_grad()
def compare(ours, theirs, pairs, out_dir, size=256, perceptual=None, device="cpu"):
    """Both models on the same (content path, style path) pairs; writes the figure and tables, returns the summary."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = {"ours": [], "theirs": []}
    gaps, grid = [], []
    for cp, sp in pairs:
        c = load_image(cp, size=size).unsqueeze(0).to(device)
        s = load_image(sp, size=size).unsqueeze(0).to(device)
        images = {}
        for name, model in (("ours", ours), ("theirs", theirs)):
            metrics, images[name] = evaluate_pair(model, c, s, perceptual)
            rows[name].append({"content": cp.name, "style": sp.name, **metrics})
        a, b = images["ours"]["I_o"], images["theirs"]["I_o"]
        gaps.append({"output_mae": (a - b).abs().mean().item(), "output_ssim": ssim(a, b).item()})
        grid.append([c[0], s[0], a[0], b[0], images["ours"]["I_c'"][0], images["theirs"]["I_c'"][0]])
    image_grid(grid, ["content", "style", "I_o ours", "I_o official", "I_c' ours", "I_c' official"],
               out / "comparison.png")
    summary = {"pairs": len(pairs), "image_size": f"shorter side {size}px",
               "lpips_backend": getattr(perceptual, "backend", None),
               "ours": summarise(rows["ours"]), "theirs": summarise(rows["theirs"]),
               "ours_vs_theirs": summarise(gaps), "pairs_detail": rows}
    (out / "metrics.json").write_text(json.dumps(summary, indent=2))
    (out / "metrics.md").write_text(_table(summary))
    return summary


def _table(summary):
    lines = [f"Kit model vs the official RAST weights on {summary['pairs']} pairs ({summary['image_size']}).", "",
             "| metric | ours | official |", "|---|---|---|"]
    lines += [f"| {k} | {mean_std(m)} | {mean_std(summary['theirs'][k])} |" for k, m in summary["ours"].items()]
    lines += ["", "| ours vs official output | mean ± std |", "|---|---|"]
    lines += [f"| {k} | {mean_std(m)} |" for k, m in summary["ours_vs_theirs"].items()]
    return "\n".join(lines) + "\n"
