"""How hard each loss term pulls the trained weights of an arm, from a given start: the weighted pull of the arm's
own terms and the unweighted pull of candidate terms, so that new weights can be set by gradient balance.

    scripts/exclusive.sh python scripts/gradient_balance.py runs/arms/A/arm.json --init START.pt \
        [--candidate multirestoration --candidate content_transitive] [--batches 2]

Prints a table (term, weight, ‖w·∇‖, ‖∇‖) and the weight each candidate needs to pull as hard as a named term
(`--match`, default the largest pull of the arm).
"""
import argparse
import json
from dataclasses import replace

import torch

from rastlib.lab import config_gradient_norms
from rastlib.train.config import Config


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("arm_json")
    ap.add_argument("--init", required=True)
    ap.add_argument("--candidate", action="append", default=[])
    ap.add_argument("--match", default="")
    ap.add_argument("--batches", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg = Config(**json.loads(open(args.arm_json).read())["config"])
    arm_weights = dict(cfg.weights)
    unknown = sorted(set(args.candidate) - set(arm_weights))
    if unknown:
        raise SystemExit(f"unknown loss term(s) {unknown}; known: {sorted(arm_weights)}")
    weights = {k: (1.0 if k in args.candidate and not v else v) for k, v in arm_weights.items()}
    norms = config_gradient_norms(replace(cfg, weights=weights, init_from=args.init), args.batches)
    unweighted = {k: n / weights[k] for k, n in norms.items()}
    pulls = {k: arm_weights[k] * unweighted[k] for k in norms}
    match = args.match or max((k for k in pulls if arm_weights[k]), key=pulls.get)
    print(f"start {args.init}; {args.batches} batches of {cfg.batch_size} at {cfg.crop_size}²; amp {cfg.amp}")
    print(f"{'term':22s} {'weight':>8s} {'|w grad|':>10s} {'|grad|':>10s} {'weight to match ' + match:>24s}")
    for k in sorted(norms, key=lambda k: -pulls[k]):
        print(f"{k:22s} {arm_weights[k]:8.3g} {pulls[k]:10.4g} {unweighted[k]:10.4g} "
              f"{pulls[match] / unweighted[k] if unweighted[k] else float('nan'):24.4g}")


if __name__ == "__main__":
    main()
