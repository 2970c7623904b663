"""Judge a CPU arm (`scripts/train_arm.py`, a run folder runs/arms/<name>/) by the rule that judges a device call,
and commit it only if it is better.

    python scripts/import_cpu_arm.py id4 [--phase rast] [--stopped "session ended"] [--checkpoint averaged.pt]

With --checkpoint, the judged generator is that file (a weight average of the arm's snapshots, `python -m rastlib
average`; its sources go into the record's notes) instead of the arm's last checkpoint; the steps, log and
diagnoses are still the arm's, up to its last checkpoint.

Lineage: the arm must start from the committed generator; or continue, with --continues ARM, from a snapshot of
an arm ARM that was adopted before that snapshot's step or that itself started from the committed generator (a
fork of an unjudged arm: ARM's steps up to the snapshot enter the record as their own entry); or be the adopted
arm itself, trained on past its adopted step (then only its steps after that step enter the record, as the next
part).

The arm is packed as a device call's $OUT folder is (the checkpoint exported fp16 with the committed record plus
one phase entry for the arm, its training log, its diagnoses and its step-probe table), then handed to
`import_device_run.judge`: diagnosed here, judged by `rastlib.eval.bar.adoption`, and either adopted (the demo
checkpoint, results/demo/, the record in results/demo_checkpoint/) or set aside in
results/demo_checkpoint/<phase>_<part>_not_adopted/. Both ways the record names the CPU, its threads, the chosen
numeric setting, the steps and the hours.
"""
import argparse
import json
import statistics
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from import_device_run import judge  # noqa: E402

from rastlib.app.recipe import (PHASES, RECIPE, cpu_label, export_with_record, phase_record,  # noqa: E402
                                read_diagnostics)
from rastlib.train import read_log  # noqa: E402
from rastlib.train.checkpoint import DEMO_CHECKPOINT, generator_weights, load_checkpoint  # noqa: E402


def pack_arm(run, out, phase_name="rast", stopped="session ended", committed=DEMO_CHECKPOINT, checkpoint=None,
             diagnosis=None, continues=None):
    """Write the arm in `run` into `out` as a device call's folder (the generator of `checkpoint`, default the
    arm's last one); returns the arm's phase entry. `diagnosis`: that of an averaged `checkpoint`, appended to the
    arm's diagnoses (marked "averaged") so that the record's last diagnosis is the judged generator's.

    `continues`: the run folder of the arm this one was started from (its `init_from` a snapshot of that arm),
    when that arm was itself adopted at an earlier step or started from the committed generator: its steps from
    the adopted one (or from 0) to the snapshot's enter the record as their own entry, so that the record's steps
    and hours are all that the checkpoint took."""
    run, out = Path(run), Path(out)
    ckpt = load_checkpoint(checkpoint or run / "checkpoint.pt")
    if ckpt["kind"] == "inference":  # an averaged file: the arm's config, step and record, the file's generator
        ckpt = {**load_checkpoint(run / "checkpoint.pt"), "generator": ckpt["generator"], "heads": ckpt["heads"],
                "ema": None, "averaged_from": ckpt["record"].get("averaged_from")}  # the file's, not the arm's average
    arm = json.loads((run / "arm.json").read_text())
    committed_ckpt = load_checkpoint(committed)
    record = committed_ckpt.get("record", {})
    if record.get("recipe") != RECIPE:
        raise SystemExit(f"{committed} was not made by the recipe ({RECIPE}): an arm cannot extend its record")
    phase = next(p for p in PHASES if p.name == phase_name)
    earlier, start = [], 0
    adopted_at = None if continues is not None else _adopted_step(run, record)
    if continues is not None:
        earlier = [_continued_entry(Path(continues), record, phase, ckpt["config"]["init_from"], run.name,
                                    committed, committed_ckpt["generator"])]
    elif adopted_at is not None:
        if ckpt["step"] <= adopted_at:
            raise SystemExit(f"arm {run.name} was adopted at step {adopted_at}; the checkpoint to judge is at step "
                             f"{ckpt['step']}: nothing after the adoption to judge")
        start = adopted_at
    else:
        _check_starts_at(committed, committed_ckpt["generator"], ckpt["config"]["init_from"], run.name)
    notes = _arm_notes(run.name, arm)
    if ckpt.get("averaged_from"):
        notes += "; judged as the weight average of " + ", ".join(
            f"{s['path']} (step {s['step']}, weight {s['weight']:.3g})" for s in ckpt["averaged_from"])
    part = 1 + sum(e["name"] == phase.name for e in record["phases"] + earlier)
    rows, diags, entry = _arm_entry(run, replace(phase, notes=notes), part, ckpt["config"], start, ckpt["step"],
                                    stopped)
    if diagnosis is not None:
        diags.append({"step": ckpt["step"], **diagnosis, "averaged": True})
        entry["last_diagnostics"] = diags[-1:]
    out.mkdir(parents=True, exist_ok=True)
    export_with_record(ckpt, out / "rast_device_fp16.pt", record["phases"] + earlier + [entry], record.get("data"))
    (out / "train_log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (out / "diagnostics.json").write_text(json.dumps(
        {"probe": _probe(run) or {"note": "no step probe: the arm set its numeric setting"},
         "during_training": [{"phase": phase.name, **d} for d in diags]}, indent=1))
    return entry


def _probe(run):
    """The arm's step-probe table, or None (the arm set its numeric setting)."""
    return json.loads((run / "cpu_probe.json").read_text()) if (run / "cpu_probe.json").is_file() else None


def _arm_notes(name, arm):
    return f"CPU arm {name}: {arm['argv'].get('notes') or ''} (scripts/train_arm.py {' '.join(_argv(arm))})"


def _arm_entry(run, phase, part, cfg, start, stop, stopped):
    """The log rows (tagged with the phase), diagnoses and record entry of the arm in `run` from step `start`
    (exclusive for the diagnoses: the start's diagnosis is the previous entry's) to step `stop`."""
    rows = paused_steps_clipped([{"phase": phase.name, **r} for r in read_log(run / "log.jsonl")
                                 if start <= r["step"] < stop])
    diags = [d for d in read_diagnostics(run) if (start < d["step"] or start == 0) and d["step"] <= stop]
    probe = _probe(run)
    entry = phase_record(phase, part, cfg, rows, diags, {"passed": False, "stopped": stopped, "step": stop},
                         device=cpu_label(), amp=cfg["amp"], channels_last=cfg["channels_last"],
                         step_probe=probe and {k: probe[k] for k in ("chosen", "speedup_vs_fp32")})
    return rows, diags, entry


def _check_starts_at(committed, now, init_from, name):
    """Refuse an arm that did not start from the committed generator `now` (of the file `committed`): its steps
    would enter the record as the continuation of a checkpoint they never saw (an arm branched from an earlier
    part, or from a snapshot of an adopted arm after its adopted step, which `--continues` records)."""
    why = None
    if not init_from or not Path(init_from).is_file():
        why = f"its start {init_from!r} is not here to compare"
    else:
        start = generator_weights(load_checkpoint(init_from))
        if any(k not in start.get(part, {}) or not torch.allclose(start[part][k].float(), v.float(), rtol=1e-3,
                                                                  atol=1e-4)
               for part, weights in now.items() for k, v in weights.items()):
            why = f"its start {init_from} is not the committed generator"
    if why:
        raise SystemExit(f"arm {name} does not start from the committed checkpoint {committed}: {why}. An arm started "
                         f"from a later snapshot of the adopted arm is imported with --continues ARM; one branched "
                         f"from an earlier part cannot extend this record (start a new arm from the committed one)")


def _adopted_step(run, record):
    """The step at which the arm in `run` itself was adopted, if the committed record's last entry is this arm's
    own (its name, and its diagnosis at that step the same as the record's): the arm trained on past it, and its
    steps after that step are the committed checkpoint's continuation. None otherwise (an averaged adoption is
    not the arm's own state, so the arm does not continue it)."""
    last = record["phases"][-1] if record["phases"] else {}
    judged = (last.get("last_diagnostics") or [{}])[-1]
    if not str(last.get("notes", "")).startswith(f"CPU arm {run.name}:") or judged.get("averaged"):
        return None
    step = last.get("gate_result", {}).get("step")
    own = [d for d in read_diagnostics(run) if d["step"] == step]
    if not own or any(own[-1].get(k) != v for k, v in judged.items() if isinstance(v, (int, float))):
        return None
    return step


def _continued_entry(earlier_run, record, phase, init_from, name, committed, committed_generator):
    """The entry for the steps the arm in `earlier_run` trained after its adopted step (the committed record's
    last entry is that arm's), or from its step 0 when it started from the committed generator, up to the
    snapshot `init_from` that the arm `name` started from."""
    last = record["phases"][-1] if record["phases"] else {}
    cfg = load_checkpoint(earlier_run / "checkpoint.pt")["config"]
    if str(last.get("notes", "")).startswith(f"CPU arm {earlier_run.name}:"):
        start = last["gate_result"]["step"]
    else:
        try:
            _check_starts_at(committed, committed_generator, cfg["init_from"], earlier_run.name)
        except SystemExit as refused:
            raise SystemExit(f"--continues {earlier_run.name}: the committed checkpoint's last record entry is not "
                             f"that arm's, and {refused}") from None
        start = 0
    if not init_from or not Path(init_from).is_file():
        raise SystemExit(f"--continues {earlier_run.name}: arm {name} names no snapshot it started from "
                         f"(init_from {init_from!r})")
    snapshot = load_checkpoint(init_from)
    if Path(snapshot["config"].get("out_dir", "")).name != earlier_run.name:
        raise SystemExit(f"--continues {earlier_run.name}: the snapshot {init_from} that arm {name} started from is "
                         f"arm {Path(snapshot['config'].get('out_dir', '')).name}'s, not {earlier_run.name}'s")
    stop = snapshot["step"]
    if stop <= start:
        raise SystemExit(f"--continues {earlier_run.name}: the snapshot {init_from} is at step {stop}, not after the "
                         f"adopted step {start}")
    arm = json.loads((earlier_run / "arm.json").read_text())
    part = 1 + sum(e["name"] == phase.name for e in record["phases"])
    stopped = f"continued by arm {name} from this arm's average at step {stop} ({init_from})"
    return _arm_entry(earlier_run, replace(phase, notes=_arm_notes(earlier_run.name, arm)), part, cfg, start, stop,
                      stopped)[2]


def diagnose_file(path):
    """The diagnosis of a checkpoint file on the evaluation split, as the arms diagnose (256 px, passes in bf16)."""
    from rastlib.data import demo_eval_content_dir, demo_eval_style_dir
    from rastlib.eval.metrics import diagnose, load_eval_set
    from rastlib.train.checkpoint import load_model
    d = diagnose(load_model(path, precision="bf16"), load_eval_set(demo_eval_content_dir(), 256),
                 load_eval_set(demo_eval_style_dir(), 256))
    return {**d, "precision": "bf16"}


def _averaged(path):
    """Whether `path` is a weight average (`python -m rastlib average`)."""
    return bool(path) and bool(load_checkpoint(path).get("record", {}).get("averaged_from"))


def paused_steps_clipped(rows, factor=3):
    """The log rows with each step's seconds capped at `factor` × the median step: a step during which
    scripts/exclusive.sh paused the training (make test, a benchmark) logs the pause as its own time (up to
    ~800 s), which is not compute. The cap keeps the record's hours those of training."""
    if not rows:
        return rows
    cap = factor * statistics.median(r["seconds"] for r in rows)
    return [{**r, "seconds": min(r["seconds"], cap)} for r in rows]


def _argv(arm):
    a = arm["argv"]
    return [a["name"], "--preset", a["preset"], "--steps", str(a["steps"]), "--eval-every", str(a["eval_every"]),
            *[f"--weight {w}" for w in a.get("weight", [])], *[f"--set {s}" for s in a.get("sets", [])],
            *([f"--allocator {a['allocator']}"] if a.get("allocator") else [])]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("name", help="the arm's name: runs/arms/<name>/")
    ap.add_argument("--phase", default="rast", help="the recipe phase the arm continues (its record's name)")
    ap.add_argument("--stopped", default="session ended", help="why the arm stopped, for the record")
    ap.add_argument("--checkpoint", help="judge this file (e.g. a weight average) instead of the arm's last checkpoint")
    ap.add_argument("--continues", metavar="ARM", help="the arm (runs/arms/ARM/) this one was started from, itself "
                    "adopted at an earlier step or started from the committed generator: its steps from there to "
                    "the snapshot enter the record")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        entry = pack_arm(Path("runs/arms") / args.name, tmp, args.phase, args.stopped, checkpoint=args.checkpoint,
                         diagnosis=diagnose_file(args.checkpoint) if _averaged(args.checkpoint) else None,
                         continues=args.continues and Path("runs/arms") / args.continues)
        print(f"arm {args.name}: {entry['steps']} steps, {entry['compute_seconds'] / 3600:.2f} h of training, "
              f"{entry['device']}")
        judge([tmp])


if __name__ == "__main__":
    main()
