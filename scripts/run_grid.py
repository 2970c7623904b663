"""Train and evaluate every (variant, seed) run of the six notebooks under one budget, so that `make notebooks`
afterwards only reads them. A background job for the demo profile (~8 h on 2 cores):

    nice -n 19 python scripts/run_grid.py --profile demo > runs/grid.log 2>&1 &

Seed-major order: a grid cut off early still has whole seeds. Resumable: rerun the same command; a run whose
record in results/runs/ (or whose checkpoint in runs/) still holds for the code, weights, data and settings
here is not redone. Commit results/runs/ before the machine goes: the records are what the next machine
starts from (README, "How a comparison is made").
"""
import argparse
import time

from rastlib import experiments as E


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="demo", choices=sorted(E.BUDGETS))
    args = ap.parse_args()
    budget = E.BUDGETS[args.profile]
    variants = [v for v in E.VARIANTS if v != "rast_wacv"]  # rast_wacv is 01's optional baseline run
    t0 = time.monotonic()
    rows = E.run_comparison(budget, variants)
    print(f"{len(rows)} runs ({len(variants)} variants × {len(budget.seeds)} seeds) in "
          f"{(time.monotonic() - t0) / 3600:.2f} h: {budget.what}", flush=True)


if __name__ == "__main__":
    main()
