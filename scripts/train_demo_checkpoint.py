"""Train the committed demo checkpoint on the CPU with the phased recipe of `rastlib.app.recipe`, resumably.

    nice python scripts/train_demo_checkpoint.py          # run/resume the phases (a background job for days)
    python scripts/train_demo_checkpoint.py --export      # write checkpoints/rast_demo_fp16.pt + the record

Each phase trains on data/demo/{content,style} and is diagnosed on data/demo/eval (never trained on); it ends
when its gate passes. Rerun the same command after an interruption: every phase resumes from its last checkpoint
in runs/demo_checkpoint/. On a machine without those runs (a fresh clone), training goes on from the committed
checkpoint: with the phase its record was in, or the next one if that phase's gate had passed (a new optimiser,
so the loss curve restarts; the record keeps both parts). `--export` writes the newest phase's weights as the
fp16 demo checkpoint with the record of every phase (steps, compute time, loss curves, diagnostics, gates) in
results/demo_checkpoint/.
"""
import argparse
import json
from pathlib import Path

import torch

from rastlib.app.recipe import (PHASES, RECIPE, cpu_label, export_with_record, gate_record, phase_record,
                                read_diagnostics, remaining_phases, run_recipe)
from rastlib.data import demo_eval_content_dir, demo_eval_style_dir
from rastlib.eval.viz import loss_curves
from rastlib.train import TrainingStopped, read_log
from rastlib.train.checkpoint import DEMO_CHECKPOINT, load_checkpoint

ROOT = Path("runs/demo_checkpoint")
RECORD = Path("results/demo_checkpoint")
DATA = "train: data/demo/content × data/demo/style; diagnostics: data/demo/eval (never trained on)"
START = ROOT / "start.json"  # the committed record this machine's runs continue (written on first start)


def start_point():
    """(phases to train, checkpoint the first starts from or None); fixed at the first start on this machine."""
    if not START.is_file():
        record = load_checkpoint(DEMO_CHECKPOINT).get("record", {})
        ours = record.get("recipe") == RECIPE
        ROOT.mkdir(parents=True, exist_ok=True)
        START.write_text(json.dumps({"phases": [p.name for p in remaining_phases(record)],
                                     "init": str(DEMO_CHECKPOINT) if ours else None,
                                     "record": record if ours else {}}, indent=1))
    start = json.loads(START.read_text())
    return [p for p in PHASES if p.name in start["phases"]], start["init"], start["record"]


def diagnose_checkpoint(ckpt, phase):
    """`diagnose` of a training checkpoint's generator on the evaluation split, as the phase logs it."""
    from rastlib.eval.metrics import diagnose, load_eval_set
    from rastlib.train.checkpoint import model_of
    model = model_of(ckpt)
    paintings = load_eval_set(demo_eval_style_dir()) if phase.stylise else None
    return {"step": ckpt["step"], **diagnose(model.eval(), load_eval_set(demo_eval_content_dir()), paintings)}


def export(record_dir=None):
    """Write the newest trained phase as the fp16 demo checkpoint, with the record of every phase (those of the
    committed checkpoint this machine continued first) in `record_dir` (default RECORD)."""
    record_dir = Path(record_dir or RECORD)
    phases, _, earlier = start_point()
    record_dir.mkdir(parents=True, exist_ok=True)
    hardware = cpu_label()
    entries = list(earlier.get("phases", []))
    last = None
    for phase in phases:
        run = ROOT / phase.name
        if not (run / "checkpoint.pt").is_file():
            break
        ckpt = load_checkpoint(run / "checkpoint.pt")
        log = read_log(run / "log.jsonl")[: ckpt["step"]]
        part = sum(p["name"] == phase.name for p in entries) + 1
        loss_curves(log, record_dir / f"loss_{phase.name}_{part}.png")
        diags = read_diagnostics(run)
        if not diags or diags[-1]["step"] != ckpt["step"]:  # saved between two diagnoses: measure these weights
            diags.append(diagnose_checkpoint(ckpt, phase))
        (record_dir / f"diagnostics_{phase.name}_{part}.jsonl").write_text(
            "".join(json.dumps(d) + "\n" for d in diags))
        (record_dir / f"config_{phase.name}_{part}.json").write_text(json.dumps(ckpt["config"], indent=2))
        entries.append(phase_record(phase, part, ckpt["config"], log, diags, gate_record(run), device=hardware))
        last = ckpt
    if last is None:
        raise SystemExit(f"nothing trained under {ROOT} yet")
    record = export_with_record(last, DEMO_CHECKPOINT, entries, DATA)
    (record_dir / "record.json").write_text(json.dumps(record, indent=2))
    print(f"wrote {DEMO_CHECKPOINT} ({DEMO_CHECKPOINT.stat().st_size / 1e6:.1f} MB) and {record_dir}/")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--export", action="store_true", help="export the newest phase, do not train")
    ap.add_argument("--force", action="store_true", help="go on to the next phase even when a gate failed")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.export:
        export()
        return
    phases, init, _ = start_point()
    try:
        run_recipe(ROOT, demo_eval_content_dir(), demo_eval_style_dir(), phases=phases, first_init=init,
                   force=args.force, progress=False)
    except TrainingStopped as e:
        raise SystemExit(str(e)) from None


if __name__ == "__main__":
    main()
