"""Where one CPU training step's time goes, by op: the smoke profile's step (64², batch 4, rast_wacv from the
demo checkpoint) in fp32 or bf16 autocast, one untimed step, then one profiled (`rastlib.train.probe.profile_steps`).

    scripts/exclusive.sh .venv/bin/python scripts/profile_step.py --amp bf16 [--threads 2]

Written for a CPU with no bf16 unit, where bf16 convolutions take torch's unvectorised fallback
(`aten::_slow_conv2d_*`, oneDNN has no bf16 kernels below AVX-512): results/bench/emulated_bf16_profile.md.
"""
import argparse
import tempfile
import time

import torch

from rastlib.train.checkpoint import DEMO_CHECKPOINT
from rastlib.train.config import make_config
from rastlib.train.loop import Trainer
from rastlib.train.probe import cpu_flags, profile_steps


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--amp", choices=("none", "bf16"), default="bf16")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--top", type=int, default=12)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    with tempfile.TemporaryDirectory(prefix="rastlib-profile-") as tmp:
        cfg = make_config("smoke", out_dir=tmp, batch_size=4, init_from=str(DEMO_CHECKPOINT), amp=a.amp,
                          channels_last=a.amp == "bf16")
        trainer = Trainer(cfg, resume=False)
        batch = next(trainer.batches())
        t0 = time.perf_counter()
        trainer.train_step(*batch)
        first = time.perf_counter() - t0
        prof = profile_steps(trainer, batch, cuda=False, steps=1, top=a.top)
    flags = cpu_flags()
    print(f"{flags['cpu']} ({', '.join(flags['bf16_units']) or 'no bf16 unit'}), {a.threads} threads, torch "
          f"{torch.__version__}; {cfg.loss_preset}, {cfg.crop_size}², batch {cfg.batch_size}, amp {a.amp}: "
          f"untimed step {first:.1f} s, profiled step {prof['ms_per_step'] / 1000:.1f} s (CPU time by op)\n")
    print("| op | ms / step | share | calls / step |\n|---|---|---|---|")
    for r in prof["top"]:
        print(f"| `{r['op']}` | {r['ms_per_step']:.1f} | {r['share']:.1%} | {r['calls_per_step']} |")


if __name__ == "__main__":
    main()
