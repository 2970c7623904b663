"""Train the committed demo checkpoint on the bundled demo set (CPU), resumably, in two phases.

Phase 1 (warm-up): SANet's direct content/style + identity losses (`sanet` preset), cheap per step.
Phase 2 (RAST): the official WACV loss table (`rast_wacv`), initialised from phase 1.
Rerun the same command to resume after an interruption. Then `--export` writes checkpoints/rast_demo_fp16.pt
with its training record (config, steps, time, loss curves) in results/demo_checkpoint/.
"""
import argparse

import torch

from rastlib.config import make_config
from rastlib.train import Trainer

ROOT = "runs/demo_checkpoint"


def phase_configs(warmup_steps, rast_steps):
    warm = make_config("demo", out_dir=f"{ROOT}/warmup", loss_preset="sanet", lr=3e-4, amp="bf16",
                       iterations=warmup_steps, save_every=50, log_every=10)
    rast = make_config("demo", out_dir=f"{ROOT}/rast", loss_preset="rast_wacv", lr=1e-4, amp="bf16",
                       iterations=rast_steps, save_every=25, log_every=5,
                       init_from=f"{ROOT}/warmup/checkpoint.pt")
    return warm, rast


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--warmup-steps", type=int, default=3000)
    ap.add_argument("--rast-steps", type=int, default=300)
    ap.add_argument("--phase", choices=["warmup", "rast", "both"], default="both")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    warm, rast = phase_configs(args.warmup_steps, args.rast_steps)
    if args.phase in ("warmup", "both"):
        Trainer(warm).fit()
    if args.phase in ("rast", "both"):
        Trainer(rast).fit()


if __name__ == "__main__":
    main()
