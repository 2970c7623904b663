"""Which content measure can tell a recognisable photo from one a texture has covered? Query sets whose answer is
known, scored by every candidate measure; writes results/diagnostics/content_retrieval_2nd.{json,md}.

    scripts/exclusive.sh .venv/bin/python scripts/validate_content_measure.py     (~8 min on 2 CPU cores)

Each query set holds 12 × 6 images, row i·6 + j standing for T(c_i, s_j) on the evaluation split (12 photos,
6 paintings, 256 px), and a measure scores the share whose nearest evaluation photo is their own:

- should be found (a person recognises each photo): the photos blurred (σ 3 and 6 px), at 32 px, at the
  collapsed sheet's tile size (~62 px, the control for the tiles below), in grey, blended with the painting
  (half and half, and 30 % photo), and the committed checkpoint's outputs;
- should not be found: the collapsed checkpoint's outputs (one woven texture over every photo, cut from its
  committed sheet), the photos cut in 4×4 blocks and shuffled, and 15 % photo under the painting (borderline).

`rastlib.eval.metrics.diagnose`'s `content_retrieval_2nd` is the measure chosen here (`layout` of AlexNet's relu4 on
an 8×8 grid, `layout_retrieval`). Neighbouring taps and grids are scored too, so the choice does not rest on one
setting.
"""
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rastlib.data import demo_eval_content_dir, demo_eval_style_dir  # noqa: E402
from rastlib.eval.bench import machine  # noqa: E402
from rastlib.eval.metrics import (_pairwise_dc, _unit, default_style_nets, layout, layout_retrieval,  # noqa: E402
                                  load_eval_set, metric_encoder)
from rastlib.train.checkpoint import DEMO_CHECKPOINT, load_model  # noqa: E402
from rastlib.train.probe import cpu_flags  # noqa: E402

SIZE = 256
COLLAPSED_SHEET = ROOT / "results" / "demo_checkpoint" / "collapsed_v0" / "sheet.png"
# The collapsed sheet's grid (501×930 px): a photo column and six painting columns, a painting row and 12 photo
# rows of ~62 px tiles, 70 px apart.
SHEET_COLS = [(8, 71), (79, 141), (149, 211), (219, 281), (289, 352), (360, 422), (430, 492)]
SHEET_ROWS = [(19 + 70 * k, 81 + 70 * k) for k in range(1, 13)]
FOUND = ("photo_tiles", "blur_sigma3", "blur_sigma6", "photo_32px", "grey", "blend_50", "blend_30", "committed")
NOT_FOUND = ("collapsed_tiles", "shuffled_4x4", "blend_15")


def _resize(x, size):
    return F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)


def blur(x, sigma):
    """Separable Gaussian blur of [B,3,H,W] (reflect padding)."""
    k = int(3 * sigma) * 2 + 1
    g = torch.exp(-(torch.arange(k) - k // 2).float() ** 2 / (2 * sigma ** 2))
    g = (g / g.sum()).to(x)
    x = F.conv2d(F.pad(x, (k // 2,) * 4, mode="reflect"), g.view(1, 1, 1, k).repeat(3, 1, 1, 1), groups=3)
    return F.conv2d(x, g.view(1, 1, k, 1).repeat(3, 1, 1, 1), groups=3)


def shuffle_blocks(x, grid=4, seed=0):
    """The images cut into grid×grid blocks, the blocks put back in one random order: every local part kept,
    the layout lost."""
    b, c, h, w = x.shape
    bh, bw = h // grid, w // grid
    blocks = x.unfold(2, bh, bh).unfold(3, bw, bw).reshape(b, c, grid * grid, bh, bw)
    order = torch.randperm(grid * grid, generator=torch.Generator().manual_seed(seed))
    blocks = blocks[:, :, order].reshape(b, c, grid, grid, bh, bw)
    return blocks.permute(0, 1, 2, 4, 3, 5).reshape(b, c, h, w)


def sheet_tiles(path=COLLAPSED_SHEET, size=SIZE):
    """The collapsed checkpoint's committed sheet cut into tiles: ([12,3,size,size] photos at tile size,
    [12,6,3,size,size] outputs), photo i's row, painting j's column."""
    from PIL import Image
    im = torch.from_numpy(np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255).permute(2, 0, 1)

    def tile(r, c):
        return _resize(im[None, :, r[0]:r[1], c[0]:c[1]], size)[0]

    photos = torch.stack([tile(r, SHEET_COLS[0]) for r in SHEET_ROWS])
    outputs = torch.stack([torch.stack([tile(r, c) for c in SHEET_COLS[1:]]) for r in SHEET_ROWS])
    return photos, outputs


def query_sets(photos, paintings, model=None):
    """{name: [N,M,3,H,W]} the query sets of the module docstring (the committed outputs only with `model`)."""
    n, m = photos.shape[0], paintings.shape[0]

    def each_painting(x):
        return x[:, None].expand(n, m, *x.shape[1:])

    tile_photos, collapsed = sheet_tiles(size=photos.shape[-1])
    sets = {"photo_tiles": each_painting(tile_photos), "collapsed_tiles": collapsed,
            "blur_sigma3": each_painting(blur(photos, 3)), "blur_sigma6": each_painting(blur(photos, 6)),
            "photo_32px": each_painting(_resize(_resize(photos, 32), photos.shape[-1])),
            "grey": each_painting(photos.mean(1, keepdim=True).expand_as(photos)),
            "shuffled_4x4": each_painting(shuffle_blocks(photos))}
    for share in (50, 30, 15):
        sets[f"blend_{share}"] = share / 100 * photos[:, None] + (1 - share / 100) * paintings[None]
    if model is not None:
        with torch.no_grad():
            fc, fs = (model.encode(x, model.transform.levels, first=3) for x in (photos, paintings))
            sets["committed"] = torch.stack([
                model.decode_transfer(fc, [None if f is None else f[j:j + 1].expand(n, *f.shape[1:]) for f in fs])
                .clamp(0, 1) for j in range(m)], dim=1)
    return sets


def _photo_retrieval(d, m):
    """Share of rows (i·m + j) of a distance matrix [N·M, N] whose smallest entry is column i."""
    n = d.shape[1]
    return (d.argmin(1) == torch.arange(n).repeat_interleave(m)).float().mean().item()


@torch.no_grad()
def score(sets, photos, nets):
    """{set: {measure: retrieval}} for every candidate measure."""
    enc = metric_encoder("cpu")
    f_photos = {"dc": enc(photos), **{k: net.features(photos) for k, net in nets.items()}}
    table = {}
    for name, q in sets.items():
        n, m = q.shape[:2]
        flat = q.flatten(0, 1)
        row = {"dc": _photo_retrieval(_pairwise_dc(enc(flat), f_photos["dc"]), m)}
        for k, net in nets.items():
            fo, fc = net.features(flat), f_photos[k]
            # ST-LPIPS's own spatial features, unit-normalised (LPIPS without its weights): the earlier attempt
            uo, uc = _unit(fo), _unit(fc)
            unit = sum(torch.cdist(uo[t].flatten(1), uc[t].flatten(1)).square() for t in (2, 3))
            row[f"{k}_unit_taps34"] = _photo_retrieval(unit, m)
            row[f"{k}_layout_uncentred"] = _photo_retrieval(torch.cdist(layout(fo), layout(fc)), m)
            for tap in (2, 3, 4):
                for grid in (4, 6, 8, 12):
                    row[f"{k}_layout_tap{tap + 1}_grid{grid}"] = layout_retrieval(
                        layout(fo, tap, grid), layout(fc, tap, grid), m)
        table[name] = row
        print(f"{name}: " + ", ".join(f"{k} {v:.2f}" for k, v in row.items() if "grid" not in k or "tap4_grid8" in k),
              flush=True)
    return table


def write(table, out_dir, seconds):
    out_dir.mkdir(parents=True, exist_ok=True)
    chosen = "alex_layout_tap4_grid8"
    record = {"what": "content retrieval of query sets whose answer is known (scripts/validate_content_measure.py)",
              "chosen": chosen, "found": FOUND, "not_found": NOT_FOUND, "hardware": {**machine(), **cpu_flags()},
              "seconds": round(seconds), "table": table}
    (out_dir / "content_retrieval_2nd.json").write_text(json.dumps(record, indent=1))
    sets = [s for s in (*FOUND, *NOT_FOUND) if s in table]
    main = ["dc", "vgg16_unit_taps34", "alex_unit_taps34", "alex_layout_uncentred", "vgg16_layout_tap4_grid8",
            chosen]
    grid = [k for k in table[sets[0]] if k.startswith("alex_layout_tap")]

    def rows(keys):
        return [f"| {k}{' (chosen)' if k == chosen else ''} | " + " | ".join(f"{table[s][k]:.2f}" for s in sets)
                + f" | {min(table[s][k] for s in FOUND if s in table):.2f} | "
                + f"{max(table[s][k] for s in NOT_FOUND if s in table):.2f} |" for k in keys]

    head = ["| measure | " + " | ".join(sets) + " | lowest found | highest not found |",
            "|---|" + "---|" * (len(sets) + 2)]
    lines = ["# Content retrieval by a second network: which measure sees the photo?", "",
             "Share of 72 queries (12 evaluation photos × 6 paintings, 256 px) whose nearest evaluation photo is "
             "their own; chance 1/12 = 0.08. Sets a person recognises: " + ", ".join(FOUND) + "; sets that "
             "cover or scramble the photo: " + ", ".join(NOT_FOUND) + " (what each is: the script's docstring). "
             "A measure that tells them apart scores the first high and the second low.", "",
             "- `dc`: Dc's VGG19 (the kit's `content_retrieval`); `*_unit_taps34`: ST-LPIPS's unit-normalised "
             "features at taps 3-4, LPIPS without its weights (an earlier attempt); `*_layout_*`: `layout` "
             "(each channel pooled to a grid, standardised over it), `layout_retrieval` (centred per painting; "
             "`_uncentred`: plain nearest).", "",
             f"Hardware: {record['hardware']['cpu']}, {record['hardware']['threads']} threads, torch "
             f"{record['hardware']['torch']}; {record['seconds']} s.", "", *head, *rows(main), "",
             "Every tap and grid of AlexNet's layout (taps numbered 1-5 as ST-LPIPS's relu1-relu5):", "", *head,
             *rows(grid), ""]
    (out_dir / "content_retrieval_2nd.md").write_text("\n".join(lines))


def main():
    torch.set_num_threads(max(1, torch.get_num_threads()))
    t0 = time.time()
    photos = load_eval_set(demo_eval_content_dir(), SIZE)
    paintings = load_eval_set(demo_eval_style_dir(), SIZE)
    sets = query_sets(photos, paintings, load_model(DEMO_CHECKPOINT))
    table = score(sets, photos, default_style_nets("cpu"))
    write(table, ROOT / "results" / "diagnostics", time.time() - t0)


if __name__ == "__main__":
    main()
