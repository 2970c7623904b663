"""Benchmark: the multirestoration term's full-resolution scale shared with the graph's I_c' against computed
again, on the CPU arms' training step (256², batch 4, bf16 where the CPU has a bf16 unit, else fp32, channels_last,
the allocator `auto` picks).

At or above the training crop, the multirestoration's restoration R(I_o) = T(I_o, I_c) is the graph's I_c', which
the transitive content term already makes; `rastlib.train.losses.multirestoration` now reuses it. The variant
"recomputed" is the term as it was (it encoded I_o and I_c again and ran the generator once more). Each variant
runs in fresh processes, interleaved over `--rounds` (this machine's speed drifts by tens of percent within
minutes; the order alternates A B, B A, ...), from the demo checkpoint on the loader's first batches (the same in
every process); each process times `--steps` after one untimed step, counts the FLOPs of one more (torch's
FlopCounterMode: the work itself, which the machine's drift does not touch) and returns the untimed step's
losses, which must agree between the variants. Writes results/bench/shared_restoration_cpu.json and .md. Run it
with the training paused:

    scripts/exclusive.sh .venv/bin/python scripts/bench_shared_restoration.py
"""
import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def recomputed_multirestoration(g):
    """The multirestoration term before the sharing: every scale, the full one included, encoded and restored
    afresh (`rastlib.train.losses.multirestoration` at commit f21dae0)."""
    from rastlib.train.losses import downscale
    sides = sorted({min(r, *g["I_c"].shape[-2:]) for r in g.settings.multirestoration_scales}, reverse=True)
    stylised = g["I_o"].detach() if g.settings.multirestoration_detach else g["I_o"]
    total = 0.0
    for side in sides:
        c, o = downscale(g["I_c"], side), downscale(stylised, side)
        with torch.no_grad():
            fc = g.model.encode(c)
        total = total + F.mse_loss(g.decode_transfer(g.model.encode(o), fc), c)
    return total


def child(variant, size, batch, steps):
    """One process: the arm step with the term `variant` ("shared" or "recomputed")."""
    from rastlib.eval.allocator_bench import ARM_STEP_WEIGHTS, arm_trainer
    from rastlib.eval.bench import step_flops
    from rastlib.train import allocator, losses
    if variant == "recomputed":
        losses.LOSS_TERMS["multirestoration"] = recomputed_multirestoration
    with tempfile.TemporaryDirectory(prefix="rastlib-bench-") as tmp:
        trainer = arm_trainer(tmp, size, batch)
        batches = trainer.batches()
        first = trainer.train_step(*next(batches))
        seconds = []
        for _, (contents, styles) in zip(range(steps), batches):
            t0 = time.perf_counter()
            trainer.train_step(contents, styles)
            seconds.append(time.perf_counter() - t0)
        flops = step_flops(trainer, *next(batches))  # counted, so independent of the machine's drift
    losses_first = {k: v for k, v in first.items() if k in ARM_STEP_WEIGHTS or k == "total"}
    return {"variant": variant, "allocator": allocator.loaded(), "seconds": seconds,
            "transfers": trainer.last_counts["transfers"], "tflop": flops / 1e12,
            "first_step_losses": losses_first}


def markdown(report):
    from rastlib.eval.allocator_bench import report_precision
    m, precision = report["machine"], report_precision(report)
    autocast = " autocast" if precision == "bf16" else ""
    lines = [f"The CPU arms' training step ({report['size']}², batch {report['batch']}, {precision}, channels_last, "
             f"SANet's losses with identity, transitive content and multirestoration at scales 256/128/64; allocator "
             f"{report['rows'][0]['allocator']}), {report['rounds']} fresh processes per variant, interleaved "
             f"(A B, B A, ...), each timing {report['steps']} steps after one untimed step; {m['cpu']}, "
             f"{m['threads']} threads, torch {m['torch']}, {m['date']}. "
             f"Script: `scripts/bench_shared_restoration.py`.", "",
             "| variant | s / step (median) | medians by round | × recomputed | generator passes / step | "
             "TFLOP / step (counted) |", "|---|---|---|---|---|---|"]
    for r in report["rows"]:
        lines.append(f"| {r['variant']} | {r['seconds_per_step']:.2f} | "
                     f"{', '.join(f'{x:.2f}' for x in r['round_medians'])} | {r['speedup']:.2f}× | "
                     f"{r['transfers']} | {r['tflop']:.2f} |")
    lines += ["", f"Losses of the first (untimed) step, same batch and start: largest relative difference between "
              f"the variants {report['max_rel_loss_difference']:.2e} ({precision}{autocast}; the two compute the same "
              f"function).", ""]
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "results" / "bench"))
    ap.add_argument("--child", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(child(a.child, a.size, a.batch, a.steps)))
        return
    from rastlib.eval.bench import machine
    from rastlib.train import allocator
    env = allocator.environ(allocator.resolve("auto"))
    runs = {"recomputed": [], "shared": []}
    for r in range(a.rounds):
        for variant in (list(runs) if r % 2 == 0 else list(runs)[::-1]):  # A B, B A, ...: drift cancels
            done = runs[variant]
            out = subprocess.run([sys.executable, __file__, "--child", variant, "--size", str(a.size), "--batch",
                                  str(a.batch), "--steps", str(a.steps)], capture_output=True, text=True, env=env,
                                 check=True, cwd=ROOT)
            done.append(json.loads(out.stdout.strip().splitlines()[-1]))
    base = statistics.median([t for d in runs["recomputed"] for t in d["seconds"]])
    rows = []
    for variant, done in runs.items():
        s = statistics.median([t for d in done for t in d["seconds"]])
        rows.append({"variant": variant, "allocator": done[0]["allocator"], "seconds_per_step": s,
                     "round_medians": [statistics.median(d["seconds"]) for d in done],
                     "transfers": done[0]["transfers"], "tflop": done[0]["tflop"], "speedup": base / s,
                     "first_step_losses": done[0]["first_step_losses"]})
    a_, b_ = rows[0]["first_step_losses"], rows[1]["first_step_losses"]
    diff = max(abs(a_[k] - b_[k]) / max(abs(a_[k]), 1e-12) for k in a_)
    from rastlib.eval.allocator_bench import arm_amp
    report = {"size": a.size, "batch": a.batch, "steps": a.steps, "rounds": a.rounds, "amp": arm_amp(),
              "rows": rows, "max_rel_loss_difference": diff, "machine": machine()}
    Path(a.out).mkdir(parents=True, exist_ok=True)
    for suffix, text in ((".json", json.dumps(report, indent=1)), (".md", markdown(report))):
        (Path(a.out) / f"shared_restoration_cpu{suffix}").write_text(text)
    print(markdown(report))


if __name__ == "__main__":
    main()
