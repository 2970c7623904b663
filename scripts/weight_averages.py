"""Diagnose weight averages of checkpoints on the evaluation split, and keep every one tried in one record.

    scripts/exclusive.sh python scripts/weight_averages.py NAME=A+B[+C...] [NAME=A+B@2,1 ...] [--label PATH=TEXT ...]

Each NAME=... is averaged (`rastlib.train.averaging`; `@w1,w2,...` sets the weights, default equal), diagnosed
as the bar is (`diagnose`, 256 px, the model's passes in bf16: within 0.003 of fp32,
results/bench/diagnose_precision.md), and appended to results/demo_checkpoint/averaged/diagnoses.jsonl; the
README there is rewritten with every row so far. `--label` names a source in the table (e.g. runs/x.pt=B).
"""
import argparse
import json
from pathlib import Path

from rastlib.app.recipe import cpu_label
from rastlib.data import demo_eval_content_dir, demo_eval_style_dir
from rastlib.eval.metrics import diagnose, load_eval_set
from rastlib.paths import portable
from rastlib.train.averaging import average_checkpoints
from rastlib.train.checkpoint import load_model

OUT = Path("results/demo_checkpoint/averaged")
COLUMNS = (("identity_psnr_content", "T(c, c) dB", 2), ("identity_ssim_content", "identity SSIM", 3),
           ("content_retrieval_2nd", "content (2nd)", 3), ("style_movement_vgg16", "movement VGG16", 2),
           ("style_movement_alex", "movement AlexNet", 2), ("style_retrieval", "style retrieval", 3),
           ("style_spread", "spread", 3), ("restoration_ssim", "restoration SSIM", 3))


def parse(spec):
    """'NAME=A+B@2,1' → (name, [paths], weights or None)."""
    name, _, rest = spec.partition("=")
    paths, _, weights = rest.partition("@")
    return name, paths.split("+"), [float(w) for w in weights.split(",")] if weights else None


def diagnose_average(paths, weights, photos, paintings):
    """The diagnosis of the average of `paths` (the passes in bf16), and its sources."""
    ckpt = average_checkpoints(paths, weights)
    return diagnose(load_model(ckpt, precision="bf16"), photos, paintings), ckpt["averaged_from"]


def write_readme(rows, labels):
    lines = ["# Weight averages of checkpoints, diagnosed", "",
             "Each row: the generator whose weights are the mean of its sources' (`python -m rastlib average`, "
             "`rastlib.train.averaging`), diagnosed on the evaluation split at 256 px with the passes in bf16 "
             "(`scripts/weight_averages.py`; within 0.003 of fp32). Every average tried is here, in the order "
             "tried.", "",
             "| average | sources (weight) | " + " | ".join(c[1] for c in COLUMNS) + " |",
             "|---" * (len(COLUMNS) + 2) + "|"]
    for r in rows:
        src = ", ".join(f"{labels.get(s['path'], s['path'])} ({s['weight']:.2g})" for s in r["sources"])
        lines.append(f"| {r['name']} | {src} | " + " | ".join(f"{r[k]:.{d}f}" for k, _, d in COLUMNS) + " |")
    legend = sorted({(labels[s["path"]], s["path"]) for r in rows for s in r["sources"] if s["path"] in labels})
    lines += ["", "Sources: " + "; ".join(f"{short} = `{path}`" for short, path in legend) + ".", "",
              f"Hardware of the diagnoses: {rows[-1]['hardware']}."]
    (OUT / "README.md").write_text("\n".join(lines) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("averages", nargs="+", help="NAME=A+B[+...][@w1,w2,...]")
    ap.add_argument("--label", action="append", default=[], help="PATH=SHORT: a source's name in the table")
    args = ap.parse_args()
    photos, paintings = load_eval_set(demo_eval_content_dir(), 256), load_eval_set(demo_eval_style_dir(), 256)
    OUT.mkdir(parents=True, exist_ok=True)
    log = OUT / "diagnoses.jsonl"
    labels_path = OUT / "labels.json"
    labels = json.loads(labels_path.read_text()) if labels_path.is_file() else {}
    labels.update(dict(portable_pair(item) for item in args.label))
    labels_path.write_text(json.dumps(labels, indent=1) + "\n")
    for spec in args.averages:
        name, paths, weights = parse(spec)
        d, sources = diagnose_average(paths, weights, photos, paintings)
        row = {"name": name, "sources": sources, **d, "precision": "bf16", "hardware": cpu_label()}
        with open(log, "a") as f:
            f.write(json.dumps(row) + "\n")
        print(name, " ".join(f"{label} {d[k]:.3f}" for k, label, _ in COLUMNS), flush=True)
    write_readme([json.loads(line) for line in log.read_text().splitlines()], labels)


def portable_pair(item):
    path, _, short = item.partition("=")
    return portable(path), short


if __name__ == "__main__":
    main()
