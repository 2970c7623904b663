"""`diagnose` with the model's passes in fp32 and in bf16 autocast, side by side on one checkpoint: the seconds
each takes and how far every measure moves, against the adoption rule's noise. Writes
results/bench/diagnose_precision.{json,md}.

    scripts/exclusive.sh python scripts/bench_diagnose.py [--checkpoint C]
"""
import argparse
import json
import time
from pathlib import Path

import torch

from rastlib.app.recipe import cpu_label
from rastlib.data import demo_eval_content_dir, demo_eval_style_dir
from rastlib.eval.metrics import diagnose, load_eval_set
from rastlib.paths import portable
from rastlib.train.checkpoint import DEMO_CHECKPOINT, load_model

OUT = Path("results/bench/diagnose_precision")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default=str(DEMO_CHECKPOINT))
    ap.add_argument("--size", type=int, default=256)
    args = ap.parse_args()
    photos = load_eval_set(demo_eval_content_dir(), args.size)
    paintings = load_eval_set(demo_eval_style_dir(), args.size)
    rows = {}
    for precision in ("fp32", "bf16"):
        model = load_model(args.checkpoint, precision=precision)
        t0 = time.perf_counter()
        d = diagnose(model, photos, paintings)
        rows[precision] = {"seconds": round(time.perf_counter() - t0, 1), "diagnostics": d}
    result = {"checkpoint": portable(args.checkpoint), "size": args.size, "photos": photos.shape[0],
              "paintings": paintings.shape[0], "cpu": cpu_label(), "torch": torch.__version__, **rows}
    OUT.with_suffix(".json").write_text(json.dumps(result, indent=1))
    fp, bf = rows["fp32"]["diagnostics"], rows["bf16"]["diagnostics"]
    lines = [f"`diagnose` of {result['checkpoint']} on the evaluation split ({result['photos']} photos × "
             f"{result['paintings']} paintings, {args.size} px), the model's passes in fp32 and in bf16 autocast "
             f"(the measures in fp32 either way); {result['cpu']}. `scripts/bench_diagnose.py`.", "",
             f"Seconds: fp32 {rows['fp32']['seconds']}, bf16 {rows['bf16']['seconds']} "
             f"({rows['fp32']['seconds'] / rows['bf16']['seconds']:.2f}x).", "",
             "| measure | fp32 | bf16 | bf16 − fp32 |", "|---|---|---|---|"]
    lines += [f"| {k} | {fp[k]:.4f} | {bf[k]:.4f} | {bf[k] - fp[k]:+.4f} |" for k in fp]
    OUT.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
