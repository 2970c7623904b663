"""Train the committed demo checkpoint on the bundled demo set (CPU), resumably, in three phases.

Phase 1 (reconstruction): only the pixel identity loss, so T(x, x) ≈ x: the decoder learns to invert the
    features first (fast: a few hundred steps). Training SANet's loss from scratch on the CPU budget instead
    gave style-independent textures with no content after 1000 steps (recorded in results/demo_checkpoint).
Phase 2 (warm-up): SANet's direct content/style + identity losses (`sanet` preset), from phase 1.
Phase 3 (RAST): the official WACV loss table (`rast_wacv`), from phase 2.
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
# Abandoned attempts, kept in the record.
ABANDONED = [
    {"name": "attempt1_sanet_from_scratch", "log": "runs/demo_checkpoint_attempt1/log.jsonl",
     "outcome": "sanet preset from scratch, lr 3e-4: after 1000 steps the outputs were the same brown texture "
                "for every style, with no content structure (Dc(I_o, I_c) stayed at its initial value)"},
    {"name": "attempt2_reconstruction_then_sanet", "log": "runs/demo_checkpoint_attempt2/warmup/log.jsonl",
     "outcome": "300 reconstruction steps then sanet preset, lr 2e-4: same plateau after 400 steps; the random "
                "SANet attention scrambles the content features (T(c, c) further from c in Dc than a random "
                "image)"},
    {"name": "attempt3_zero_residual_init", "log": "runs/demo_checkpoint_attempt3/warmup/log.jsonl",
     "outcome": "SANet out_convs zeroed (content path clean, attention silent at start): content outlines after "
                "250 sanet steps, but the same brown/cream palette for every style, since the output could "
                "depend on the style only once out_conv had grown; hence transform_init='uniform_attention'"},
]


def phase_configs(recon_steps, warmup_steps, rast_steps):
    recon = make_config("demo", out_dir=f"{ROOT}/reconstruction", loss_preset="sanet", lr=3e-4, amp="bf16",
                        weights={"direct_content": 0, "direct_style": 0, "identity_feature": 0},
                        transform_init="uniform_attention", iterations=recon_steps, save_every=50)
    warm = make_config("demo", out_dir=f"{ROOT}/warmup", loss_preset="sanet", lr=2e-4, amp="bf16",
                       iterations=warmup_steps, save_every=50, init_from=f"{ROOT}/reconstruction/checkpoint.pt")
    rast = make_config("demo", out_dir=f"{ROOT}/rast", loss_preset="rast_wacv", lr=1e-4, amp="bf16",
                       iterations=rast_steps, save_every=25, init_from=f"{ROOT}/warmup/checkpoint.pt")
    return recon, warm, rast


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
    record["abandoned_attempts"] = []
    for attempt in ABANDONED:
        if Path(attempt["log"]).is_file():
            log = read_log(attempt["log"])
            loss_curves(log, record_dir / f"loss_{attempt['name']}.png")
            record["abandoned_attempts"].append({**attempt, "steps": len(log),
                                                 "compute_seconds": round(sum(r["seconds"] for r in log), 1)})
    record["total_steps"] = sum(p["steps"] for p in record["phases"])
    record["total_compute_hours"] = round(sum(p["compute_seconds"] for p in record["phases"]) / 3600, 2)
    (record_dir / "record.json").write_text(json.dumps(record, indent=2))
    export_inference(load_checkpoint(Path(done[-1].out_dir) / "checkpoint.pt"), DEMO_CHECKPOINT, record)
    print(f"wrote {DEMO_CHECKPOINT} ({DEMO_CHECKPOINT.stat().st_size / 1e6:.1f} MB) and {record_dir}/")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--recon-steps", type=int, default=300)
    ap.add_argument("--warmup-steps", type=int, default=3000)
    ap.add_argument("--rast-steps", type=int, default=300)
    ap.add_argument("--phase", choices=["reconstruction", "warmup", "rast", "all", "export"], default="all")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    phases = phase_configs(args.recon_steps, args.warmup_steps, args.rast_steps)
    for cfg in phases:
        if args.phase in (Path(cfg.out_dir).name, "all"):
            Trainer(cfg).fit()
    if args.phase in ("export", "all"):
        export(phases)


if __name__ == "__main__":
    main()
