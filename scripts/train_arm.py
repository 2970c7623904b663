"""Train one arm of the CPU recipe from a starting checkpoint, resumably, diagnosing every `--eval-every` steps.

    nice python scripts/train_arm.py A --preset rast_combined --steps 600 [--weight direct_style=1] [--set amp=bf16]

An arm is a run folder runs/arms/<name>/ (checkpoint, log.jsonl, diagnostics.jsonl, arm.json); rerunning the same
command resumes it exactly. Arms that share a start and a seed see the same batches, so two arms differ only by
what their options say (paired arms).

    nice python scripts/train_arm.py --replay results/demo_checkpoint/lower_lr_256/arm_l256.json [--set amp=none]

trains (or resumes) the arm a record's arm.json describes, with its own options; --set and --weight given here
go on top (a CPU with no bf16 unit: --set amp=none), and a name given here renames it. The threads and the
allocator are this command's (neither changes the arithmetic).
"""
import argparse
import json
from pathlib import Path

import torch

from rastlib.app.cli import _parse_pairs
from rastlib.app.recipe import Phase, phase_config, run_phase
from rastlib.data import demo_eval_content_dir, demo_eval_style_dir
from rastlib.eval.bar import WORKING_GATE
from rastlib.eval.metrics import load_eval_set
from rastlib.errors import ConfigError
from rastlib.train import TrainingStopped, allocator
from rastlib.train.checkpoint import DEMO_CHECKPOINT

ROOT = Path("runs/arms")


def parser():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("name", nargs="?", help="the arm's folder under runs/arms/ (with --replay: the record's name)")
    ap.add_argument("--replay", metavar="ARM_JSON", help="train the arm a record's arm.json describes")
    ap.add_argument("--preset", default="rast_combined")
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--init", default=str(DEMO_CHECKPOINT))
    ap.add_argument("--weight", action="append", default=[])
    ap.add_argument("--set", action="append", default=[], dest="sets")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--notes", default="")
    ap.add_argument("--allocator", default="auto", choices=("auto", *allocator.CHOICES),
                    help="memory allocator (auto: tcmalloc where installed; results/bench/allocator_cpu.md)")
    return ap


def main():
    ap = parser()
    args = ap.parse_args()
    if args.replay:
        args = replayed(args)
    elif not args.name:
        ap.error("name the arm (or --replay a record's arm.json)")
    try:
        args.allocator = allocator.resolve(args.allocator)
    except ConfigError as e:
        raise SystemExit(f"--allocator: {e}") from None
    allocator.reexec(args.allocator)
    torch.set_num_threads(args.threads)
    overrides = dict(loss_preset=args.preset, batch_size=8, lr=1e-4, amp="auto",
                     warmup_steps=50)
    overrides.update(_parse_pairs(args.sets, "--set"))
    weights = _parse_pairs(args.weight, "--weight")
    if weights:
        overrides["weights"] = weights
    phase = Phase(args.name, overrides, max_steps=args.steps, eval_every=args.eval_every, gate=WORKING_GATE,
                  notes=args.notes)
    cfg = phase_config(phase, ROOT, init_from=args.init)
    run = Path(cfg.out_dir)
    run.mkdir(parents=True, exist_ok=True)
    (run / "arm.json").write_text(json.dumps({"argv": vars(args), "config": cfg.to_dict()}, indent=1))
    photos, paintings = load_eval_set(demo_eval_content_dir(), 256), load_eval_set(demo_eval_style_dir(), 256)
    try:
        print(run_phase(phase, cfg, photos, paintings, progress=False), flush=True)
    except TrainingStopped as e:  # SIGTERM / Ctrl-C: the step under way is saved
        raise SystemExit(str(e)) from None


def replayed(args):
    """`args` with the options of the arm.json named by `args.replay`: its name (unless `args` names one), preset,
    steps, diagnosis interval, start and notes; its --weight and --set, then those of `args` (the later wins)."""
    try:
        saved = json.loads(Path(args.replay).read_text())["argv"]
        keep = {k: saved[k] for k in ("name", "preset", "steps", "eval_every", "init", "notes", "weight", "sets")}
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise SystemExit(f"--replay {args.replay}: not a readable arm.json ({type(e).__name__}: {e})") from None
    return argparse.Namespace(**{**vars(args), **keep, "name": args.name or keep["name"],
                                 "weight": keep["weight"] + args.weight, "sets": keep["sets"] + args.sets})


if __name__ == "__main__":
    main()
