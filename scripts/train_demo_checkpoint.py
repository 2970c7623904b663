"""Train the committed demo checkpoint on the bundled demo set (CPU), resumably, in two phases.

Phase 1 (warm-up): SANet's direct content/style + identity losses (`sanet` preset), cheap per step.
Phase 2 (RAST): the official WACV loss table (`rast_wacv`), initialised from phase 1.
Rerun the same command to resume after an interruption. Then `--export` writes checkpoints/rast_demo_fp16.pt
with its training record (config, steps, time, loss curves) in results/demo_checkpoint/.
"""
import argparse
import json
import platform
from pathlib import Path

import torch

from rastlib.checkpoint import DEMO_CHECKPOINT, export_inference, load_checkpoint
from rastlib.config import make_config
from rastlib.train import Trainer, read_log
from rastlib.viz import loss_curves

ROOT = "runs/demo_checkpoint"


def phase_configs(warmup_steps, rast_steps):
    warm = make_config("demo", out_dir=f"{ROOT}/warmup", loss_preset="sanet", lr=3e-4, amp="bf16",
                       iterations=warmup_steps, save_every=50, log_every=10)
    rast = make_config("demo", out_dir=f"{ROOT}/rast", loss_preset="rast_wacv", lr=1e-4, amp="bf16",
                       iterations=rast_steps, save_every=25, log_every=5,
                       init_from=f"{ROOT}/warmup/checkpoint.pt")
    return warm, rast


def export(phases, record_dir="results/demo_checkpoint"):
    """Write the last trained phase as the fp16 demo checkpoint, with the record of every phase."""
    record_dir = Path(record_dir)
    record_dir.mkdir(parents=True, exist_ok=True)
    done = [cfg for cfg in phases if (Path(cfg.out_dir) / "checkpoint.pt").is_file()]
    record = {"data": "bundled demo set: data/demo/content (photos) x data/demo/style (paintings)",
              "hardware": f"{torch.get_num_threads()} CPU threads, {platform.processor() or platform.machine()}",
              "torch": str(torch.__version__), "phases": []}
    for cfg in done:
        log = read_log(Path(cfg.out_dir) / "log.jsonl")
        ckpt = load_checkpoint(Path(cfg.out_dir) / "checkpoint.pt")
        name = Path(cfg.out_dir).name
        loss_curves(log, record_dir / f"loss_{name}.png")
        record["phases"].append({
            "name": name, "loss_preset": cfg.loss_preset, "steps": ckpt["step"], "batch": cfg.batch_size,
            "crop": cfg.crop_size, "lr": cfg.lr, "amp": cfg.amp,
            "compute_seconds": round(sum(r["seconds"] for r in log[: ckpt["step"]]), 1),
            "skipped_steps": sum(bool(r.get("skipped")) for r in log[: ckpt["step"]]),
            "final_total_loss_mean_last_50": sum(r["total"] for r in log[ckpt["step"] - 50: ckpt["step"]]) / 50,
        })
        (record_dir / f"config_{name}.json").write_text(json.dumps(ckpt["config"], indent=2))
    record["total_steps"] = sum(p["steps"] for p in record["phases"])
    record["total_compute_hours"] = round(sum(p["compute_seconds"] for p in record["phases"]) / 3600, 2)
    (record_dir / "record.json").write_text(json.dumps(record, indent=2))
    export_inference(load_checkpoint(Path(done[-1].out_dir) / "checkpoint.pt"), DEMO_CHECKPOINT, record)
    print(f"wrote {DEMO_CHECKPOINT} ({DEMO_CHECKPOINT.stat().st_size / 1e6:.1f} MB) and {record_dir}/")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--warmup-steps", type=int, default=3000)
    ap.add_argument("--rast-steps", type=int, default=300)
    ap.add_argument("--phase", choices=["warmup", "rast", "both", "export"], default="both")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    warm, rast = phase_configs(args.warmup_steps, args.rast_steps)
    if args.phase in ("warmup", "both"):
        Trainer(warm).fit()
    if args.phase in ("rast", "both"):
        Trainer(rast).fit()
    if args.phase in ("export", "both"):
        export([warm, rast])


if __name__ == "__main__":
    main()
