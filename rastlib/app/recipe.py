"""The phased recipe that trains a working model on little compute, each phase ended by a gate on `diagnose`.

Why phases (results/demo_checkpoint/record.json, docs/training.md): trained end to end on
a CPU budget, the decoder never learned to invert the VGG features and the style term outweighed the content
term, so every output was one texture. So:

1. inverter:  the decoder alone learns to invert the features (transform held at the uniform-attention start,
              identity pixel + feature loss, no pair trick) until T(c, c) is sharp on unseen photos;
2. transform: the transform alone learns to stylise (SANet's losses, decoder frozen, low style weight first);
3. joint:     both together at SANet's weights;
4. rast:      the official RAST (WACV) loss table, so the model is a RAST model, not a SANet one.

A phase trains in chunks of `eval_every` steps; after each chunk `metrics.diagnose` runs on the evaluation
split and is appended to `<run>/diagnostics.jsonl`; the phase ends when its gate passes (written to
`<run>/gate.json`) or at `max_steps` (gate failed: the next phase does not start unless forced). Every phase is
resumable (rerun the same call); a phase whose gate passed is not trained again.
"""
import json
import time
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from ..eval.bar import WORKING_GATE, Gate
from ..eval.metrics import diagnose, load_eval_set
from ..train import allocator
from ..train.config import LOSS_PRESETS, make_config

INVERTER_GATE = Gate("T(c, c) PSNR ≥ 20 dB on the evaluation photos",
                     lambda d: d["identity_psnr_content"] >= 20.0)
STYLISE_GATE = Gate("photo recognisable (content retrieval ≥ 0.75), style retrieval ≥ 2× chance, "
                    "style spread ≥ 0.3",
                    lambda d: d["content_retrieval"] >= 0.75 and d["style_retrieval"] >= 2 * d["chance"]
                    and d["style_spread"] >= 0.3)


@dataclass(frozen=True)
class Phase:
    """One phase: config overrides (on the run's profile), its step budget, how often to diagnose, its gate, and
    whether the diagnostics need the paintings (everything but the inverter)."""
    name: str
    overrides: dict
    max_steps: int
    eval_every: int
    gate: Gate
    stylise: bool = True
    notes: str = ""


IDENTITY_ONLY = {"direct_content": 0.0, "direct_style": 0.0}
# SANet's identity weights (pixel 50, feature 1) left the pixel term ~1/15 of the feature term (0.04 × 50 against
# ~35, results/demo_checkpoint/record.json, part 1), and T(c, c) crept up ~0.5 dB per 100 steps with ±0.5 dB swings
# at lr 3e-4. Pixel 1000 makes the two terms about equal, aimed at the gate's PSNR; lr 1e-4 as AdaIN/WCT use.
INVERTER_WEIGHTS = {**IDENTITY_ONLY, "identity_pixel": 1000.0}

# Each part of the rast phase resumes from an exported checkpoint, which has no discriminators (and, before exports
# kept them, had no contrastive heads): while those relearned, the contrastive terms, 60 % of the loss, fell from
# 67 to 32 over ~150 steps and T(c, c) dropped ~1 dB in the first 50 (results/demo_checkpoint/rast_3_not_adopted/).
# So each part first warms these networks up, the generator held.
RAST_WARMUP = 100

PHASES = (
    Phase("inverter", dict(loss_preset="sanet", weights=INVERTER_WEIGHTS, freeze=("transform",),
                           transform_init="uniform_attention", batch_size=8, lr=1e-4),
          max_steps=4000, eval_every=100, gate=INVERTER_GATE, stylise=False,
          notes="decoder only; identity pixel 1000 + identity feature 1 (part 1: pixel 50, lr 3e-4); transform "
                "held at uniform attention"),
    Phase("transform", dict(loss_preset="sanet", weights={"direct_style": 1.0}, freeze=("decoder",),
                            batch_size=8, lr=1e-4),
          max_steps=3000, eval_every=100, gate=STYLISE_GATE,
          notes="transform only, SANet losses with style weight 1 (of 3): content first"),
    Phase("joint", dict(loss_preset="sanet", batch_size=8, lr=1e-4),
          max_steps=4000, eval_every=200, gate=STYLISE_GATE, notes="both parts, SANet's weights (style 3)"),
    Phase("rast", dict(loss_preset="rast_wacv", batch_size=8, lr=1e-4, warmup_steps=RAST_WARMUP),
          max_steps=20000, eval_every=250, gate=WORKING_GATE,
          notes=f"the official RAST (WACV) loss table; the first {RAST_WARMUP} steps of each part train only the "
                f"contrastive heads and the discriminators"),
)


RECIPE = "phased-v1"  # marks the record of a checkpoint this recipe made (older checkpoints are started over)


def scale_identity(phase, factor):
    """`phase` with its identity weights (pixel and feature) × `factor`, said in its notes (so in the record);
    `phase` itself at 1. At the official weights the style terms pull the generator several times harder than
    the identity terms (‖w·∇‖ ≈ 820 style transitive, 490 style restoration against 170 identity feature and 36
    pixel: results/gradient_balance.json scaled to those weights), and T(c, c) falls while the rast phase trains;
    a CPU test (results/demo_checkpoint/identity_weight_cpu/) lost less of it at 4."""
    if factor == 1:
        return phase
    weights = {**LOSS_PRESETS[phase.overrides["loss_preset"]], **phase.overrides.get("weights", {})}
    scaled = {t: weights[t] * factor for t in ("identity_pixel", "identity_feature")}
    return replace(phase, overrides={**phase.overrides, "weights": {**phase.overrides.get("weights", {}), **scaled}},
                   notes=f"{phase.notes}; identity weights ×{factor:g} (pixel {scaled['identity_pixel']:g}, "
                         f"feature {scaled['identity_feature']:g})")


def remaining_phases(record, phases=PHASES):
    """The phases still to train after a checkpoint whose record is `record`: from the phase after the last one
    it finished (or that phase again if its gate had not passed); all of them for a checkpoint this recipe did
    not make."""
    names = [p.name for p in phases]
    done = [p for p in record.get("phases", []) if p.get("name") in names] if record.get("recipe") == RECIPE else []
    if not done:
        return list(phases)
    last = done[-1]
    start = names.index(last["name"]) + int(bool((last.get("gate_result") or {}).get("passed")))
    return list(phases[start:]) or [phases[-1]]


def phase_config(phase, root, profile="demo", previous=None, **overrides):
    """The training config of `phase` under `root`, initialised from the previous phase's checkpoint."""
    values = {"out_dir": str(Path(root) / phase.name), "iterations": phase.max_steps, "save_every": 25,
              "load_size": 136, "load_size_max": 256, "style_flips": True, **phase.overrides, **overrides}
    if previous is not None:
        values["init_from"] = str(Path(root) / previous.name / "checkpoint.pt")
    return make_config(profile, **values)


def phase_record(phase, part, config, log, diags, gate_result, **extra):
    """A trained phase's entry in a checkpoint's record (CPU and device runs alike): its settings, steps, compute
    time, gate and last diagnosis. `log`: its training-log rows; `diags`: its diagnoses; `part`: which run of this
    phase it is (a phase resumed on another machine is a new part)."""
    return {"name": phase.name, "part": part, "notes": phase.notes, "loss_preset": config["loss_preset"],
            "freeze": config["freeze"], "steps": len(log), "batch": config["batch_size"], "crop": config["crop_size"],
            "lr": config["lr"], "compute_seconds": round(sum(r["seconds"] for r in log), 1),
            "diagnose_seconds": round(sum(d.get("seconds", 0) for d in diags), 1), "gate": phase.gate.text,
            "gate_result": gate_result, "last_diagnostics": diags[-1:], **extra}


def record_totals(entries):
    """Steps and compute hours (training + diagnoses) of a record's phase entries, per device: CPU and GPU hours
    are not added together."""
    hours = {}
    for e in entries:
        hours[e["device"]] = hours.get(e["device"], 0) + (e["compute_seconds"] + e["diagnose_seconds"]) / 3600
    return {"total_steps": sum(e["steps"] for e in entries),
            "compute_hours": {device: round(h, 2) for device, h in hours.items()}}


def cpu_label():
    """The CPU a phase trained on, as its record names it: threads, model, bf16 units, torch."""
    from ..train.probe import cpu_flags
    hw = cpu_flags()
    return (f"{torch.get_num_threads()} CPU threads, {hw['cpu']} ({', '.join(hw['bf16_units']) or 'no bf16 unit'}), "
            f"torch {torch.__version__}")


def export_with_record(ckpt, path, phases, data):
    """Write `ckpt`'s generator as the fp16 inference checkpoint `path`, with the recipe's record: its phase
    entries (`phase_record`, the earlier ones first), the data they trained on, and their totals. The one
    exporter of the CPU recipe, the CPU arms and the GPU call. Returns the record."""
    from ..train.checkpoint import export_inference
    record = {"recipe": RECIPE, "data": data, "phases": list(phases), **record_totals(phases)}
    export_inference(ckpt, path, record)
    return record


def gate_record(run_dir):
    """The gate.json of a finished phase, or None."""
    path = Path(run_dir) / "gate.json"
    return json.loads(path.read_text()) if path.is_file() else None


def read_diagnostics(run_dir):
    """The diagnostics.jsonl of a phase's run folder as a list of dicts ([] before the first diagnosis)."""
    path = Path(run_dir) / "diagnostics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []


def run_phase(phase, cfg, photos, paintings, progress=True, seconds=None, log=print, eval_every=None,
              on_chunk=None):
    """Train `phase` (resuming) until its gate passes or `cfg.iterations` is reached (both write gate.json), or
    `seconds` of wall time are spent (checked after each chunk; nothing written: a rerun goes on); diagnose
    every `eval_every` steps (default: the phase's), then call `on_chunk()` (the checkpoint is on disk then).
    Returns the gate record ({"passed": …}; with "stopped": "time" when time ran out)."""
    from ..train.loop import Trainer
    done = gate_record(cfg.out_dir)
    if done is not None:
        return done
    every = eval_every or phase.eval_every
    trainer = Trainer(cfg)
    run_dir = Path(cfg.out_dir)
    diag_path = run_dir / "diagnostics.jsonl"
    kept = [d for d in read_diagnostics(run_dir) if d["step"] <= trainer.step]  # a resumed run redoes the rest
    run_dir.mkdir(parents=True, exist_ok=True)
    diag_path.write_text("".join(json.dumps(d) + "\n" for d in kept))
    start, first_step = time.monotonic(), trainer.step
    if trainer.step == 0:  # the starting point, for the curves
        kept.append(_diagnose(trainer, phase, photos, paintings, diag_path))
    while True:
        d = kept[-1] if kept else None
        if d is not None and d["step"] == trainer.step and phase.gate(d):
            return _finish(run_dir, phase, d, True, log)
        if trainer.step >= cfg.iterations:
            return _finish(run_dir, phase, d, False, log)
        if seconds is not None and trainer.step > first_step and time.monotonic() - start >= seconds:
            return {"phase": phase.name, "gate": phase.gate.text, "passed": False, "stopped": "time",
                    "step": trainer.step, "diagnostics": d}
        trainer.fit(steps=every - trainer.step % every, progress=progress)
        kept.append(_diagnose(trainer, phase, photos, paintings, diag_path))
        log(f"[{phase.name}] step {trainer.step}: " + ", ".join(f"{k} {v:.3g}" for k, v in kept[-1].items()
                                                                   if k not in ("step", "seconds", "precision")))
        if on_chunk is not None:
            on_chunk()


def _diagnose(trainer, phase, photos, paintings, path):
    """The run's diagnosis at its step (of its weight average if its config keeps one), the model's
    passes in the precision it trains in (bf16 moves no measure by more than a hundredth of the adoption rule's
    noise: results/bench/diagnose_precision.md)."""
    t0 = time.perf_counter()
    trainer.model.eval()
    previous, precision = trainer.model.precision, "bf16" if trainer.cfg.amp == "bf16" else "fp32"
    trainer.model.precision = precision
    try:
        with trainer.system.averaged() as model:  # the weight average, where the run keeps one
            d = diagnose(model, photos, paintings if phase.stylise else None)
    finally:
        trainer.model.precision = previous
        allocator.release_free_memory()  # the diagnosis's buffers, kept by tcmalloc, would double the run's memory
    record = {"step": trainer.step, **d, "precision": precision, "seconds": round(time.perf_counter() - t0, 1)}
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")
    return record


def _finish(run_dir, phase, d, passed, log):
    record = {"phase": phase.name, "gate": phase.gate.text, "passed": passed, "step": d and d["step"],
              "diagnostics": d}
    (Path(run_dir) / "gate.json").write_text(json.dumps(record, indent=2))
    log(f"[{phase.name}] gate {'PASSED' if passed else 'NOT passed'} at step {record['step']}: {phase.gate.text}")
    return record


def run_recipe(root, eval_content, eval_style, profile="demo", phases=PHASES, size=256, force=False,
               progress=True, seconds=None, share_time=False, first_init=None, eval_every=None, log=print,
               on_phase=None, on_chunk=None, **overrides):
    """Run `phases` in order under `root` (resumable); returns {phase name: gate record}.

    A phase starts only when the previous one passed its gate, or with `force`. `seconds` bounds the whole call;
    with `share_time` (the device run) each phase gets an equal share of the time still left, so a phase that
    passes its gate early leaves more to the next ones. `first_init`: the checkpoint the first phase starts
    from (default: its config's own start). `on_phase(phase, record)` is called after each phase and
    `on_chunk(phase)` after each chunk of one (the device run exports there, so a call killed later still brings
    back what it trained).
    """
    from ..train.loop import resolve_device
    device = resolve_device(overrides.get("device", "cpu"))
    photos, paintings = load_eval_set(eval_content, size).to(device), load_eval_set(eval_style, size).to(device)
    results, previous = {}, None
    deadline = None if seconds is None else time.monotonic() + seconds
    for i, phase in enumerate(phases):
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            break
        if share_time and left is not None:
            left /= len(phases) - i
        extra = {"init_from": str(first_init)} if previous is None and first_init else {}
        cfg = phase_config(phase, root, profile, previous, **extra, **overrides)
        with torch.random.fork_rng(devices=[]):
            results[phase.name] = rec = run_phase(phase, cfg, photos, paintings, progress, left, log, eval_every,
                                                  on_chunk and (lambda: on_chunk(phase)))
        if on_phase is not None:
            on_phase(phase, rec)
        if not (rec["passed"] or force):
            break
        previous = phase
    return results
