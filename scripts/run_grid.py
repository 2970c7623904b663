"""Train and evaluate every (variant, seed) run of the six notebooks under one budget, so that `make notebooks`
afterwards only reads them. A background job for the demo profile (3–8 h on 2 cores, by CPU: docs/experiments.md,
"Budgets"):

    nice -n 19 python scripts/run_grid.py --profile demo > runs/grid.log 2>&1 &

Seed-major order: a grid cut off early still has whole seeds. Resumable: rerun the same command; a run whose
record in results/runs/ (or whose checkpoint in runs/) still holds for the code, weights, data and settings
here is not redone. Commit results/runs/ before the machine goes: the records are what the next machine
starts from (docs/experiments.md, "How a comparison is made").

    python scripts/run_grid.py --profile demo --status   # which runs have a record that holds, trains nothing
"""
import argparse
import time

from rastlib import lab as E


def status(budget, variants):
    """A Markdown table, variants down, seeds across: "done" (a record that holds), "stale" (a record whose code,
    weights, data or settings changed) or "to do"; then the count."""
    if not budget.records_dir:
        return f"the {budget.profile} profile keeps no records"
    perceptual = E.evaluation_nets()
    lines = ["| variant | " + " | ".join(f"seed {s}" for s in budget.seeds) + " |",
             "|---|" + "---|" * len(budget.seeds)]
    done = 0
    for v in variants:
        cells = []
        for s in budget.seeds:
            if E.read_record(budget, v, s, perceptual) is not None:
                cells.append("done")
                done += 1
            else:
                cells.append("stale" if E.record_path(budget, v, s).is_file() else "to do")
        lines.append(f"| {v} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + f"\n\n{done} of {len(variants) * len(budget.seeds)} runs done ({budget.what})"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="demo", choices=sorted(E.BUDGETS))
    ap.add_argument("--status", action="store_true", help="print which runs have a record that holds; train nothing")
    args = ap.parse_args()
    budget = E.BUDGETS[args.profile]
    variants = [v for v in E.VARIANTS if v != "rast_wacv"]  # rast_wacv is 01's optional baseline run
    if args.status:
        print(status(budget, variants))
        return
    t0 = time.monotonic()
    rows = E.run_comparison(budget, variants)
    print(f"{len(rows)} runs ({len(variants)} variants × {len(budget.seeds)} seeds) in "
          f"{(time.monotonic() - t0) / 3600:.2f} h: {budget.what}", flush=True)


if __name__ == "__main__":
    main()
