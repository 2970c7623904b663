"""The seed paper's experiments as code: variants, a shared budget, cached runs, records, tables and verdicts.

Every variant of a comparison is trained under the same `Budget` (profile, steps, crop, batch, seeds, start)
and evaluated on the same held-out pairs with the same metrics, so a table row differs from another only by
its losses or architecture. The design is paired: for one seed, every variant starts from the same weights and
sees the same batches in the same order (`data` draws every crop from (seed, position) alone), so a verdict
tests the per-seed differences (`verdicts`).

Runs are cached in `<runs_dir>/<profile>/<variant>/seed<k>/` (checkpoint + eval.json), keyed by a digest of the
config, of the starting weights, of the training images and of the code that trains (or evaluates) them
(`cache`): change any of them and the run is redone. Each finished run also leaves a small committed record in
`results/runs/` (keys, metrics, log, figure images; `runs`), from which the grid and the notebooks go on without
the checkpoints, on another machine (`records`). The notebooks share runs (02's `no_idempotency` is 03's
"without"). The code digest is read from the files, so a grid whose code is edited while it runs stops
(`run_comparison`) rather than label its next runs with code it did not load.

On a CPU (`demo` profile) each variant is a short fine-tuning of the committed demo checkpoint, not a training
from scratch; every table says so. `device` runs the grid with 1,000 steps a run on a GPU (docs/experiments.md,
"Budgets"); `paper` trains from scratch on COCO + WikiArt and needs a GPU for days.

The notebooks use this package as one namespace (`from rastlib import lab as E`). The top of the layers: it may
import every other part of rastlib; nothing imports it.
"""
from .cache import EVAL_CODE, TRAIN_CODE, code_digest, file_digest, listing_digest, run_key
from .claims import EQUIVALENCE_MARGIN, LPIPS_SCORE, RESTORATION, STYLISATION, label_claims, seed_claims
from .records import (aggregate, art_fid_line, baseline_checkpoint, check_outputs, colour_preservation, figure_views,
                      speed_rows, training_logs, write_claims, write_summary, write_table)
from .runs import (EVAL_FUNCTIONS, FIGURE_PAIRS, code_digests, eval_key, eval_pairs, evaluate_run, evaluation_nets,
                   figure_pairs, inference_seconds, parameters_m, read_record, record_path, run_comparison,
                   train_step_seconds, train_variant, write_record)
from .variants import (ABLATION, BUDGETS, NEW_TERMS, VARIANTS, Budget, at_repo_root, balanced_weights, check_parameters,
                       config_gradient_norms, gradient_norms, restoration_metrics, run_dir, variant_config)
from .verdicts import RULE, Claim, judge, verdicts_markdown

__all__ = [
    "ABLATION", "BUDGETS", "Budget", "Claim", "EQUIVALENCE_MARGIN", "EVAL_CODE", "EVAL_FUNCTIONS", "FIGURE_PAIRS",
    "LPIPS_SCORE", "NEW_TERMS", "RESTORATION", "RULE", "STYLISATION", "TRAIN_CODE", "VARIANTS", "aggregate",
    "art_fid_line", "at_repo_root", "balanced_weights", "baseline_checkpoint", "check_outputs", "check_parameters",
    "code_digest", "code_digests", "colour_preservation", "config_gradient_norms", "eval_key", "eval_pairs",
    "evaluate_run", "evaluation_nets", "figure_pairs", "figure_views", "file_digest", "gradient_norms",
    "inference_seconds",
    "judge", "label_claims", "listing_digest", "parameters_m", "read_record", "record_path", "restoration_metrics",
    "run_comparison", "run_dir", "run_key", "seed_claims", "speed_rows", "train_step_seconds", "train_variant",
    "training_logs", "variant_config", "verdicts_markdown", "write_claims", "write_record", "write_summary",
    "write_table",
]
