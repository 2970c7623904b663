"""Does `stroke_retrieval` tell each painting's own texture from one texture tinted per painting? Query sets whose
answer is known, scored by the measure; writes results/diagnostics/stroke_retrieval.{json,md}.

    scripts/exclusive.sh .venv/bin/python scripts/validate_stroke_measure.py     (~5 min on 2 CPU cores)

Each query set holds 12 × 6 images, row i·6 + j standing for T(c_i, s_j) on the evaluation split (12 photos,
6 paintings, 256 px); the measure scores the share whose nearest painting, by the texture of its luminance with
colour, brightness and contrast taken out, is their own (chance 1/6):

- no painting's own texture (should score about chance): the photo itself; one fixed texture; the photo under
  one fixed texture tinted with each painting's mean colour (its luminance kept, and a plain tint, which makes
  the texture stronger for a brighter painting); the photo recoloured to each painting's channel means and stds
  (pixel AdaIN: "recolours more than it paints"); the collapsed checkpoint's outputs (one woven texture over
  every photo, cut from its committed sheet at ~62 px tiles);
- the painting's own texture over the photo (should score high): the painting itself, and blends of 50, 25 and
  10 % painting; the photos at the collapsed sheet's tile size blended 25 % (the control for its tiles);
- the committed checkpoint's outputs, at 256 px and at the collapsed sheet's tile size.
"""
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from validate_content_measure import SIZE, _resize, sheet_tiles  # noqa: E402

from rastlib.data import demo_eval_content_dir, demo_eval_style_dir  # noqa: E402
from rastlib.eval.bench import machine  # noqa: E402
from rastlib.eval.metrics import default_style_nets, load_eval_set, stroke_retrieval, strokes  # noqa: E402
from rastlib.model.ops import calc_mean_std  # noqa: E402
from rastlib.model.stylize import luminance_rgb  # noqa: E402
from rastlib.train.checkpoint import DEMO_CHECKPOINT, load_model  # noqa: E402
from rastlib.train.probe import cpu_flags  # noqa: E402

CHANCE_LIKE = ("photo", "fixed_texture", "tinted_texture_luminance_kept", "tinted_texture_plain",
               "recoloured_pixel_adain", "collapsed_tiles")
OWN_TEXTURE = ("painting", "blend_50", "blend_25", "blend_10", "tile_photos_blend_25")
TILE = 62  # the collapsed sheet's tile side


def query_sets(photos, paintings, model=None):
    """{name: [N,M,3,H,W]} the sets of the module docstring (the committed outputs only with `model`)."""
    n, m = photos.shape[0], paintings.shape[0]
    c, s = photos[:, None], paintings[None]
    texture = torch.rand(1, 1, 1, *photos.shape[-2:], generator=torch.Generator().manual_seed(0))
    mean = s.mean((-2, -1), keepdim=True)
    keep_luma = mean / luminance_rgb(mean.flatten(0, 1))[:, :1].view(1, m, 1, 1, 1).clamp_min(1e-3)
    mc, sc = calc_mean_std(photos)
    ms, ss = calc_mean_std(paintings)
    tile_photos, collapsed = sheet_tiles(size=photos.shape[-1])
    sets = {"photo": c.expand(n, m, *photos.shape[1:]), "fixed_texture": texture.expand(n, m, 3, -1, -1),
            "tinted_texture_luminance_kept": 0.5 * c + 0.5 * texture * keep_luma,  # unclamped: Y is the same
            "tinted_texture_plain": (0.5 * c + 0.5 * texture * 2 * mean).clamp(0, 1),
            "recoloured_pixel_adain": ((c - mc[:, None]) / sc[:, None] * ss[None] + ms[None]).clamp(0, 1),
            "collapsed_tiles": collapsed, "painting": s.expand(n, m, *paintings.shape[1:])}
    for share in (50, 25, 10):
        sets[f"blend_{share}"] = (1 - share / 100) * c + share / 100 * s
    size = photos.shape[-1]
    sets["tile_photos_blend_25"] = 0.75 * tile_photos[:, None] + 0.25 * _resize(_resize(paintings, TILE), size)[None]
    if model is None:
        return sets
    with torch.no_grad():
        fc, fs = (model.encode(x, model.transform.levels, first=3) for x in (photos, paintings))
        sets["committed"] = torch.stack([
            model.decode_transfer(fc, [None if f is None else f[j:j + 1].expand(n, *f.shape[1:]) for f in fs])
            .clamp(0, 1) for j in range(m)], dim=1)
    sets["committed_tiles"] = _resize(_resize(sets["committed"].flatten(0, 1), TILE), size).view(n, m, 3, size, size)
    return sets


def main():
    t0 = time.time()
    photos, paintings = load_eval_set(demo_eval_content_dir(), SIZE), load_eval_set(demo_eval_style_dir(), SIZE)
    net = default_style_nets("cpu")["alex"]
    sets = query_sets(photos, paintings, load_model(DEMO_CHECKPOINT))
    with torch.no_grad():
        ss = strokes(net, paintings)
        table = {k: stroke_retrieval(strokes(net, q.flatten(0, 1)), ss, q.shape[1]) for k, q in sets.items()}
    for k, v in table.items():
        print(f"{k}: {v:.3f}", flush=True)
    record = {"what": "stroke retrieval of query sets whose answer is known (scripts/validate_stroke_measure.py)",
              "chance": 1 / paintings.shape[0], "chance_like": CHANCE_LIKE, "own_texture": OWN_TEXTURE,
              "hardware": {**machine(), **cpu_flags()}, "seconds": round(time.time() - t0), "table": table}
    out = ROOT / "results" / "diagnostics"
    (out / "stroke_retrieval.json").write_text(json.dumps(record, indent=1))
    hw = record["hardware"]
    lines = ["# Stroke retrieval: does each output carry its own painting's texture?", "",
             f"`rastlib.eval.metrics.stroke_retrieval` (in `diagnose`) on query sets whose answer is known: the share "
             f"of 72 queries (12 evaluation photos × 6 paintings, 256 px) whose nearest painting, by ST-LPIPS's "
             f"AlexNet on the luminance standardised over each image, is their own, each painting's distances "
             f"centred over the outputs of one photo; chance {record['chance']:.3f}. What each set is: the "
             f"script's docstring. {hw['cpu']}, {hw['threads']} threads, torch {hw['torch']}; "
             f"{record['seconds']} s.", "", "| query set | expected | stroke retrieval |", "|---|---|---|"]
    for k, v in table.items():
        expected = "about chance" if k in CHANCE_LIKE else "high" if k in OWN_TEXTURE else "(the model)"
        lines.append(f"| {k} | {expected} | {v:.3f} |")
    (out / "stroke_retrieval.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
