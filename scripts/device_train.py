"""One call on a lent GPU (`scripts/device_train.sh`): probe the step speed, train on from the committed checkpoint
with the phased recipe (bf16 autocast, phases timed by the clock), diagnose, benchmark, write ≤ 8 files to OUT.

    python scripts/device_train.py --out $OUT --seconds 380            # on the GPU
    python scripts/device_train.py --out $OUT --seconds 100 --no-bench  # a second call: size it to the budget left
    python scripts/device_train.py --out /tmp/o --seconds 20 --dry-run # on the CPU, tiny sizes (the tests)

--seconds is the training share; the speed probe with its profiles (~25 s), the start (~25 s), the diagnosis
(~10 s) and the benchmark (~60 s) come on top.

Files written to OUT (each < 16 MiB): rast_device_fp16.pt (the trained generator and contrastive heads, with
its record), train_log.jsonl (every step of every phase), diagnostics.json (the speed probe and every diagnosis),
diagnostics.md (the final one), sheet.png, bench.json + bench.md (GPU only: `rastlib bench --gpu-only`); the
shell wrapper adds run.log. The second-network style measure uses the AlexNet that the wrapper carries
(scripts/pack_for_device.py); without it the measure is NaN and the last phase's gate cannot pass.
The committed checkpoint's record names the last phase it trained; training goes on with the phase after it
(or that phase again when its gate had not passed); a checkpoint the recipe did not make is started over. On
the device every phase runs until its gate passes or its share of the time left is spent, then the next one
starts (the gate result is recorded either way). The checkpoint, the log and diagnostics.json are written after
every chunk (~30 s of training) too, so a call killed at its limit still brings back all but the last chunk.
"""
import argparse
import json
import shutil
import time
from pathlib import Path

import torch

from rastlib.app.demo import run_diagnose
from rastlib.app.recipe import (RECIPE, export_with_record, phase_record, read_diagnostics, remaining_phases,
                                run_recipe, scale_identity)
from rastlib.data import demo_eval_content_dir, demo_eval_style_dir
from rastlib.train import read_log
from rastlib.train.checkpoint import DEMO_CHECKPOINT, load_checkpoint
from rastlib.train.config import make_config
from rastlib.train.probe import throughput

CHUNK_SECONDS = 30


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seconds", type=float, default=380, help="training wall time (all phases; after the probe)")
    ap.add_argument("--checkpoint", default=str(DEMO_CHECKPOINT))
    ap.add_argument("--dry-run", action="store_true", help="CPU, tiny sizes and budget: checks the script")
    ap.add_argument("--layout", type=parse_layout, metavar="BATCH[,nhwc]",
                    help="probe only this batch size (and channels_last with ',nhwc'): a second call that reuses "
                         "the first call's choice")
    ap.add_argument("--pad", choices=("reflect", "slice"),
                    help="probe only this reflection padding (a second call that reuses the first call's choice)")
    ap.add_argument("--no-bench", action="store_true", help="skip the GPU benchmark (a second call)")
    ap.add_argument("--identity-scale", type=float, default=1.0,
                    help="multiply the rast phase's identity weights (official: pixel 50, feature 1; see "
                         "rastlib.app.recipe.scale_identity)")
    args = ap.parse_args()
    t_start = time.monotonic()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cuda = torch.cuda.is_available() and not args.dry_run
    device, amp = ("cuda", "bf16") if cuda else ("cpu", "none")
    if cuda:
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
    # Probes on an H200 (results/demo_checkpoint/device_call_*.json), images/s: 47.7 / 54.2 at batch 16 / 32 in
    # NCHW, 34.6 / 39.5 in NHWC. So batch 32 NCHW, timed once (~10 s) to size the chunks; --layout tries another.
    # With both paddings and their profiles the probe takes ~25 s, within the call's ~540 s.
    layouts = [args.layout] if args.layout else [(32, False)] if cuda else [(4, False)]
    crop, eval_size = (256, 256) if cuda else (64, 64)
    record = load_checkpoint(args.checkpoint).get("record", {})
    phases = [scale_identity(p, args.identity_scale) if p.name == "rast" else p for p in remaining_phases(record)]

    # torch's reflection padding against slicing (ops.SlicePad), each profiled: a first call measures both
    # (~15 s); a second call (--layout) reuses the first call's choice (--pad).
    pads = [args.pad] if args.pad else ["reflect", "slice"]
    base = make_config("demo", crop_size=crop, load_size=crop, device=device, amp=amp, loss_preset="rast_wacv",
                       init_from=args.checkpoint or "", workers=4 if cuda else 0)
    settings = [dict(batch_size=batch, channels_last=nhwc, padding=pad) for batch, nhwc in layouts for pad in pads]
    rows = throughput(base, settings, 4.0 if cuda else 0.0, profile=not args.pad)
    measured = [r for r in rows if "images_per_s" in r]
    if not measured:
        raise SystemExit(f"no probe step ran: {rows}")
    best = max(measured, key=lambda r: r["images_per_s"])
    batch, nhwc, pad = best["batch_size"], best["channels_last"], best["padding"]
    speed = {"device": probe_device(cuda), "amp": amp, "crop": crop, "rows": rows, "chosen_batch": batch,
             "chosen_channels_last": nhwc, "chosen_pad": pad}
    for r in rows:
        print("probe:", {k: v for k, v in r.items() if k != "profile"}, flush=True)
        for op in r.get("profile", {}).get("top", []):
            print(f"    {op['ms_per_step']:8.2f} ms {100 * op['share']:5.1f} %  ×{op['calls_per_step']:<4} {op['op']}")
    print(f"chosen: batch {batch}, channels_last {nhwc}, pad {pad}", flush=True)

    root = Path("/tmp/rast_device_run")
    shutil.rmtree(root, ignore_errors=True)
    step_s = best["ms_per_step"] / 1000
    # A phase's time is checked between chunks, so a chunk is kept to ~CHUNK_SECONDS: the call ends on time.
    every = max(25, min(500, round(CHUNK_SECONDS / step_s))) if cuda else 2
    overrides = dict(device=device, amp=amp, channels_last=nhwc, padding=pad, batch_size=batch, crop_size=crop,
                     load_size=crop, load_size_max=crop * 3 // 2, workers=8 if cuda else 0, save_every=200 if cuda else 2,
                     iterations=10**6 if cuda else 4)
    speed["steps_per_chunk"] = every
    ckpt_out = out / "rast_device_fp16.pt"
    ours = record.get("recipe") == RECIPE
    entries = list(record.get("phases", [])) if ours else []  # the record grows by one entry per phase
    trained, logs = [], []

    def diagnoses(*phases):
        return [{"phase": p.name, **d} for p in (*trained, *phases) for d in read_diagnostics(root / p.name)]

    def export(phase, result=None):
        """The generator so far, with its record, the training log and the diagnoses, into OUT: after each chunk
        (`result` None: the phase goes on, its entry says so) and after each phase."""
        ckpt = load_checkpoint(root / phase.name / "checkpoint.pt")
        rows = [{"phase": phase.name, **r} for r in read_log(root / phase.name / "log.jsonl")]
        rows = [r for r in rows if r["step"] < ckpt["step"]]  # what the checkpoint has trained
        entry = phase_record(phase, 1 + sum(e["name"] == phase.name for e in entries), ckpt["config"], rows,
                             read_diagnostics(root / phase.name),
                             result or {"passed": False, "stopped": "call ended mid-phase", "step": ckpt["step"]},
                             device=f"{probe_device(cuda)}, torch {torch.__version__}", amp=amp)
        (out / "train_log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in logs + rows))
        export_with_record(ckpt, ckpt_out, entries + [entry], record.get("data"))
        (out / "diagnostics.json").write_text(json.dumps({"probe": speed, "during_training": diagnoses(phase)},
                                                         indent=1))
        if result is not None:
            trained.append(phase)
            logs.extend(rows)
            entries.append(entry)
            print(f"exported after {phase.name} ({time.monotonic() - t_start:.0f} s)", flush=True)

    run_recipe(root, demo_eval_content_dir(), demo_eval_style_dir(), profile="demo" if cuda else "smoke",
               phases=phases, size=eval_size, force=True, progress=False, seconds=args.seconds, share_time=True,
               first_init=args.checkpoint if ours else None, eval_every=every,
               on_phase=export, on_chunk=export, **overrides)
    if not trained:
        raise SystemExit(f"no phase trained in {args.seconds:.0f} s (raise --seconds)")
    final = run_diagnose(out / "final", ckpt_out, size=eval_size, device=device)
    for name in ("diagnostics.md", "sheet.png"):
        shutil.move(out / "final" / name, out / name)
    (out / "diagnostics.json").write_text(json.dumps({"probe": speed, "during_training": diagnoses(),
                                                                 "final": final}, indent=1))
    shutil.rmtree(out / "final")
    if cuda and not args.no_bench:
        from rastlib.eval.bench import run as bench
        bench(out, gpu_only=True)
    print(f"done in {time.monotonic() - t_start:.0f} s: {sorted(p.name for p in out.iterdir())}", flush=True)


def parse_layout(text):
    """"32" → (32, False); "32,nhwc" → (32, True)."""
    batch, _, layout = text.partition(",")
    if not batch.isdigit() or int(batch) < 4 or int(batch) % 2 or layout not in ("", "nhwc"):
        raise argparse.ArgumentTypeError(f"expected an even batch size ≥ 4, optionally ',nhwc'; got {text!r}")
    return int(batch), layout == "nhwc"


def probe_device(cuda):
    return torch.cuda.get_device_name() if cuda else "cpu (dry run)"


if __name__ == "__main__":
    main()
