"""The plan of the experiment grid (notebooks 02–06) from measured step times: the bf16 step of every variant on
this CPU (the setting the step probe chooses here, `rastlib.train.probe`), then the arithmetic of a grid at a budget
that can show an effect: variants × seeds × steps × step time, plus an evaluation a run. Writes
results/plan/grid_plan.json and .md.

    scripts/exclusive.sh python scripts/plan_grid.py [--steps 300] [--seeds 3] [--batch 4]
    python scripts/plan_grid.py --detectable-only      (no timing: the table below from the saved plan)

What each budget can show: for every seed claim, the smallest effect the verdict rule (paired t, Holm over the
notebook's claims, α = 0.05, power 0.8) detects with 3, 5 or 8 seeds, from the seed-to-seed spread of the paired
differences in the committed records (`verdicts.detectable_difference`).

Table 2 (notebook 04) trains and evaluates at 256, 128 and 64 px as the seed's table does, so its two variants
are timed at each crop; the other variants at 128².
"""
import argparse
import json
import tempfile
from dataclasses import replace
from pathlib import Path

import torch

from rastlib.eval.bench import machine
from rastlib.lab import BUDGETS, seed_claims, variant_config
from rastlib.lab.verdicts import detectable_difference, difference
from rastlib.train import Trainer
from rastlib.train.probe import step_seconds

GRID = {  # notebook: the variants it compares (each against `full`)
    "02_ablation": ("full", "no_content", "no_style", "no_restoration", "no_adversarial", "no_idempotency",
                    "no_lpips"),
    "03_idempotency": ("full", "no_idempotency"),
    "04_multirestoration": ("full", "no_multirestoration"),
    "05_lpips": ("full", "no_lpips"),
    "06_simplified": ("full", "simplified", "simplified_reduced"),
}
TABLE2_CROPS = (256, 128, 64)
EVAL_SECONDS = 30  # one run's evaluation on the 12 held-out pairs (the demo grid's records)
SEED_OPTIONS = (3, 5, 8)


def variant_step_seconds(budget, variant, crop, steps=1):
    """Seconds of a bf16 + channels_last training step of `variant` at `crop`² (`rastlib.train.probe.step_seconds`)."""
    b = replace(budget, crop_size=crop, runs_dir=tempfile.mkdtemp(prefix="plan-"))
    trainer = Trainer(replace(variant_config(b, variant, 0), amp="bf16", channels_last=True), resume=False)
    return step_seconds(trainer, next(trainer.batches()), steps)


def plan(steps, seeds, batch):
    budget = replace(BUDGETS["demo"], steps=steps, seeds=tuple(range(seeds)), batch_size=batch)
    runs = sorted({(v, 128) for vs in GRID.values() for v in vs}
                  | {(v, c) for v in GRID["04_multirestoration"] for c in TABLE2_CROPS})
    timed = {}
    for variant, crop in runs:
        timed[f"{variant}@{crop}"] = round(variant_step_seconds(budget, variant, crop), 2)
        print(f"{variant} at {crop}²: {timed[f'{variant}@{crop}']:.2f} s a step", flush=True)
    hours = {k: round(seeds * (steps * s + EVAL_SECONDS) / 3600, 2) for k, s in timed.items()}
    return {"machine": machine(), "budget": {"steps": steps, "seeds": seeds, "batch": batch, "amp": "bf16",
                                            "channels_last": True, "start": Path(budget.init_from).name},
            "eval_seconds_per_run": EVAL_SECONDS, "step_seconds": timed, "hours": hours,
            "total_hours": round(sum(hours.values()), 1), "grid": {k: list(v) for k, v in GRID.items()}}


def record_rows(records_dir):
    """[{"variant", "seed", metric: value}] of every committed run record under `records_dir`/demo."""
    rows = []
    for path in sorted(Path(records_dir, "demo").glob("*/seed*.json")):
        r = json.loads(path.read_text())
        rows.append({"variant": r["variant"], "seed": r["seed"], **r["metrics"]})
    return rows


def detectable(records_dir="results/runs", seeds=SEED_OPTIONS):
    """Per notebook and claim: the spread of the paired per-seed differences in the committed records, and the
    smallest effect the verdict rule detects with each number of `seeds`, also as a share of the reference mean."""
    rows, out = record_rows(records_dir), []
    budget = BUDGETS["demo"]
    for notebook in GRID:
        claims = seed_claims(notebook, budget)
        for claim in claims:
            found = difference(rows, claim)
            if found is None:
                continue
            _, se, _, n, paired = found
            sd = se * (n[0] ** 0.5)
            ref = [r[claim.metric] for r in rows if r["variant"] == claim.reference and claim.metric in r]
            ref_mean = sum(ref) / len(ref)
            mde = {k: detectable_difference(sd, k, len(claims), equivalence=claim.expect == "same") for k in seeds}
            out.append({"notebook": notebook, "source": claim.source, "metric": claim.metric,
                        "variant": claim.variant, "reference": claim.reference, "expect": claim.expect,
                        "records": n[0], "paired": paired, "sd_paired_difference": sd, "reference_mean": ref_mean,
                        "claims_in_notebook": len(claims), "detectable": mde,
                        "detectable_share": {k: v / abs(ref_mean) for k, v in mde.items()},
                        "seed_says": claim.seed_says})
    return out


def detectable_markdown(rows, records_budget):
    lines = ["## What each budget can show", "",
             "The smallest effect the verdict rule detects (paired t over seeds, Holm over the notebook's claims, "
             "α = 0.05, power 0.8; for \"same\": the smallest margin TOST can establish): (critical t + power "
             "quantile) × sd / √seeds, `rastlib.lab.verdicts.detectable_difference`. sd is the seed-to-seed spread of "
             f"the paired differences in the committed records ({records_budget}), the only spread measured so far; "
             "a longer run from a working model may spread differently, so this table is to be recomputed from "
             "the grid's first seeds. Effects as a share of the reference variant's mean.", "",
             "| notebook | claim | metric | variant vs reference | sd of paired diff. (records) | "
             + " | ".join(f"detectable, {k} seeds" for k in SEED_OPTIONS) + " | the seed says |",
             "|---|---|---|---|---|" + "---|" * len(SEED_OPTIONS) + "---|"]
    for r in rows:
        lines.append(f"| {r['notebook']} | {r['source']} | `{r['metric']}` | {r['variant']} vs {r['reference']} "
                     f"({r['expect']}) | {r['sd_paired_difference']:.3g} (n = {r['records']}) | "
                     + " | ".join(f"{r['detectable'][k]:.3g} ({r['detectable_share'][k]:.0%})" for k in SEED_OPTIONS)
                     + f" | {r['seed_says']} |")
    return "\n".join(lines) + "\n"


def markdown(p):
    b, m = p["budget"], p["machine"]
    lines = [f"# The experiment grid's plan ({m['cpu']}, {m['threads']} threads, torch {m['torch']})", "",
             f"Budget: {b['steps']} steps a run, {b['seeds']} paired seeds, batch {b['batch']}, bf16 autocast + "
             f"channels_last (the step probe's choice on this CPU), each run fine-tuned from {b['start']}; "
             f"{p['eval_seconds_per_run']} s of evaluation a run. Every variant is trained once and shared by "
             "the notebooks that compare it (`full` serves them all).", "",
             "| variant @ crop | s / step (measured) | CPU hours (seeds × (steps × step + eval)) |", "|---|---|---|"]
    lines += [f"| {k} | {s:.2f} | {p['hours'][k]:.2f} |" for k, s in p["step_seconds"].items()]
    lines += ["", f"**Total: {p['total_hours']} CPU hours** on this machine for the whole grid "
                  "(Table 2 at three resolutions included).", "",
              "| notebook | variants |", "|---|---|"]
    lines += [f"| {n} | {', '.join(v)} |" for n, v in p["grid"].items()]
    text = "\n".join(lines) + "\n"
    if p.get("detectable"):
        per_seed = p["total_hours"] / b["seeds"]
        text += ("\n" + detectable_markdown(p["detectable"], p["detectable_records"]) + "\nThe whole grid at "
                 + ", ".join(f"{k} seeds: {per_seed * k:.1f} CPU hours" for k in SEED_OPTIONS)
                 + f" (this machine, {b['steps']} steps a run).\n")
    return text


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--out", default="results/plan")
    ap.add_argument("--detectable-only", action="store_true",
                    help="keep the saved plan's step times, recompute only what each budget can show")
    args = ap.parse_args()
    torch.set_num_threads(2)
    out = Path(args.out)
    if args.detectable_only:
        p = json.loads((out / "grid_plan.json").read_text())
    else:
        p = plan(args.steps, args.seeds, args.batch)
    b = BUDGETS["demo"]
    p["detectable"] = detectable()
    p["detectable_records"] = (f"{b.steps}-step fine-tunings of an older checkpoint, seeds "
                               f"{', '.join(map(str, b.seeds))}")
    out.mkdir(parents=True, exist_ok=True)
    (out / "grid_plan.json").write_text(json.dumps(p, indent=1))
    (out / "grid_plan.md").write_text(markdown(p))
    print(markdown(p))


if __name__ == "__main__":
    main()
