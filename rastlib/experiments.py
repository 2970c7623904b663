"""The seed paper's experiments as code: variants, a shared budget, cached runs, metrics and verdicts.

Every variant of a comparison is trained under the same `Budget` (profile, steps, crop, batch, seeds, start)
and evaluated on the same held-out pairs with the same metrics, so a table row differs from another only by
its losses or architecture. The design is paired: for one seed, every variant starts from the same weights and
sees the same batches in the same order (`data` draws every crop from (seed, position) alone), so a verdict
tests the per-seed differences (`rastlib.verdicts`).

Runs are cached in `<runs_dir>/<profile>/<variant>/seed<k>/` (checkpoint + eval.json), keyed by a digest of the
config, of the starting weights, of the training images and of the code that trains (or evaluates) them:
change any of them and the run is redone. Each finished run also leaves a small committed record in
`results/runs/` (keys, metrics, log, figure images), from which the grid and the notebooks go on without the
checkpoints, on another machine. The notebooks share runs (02's `no_idempotency` is 03's "without"). The code
digest is read from the files, so a grid whose code is edited while it runs stops (`run_comparison`) rather
than label its next runs with code it did not load.

On a CPU (`demo` profile) each variant is a short fine-tuning of the committed demo checkpoint, not a training
from scratch; every table says so. `device` runs the grid with 1,000 steps a run on a GPU (more than one lent
call holds: docs/experiments.md, "Budgets"); `paper` trains from scratch on COCO + WikiArt and needs a GPU for days.
"""
import ast
import csv
import hashlib
import json
import math
import shutil
import statistics
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from .checkpoint import DEMO_CHECKPOINT, REPO_ROOT, load_model
from .config import LOSS_PRESETS, PROFILES, ablate, make_config
from .data import demo_eval_content_dir, demo_eval_style_dir, first_readable, list_images
from .errors import ConfigError, DataError, RastError
from .metrics import (COLOUR_METRICS, colour_preservation_metrics, evaluate_pair, load_square, mean_std,
                      restoration_score, summarise)
from .paths import portable
from .verdicts import RULE, Claim, judge, verdicts_markdown

# Each variant: a loss preset, weight overrides (the ablated group switched off) and an architecture.
_FULL = LOSS_PRESETS["seed_full"]
VARIANTS = {
    "rast_wacv": {"weights": LOSS_PRESETS["rast_wacv"], "architecture": "full",
                  "what": "the official WACV 2023 losses and weights (the baseline of 01)"},
    "full": {"weights": _FULL, "architecture": "full",
             "what": "all seed loss groups on (the `seed_full` preset)"},
    **{f"no_{group}": {"weights": ablate(_FULL, group), "architecture": "full",
                       "what": f"`seed_full` without the {group} group"}
       for group in ("content", "style", "restoration", "adversarial", "idempotency", "multirestoration",
                     "lpips")},
    "simplified": {"weights": _FULL, "architecture": "single_level",
                   "what": "`full` with the single-level SANet (relu4_1 only): the architecture alone changes"},
    "simplified_reduced": {"weights": {**_FULL, "adversarial": 0.0, "contrastive_content": 0.0,
                                       "contrastive_style": 0.0},
                           "architecture": "single_level",
                           "what": "`simplified` without discriminators and projection heads (no adversarial or "
                                   "contrastive terms): the modules a lighter model would also drop"},
}
ABLATION = ("full", "no_content", "no_style", "no_restoration", "no_adversarial", "no_idempotency", "no_lpips")


@dataclass(frozen=True)
class Budget:
    """What every variant of a comparison gets: the same training budget, seeds, start and evaluation.

    Training multirestoration scales are the crop and its halves (`train_scales`), so each is a real lower
    resolution of what the network sees; evaluation pairs come from the held-out split at `eval_size` px (loaded
    at that size: the split's images are larger, so nothing is upsampled) and Table 2's `restoration_scales`
    are downscales of them."""
    profile: str
    steps: int
    crop_size: int
    batch_size: int
    seeds: tuple
    eval_pairs: int
    eval_size: int
    restoration_scales: tuple = (256, 128, 64)
    init_from: str = ""
    lr: float = 1e-4
    content_dir: str = ""
    style_dir: str = ""
    eval_content_dir: str = ""
    eval_style_dir: str = ""
    runs_dir: str = "runs/experiments"
    records_dir: str = "results/runs"
    device: str = "cpu"

    @property
    def train_scales(self):
        """The multirestoration scales of training: the crop, half and a quarter of it (the seed's 256/128/64 at
        a 256 crop), none under 32 px (relu5_1 needs 2 px)."""
        return tuple(sorted({max(32, self.crop_size // k) for k in (1, 2, 4)}, reverse=True))

    @property
    def what(self):
        start = f"fine-tuned from {Path(self.init_from).name}" if self.init_from else "trained from scratch"
        return (f"{self.profile} profile: {self.steps} steps, {self.crop_size}² crops, batch {self.batch_size}, "
                f"multirestoration at {list(self.train_scales)} px, {start}, seeds {list(self.seeds)} (paired); "
                f"metrics on {self.eval_pairs} held-out pairs at {self.eval_size} px")


# demo: the whole CPU grid, 10 variants × 4 seeds × 24 steps at ~23 s a `seed_full` step (128², batch 4, 2 cores,
# measured alone) ≈ 6.1 h, plus ~30 s of evaluation a run: about six hours of background compute
# (docs/experiments.md, "Budgets").
BUDGETS = {
    # From scratch (a seeded random start), so the nbval references of 02–06 follow the code, not the checkpoint.
    "smoke": Budget("smoke", steps=1, crop_size=64, batch_size=4, seeds=(0, 1), eval_pairs=2, eval_size=64,
                    restoration_scales=(64, 32), records_dir=""),
    "demo": Budget("demo", steps=24, crop_size=128, batch_size=4, seeds=(0, 1, 2, 3), eval_pairs=12,
                   eval_size=256, init_from=str(DEMO_CHECKPOINT)),
    "device": Budget("device", steps=1000, crop_size=128, batch_size=8, seeds=(0, 1, 2, 3), eval_pairs=12,
                     eval_size=256, init_from=str(DEMO_CHECKPOINT), device="auto"),
    "paper": Budget("paper", steps=160_000, crop_size=256, batch_size=4, seeds=(0, 1, 2), eval_pairs=64,
                    eval_size=256, device="auto"),
}


def check_parameters(profile, seeds=None, steps=None, image_size=None, runs_dir=None, content_dir=None,
                     style_dir=None, device=None, eval_content_dir=None, eval_style_dir=None):
    """The notebooks' parameters cell → a `Budget`; a bad value fails at once, naming the parameter.

    None keeps the profile's default. `image_size` is the evaluation size; `runs_dir` holds the cached runs
    (and their records, in `runs_dir`/records, instead of the committed results/runs);
    content_dir / style_dir are for training, eval_content_dir / eval_style_dir for the metrics (default: the
    held-out split, data/demo/eval).
    """
    if profile not in BUDGETS:
        raise ConfigError(f"parameter 'profile' must be one of {sorted(BUDGETS)}, got {profile!r}")
    b = BUDGETS[profile]
    if seeds is not None:
        if isinstance(seeds, int) or not seeds or not all(isinstance(s, int) and s >= 0 for s in seeds):
            raise ConfigError(f"parameter 'seeds' must be a non-empty list of integers ≥ 0, got {seeds!r}")
        b = replace(b, seeds=tuple(seeds))
    for name, field, low in (("steps", "steps", 1), ("image_size", "eval_size", 32)):
        value = locals()[name]
        if value is not None:
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ConfigError(f"parameter '{name}' must be an integer ≥ {low}, got {value!r}")
            b = replace(b, **{field: value})
    for name in ("content_dir", "style_dir", "eval_content_dir", "eval_style_dir"):
        value = locals()[name]
        if value:
            try:
                list_images(value)
            except DataError as e:
                raise ConfigError(f"parameter '{name}': {e}") from None
            b = replace(b, **{name: str(value)})
    if runs_dir and Path(runs_dir) != Path(b.runs_dir):  # a runs folder of one's own keeps its records with it
        b = replace(b, runs_dir=str(runs_dir), records_dir=str(Path(runs_dir) / "records") if b.records_dir else "")
    if device:
        b = replace(b, device=device)
    return b


def at_repo_root():
    """chdir to the repository root, so the notebooks' relative paths mean the same from JupyterLab and papermill."""
    import os
    os.chdir(REPO_ROOT)


def restoration_metrics(budget):
    """The restoration SSIM at each scale of the budget (04's table), then at full evaluation size."""
    return [f"restoration_ssim_{r}" for r in budget.restoration_scales] + ["restoration_ssim"]


def run_dir(budget, variant, seed):
    return Path(budget.runs_dir) / budget.profile / variant / f"seed{seed}"


def variant_config(budget, variant, seed):
    """The training `Config` of one variant and seed under `budget`."""
    if variant not in VARIANTS:
        raise ConfigError(f"variant must be one of {list(VARIANTS)}, got {variant!r}")
    v = VARIANTS[variant]
    load_size = PROFILES["paper"]["load_size"] if budget.profile == "paper" else budget.crop_size * 5 // 4
    overrides = dict(iterations=budget.steps, crop_size=budget.crop_size, load_size=load_size,
                     batch_size=budget.batch_size, seed=seed, loss_preset="seed_full", weights=dict(v["weights"]),
                     architecture=v["architecture"], init_from=budget.init_from, lr=budget.lr,
                     multirestoration_scales=budget.train_scales, out_dir=str(run_dir(budget, variant, seed)),
                     save_every=max(1, min(budget.steps, 50)), device=budget.device)
    for name in ("content_dir", "style_dir"):
        if getattr(budget, name):
            overrides[name] = getattr(budget, name)
    # The device budget trains on the bundled demo data, like `demo` (its config profile).
    return make_config(budget.profile if budget.profile in PROFILES else "demo", **overrides)


# --- weights of the seed's new terms by gradient balance ---------------------------------------------------------
NEW_TERMS = ("idempotency", "multirestoration", "lpips")  # the seed gives no weights for these


def gradient_norms(budget, variant="full", seed=0, batches=2):
    """{term: mean over `batches` batches of ‖w·∇_θ L_term‖}: how hard each weighted loss term pulls the trained
    parameters θ (transform + decoder) of `variant` at its starting weights."""
    import tempfile
    from .losses import LOSS_TERMS
    from .train import Trainer
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(replace(variant_config(budget, variant, seed), out_dir=tmp), resume=False)
        params = [p for p in trainer.model.parameters() if p.requires_grad]
        sums, it = {}, trainer.batches()
        for _ in range(batches):
            g = trainer.graph(*next(it))
            for name, w in trainer.cfg.weights.items():
                if w:
                    grads = torch.autograd.grad(w * LOSS_TERMS[name](g), params, retain_graph=True,
                                                allow_unused=True)
                    norm = math.sqrt(sum(float(x.square().sum()) for x in grads if x is not None))
                    sums[name] = sums.get(name, 0.0) + norm / batches
    return sums


def balanced_weights(norms, weights, terms=NEW_TERMS):
    """New weights for `terms` so that each pulls as hard as the median of the other (official) terms:
    w_new = w · median(‖w·∇‖ of the others) / ‖w·∇ L_term‖. Returns ({term: weight}, that median)."""
    others = [n for k, n in norms.items() if k not in terms and n > 0]
    target = statistics.median(others)
    return {t: weights[t] * target / norms[t] for t in terms if norms.get(t)}, target


# --- cache keys: a run is reused only if what made it is unchanged ------------------------------------------------
PACKAGE_DIR = Path(__file__).resolve().parent
# The modules whose code a training run depends on, and those an evaluation depends on (besides the functions
# of this module that evaluate: `EVAL_FUNCTIONS`).
TRAIN_CODE = ("config", "data", "encoder", "decoder", "sanet", "model", "graph", "losses", "ops", "perceptual",
              "discriminator", "system", "train", "distributed", "checkpoint")
EVAL_CODE = ("metrics", "similarity", "perceptual", "stylize", "encoder", "decoder", "sanet", "model", "ops",
             "losses", "checkpoint", "data")


def code_digest(modules, functions=()):
    """sha256 of the code of `modules` (names of rastlib modules, read from PACKAGE_DIR) and of `functions` (each
    found by name in its module's file there, so an edit elsewhere in that file that shifts its lines does not
    count), parsed and with docstrings dropped: comments, docstrings and formatting do not invalidate a cache,
    any change to what runs does."""
    def parsed(module):
        tree = ast.parse((PACKAGE_DIR / f"{module}.py").read_text())
        for node in ast.walk(tree):
            body = getattr(node, "body", None)
            if (isinstance(body, list) and body and isinstance(body[0], ast.Expr)
                    and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str)):
                node.body = body[1:] or [ast.Pass()]
        return tree

    h = hashlib.sha256()
    for module in modules:
        h.update(ast.dump(parsed(module)).encode())
    for f in functions:
        tree = parsed(f.__module__.rpartition(".")[2])
        defs = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == f.__name__]
        h.update((ast.dump(defs[0]) if defs else f"missing {f.__name__}").encode())
    return h.hexdigest()


def code_digests():
    """(training code digest, evaluation code digest) as the files stand now."""
    return code_digest(TRAIN_CODE), code_digest(EVAL_CODE, EVAL_FUNCTIONS)


def file_digest(path):
    """sha256 of a file's bytes ("" for no file: training from scratch)."""
    if not path:
        return ""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def listing_digest(*folders):
    """sha256 of the image files' names and sizes under `folders` (cheap even for COCO; a rebuilt set changes
    it)."""
    h = hashlib.sha256()
    for folder in folders:
        for path in list_images(folder):
            h.update(f"{portable(str(path))}\0{path.stat().st_size}\n".encode())
    return h.hexdigest()


def run_key(cfg):
    """What a training run is a function of: its config (less where it is written), what the config leaves to
    the machine (the LPIPS backend "auto" resolves to; for amp "auto", the CPU's bf16 units the step probe
    decides by), its starting weights, its training images and the training code."""
    from .perceptual import resolve_backend
    from .probe import cpu_flags
    settings = {k: portable(v) for k, v in cfg.to_dict().items() if k != "out_dir"}
    settings["lpips_backend"] = resolve_backend(cfg.lpips_backend) if cfg.weights.get("lpips") else None
    if cfg.amp == "auto":
        settings["bf16_units"] = cpu_flags()["bf16_units"]
    return {"config": hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest(),
            "init_weights": file_digest(cfg.init_from), "data": listing_digest(cfg.content_dir, cfg.style_dir),
            "code": code_digest(TRAIN_CODE)}


def train_variant(budget, variant, seed, progress=False, log=print):
    """Train (or resume, or reuse) one run; returns its checkpoint path. A cached run whose key (`run_key`)
    differs from the present one is deleted and trained again (saying why)."""
    from .train import Trainer
    cfg = variant_config(budget, variant, seed)
    out, key = Path(cfg.out_dir), run_key(cfg)
    key_file = out / "run_key.json"
    if out.is_dir() and any(out.iterdir()):
        saved = json.loads(key_file.read_text()) if key_file.is_file() else {}
        stale = [k for k in key if saved.get(k) != key[k]]
        if stale:
            log(f"{out}: its {', '.join(stale)} changed since it was trained: training it again")
            shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    key_file.write_text(json.dumps(key, indent=1))
    trainer = Trainer(cfg)
    if trainer.step < cfg.iterations:
        trainer.fit(progress=progress)
    return trainer.ckpt_path


def eval_pairs(budget):
    """The evaluation pairs of the held-out split (or the budget's eval folders): photo i with painting
    i mod (number of paintings), so every photo appears once and the paintings evenly.

    An unreadable file is skipped with a warning (the next readable one in its folder takes its place)."""
    content_root = budget.eval_content_dir or demo_eval_content_dir()
    style_root = budget.eval_style_dir or demo_eval_style_dir()
    contents, styles, skipped = list_images(content_root), list_images(style_root), {}
    return [(first_readable(contents, i, skipped, "evaluation", content_root)[0],
             first_readable(styles, i, skipped, "evaluation", style_root)[0])
            for i in range(budget.eval_pairs)]


def evaluation_nets():
    """The networks of the metrics that training never uses: LPIPS and the second-network style statistics by
    AlexNet (training's LPIPS loss is VGG16's, its Dc/Ds VGG19's)."""
    from .perceptual import load_lpips
    return load_lpips("auto", net="alex")


def eval_key(budget, perceptual):
    """What an evaluation is a function of besides the checkpoint: the pairs' image bytes, the sizes and
    scales, the LPIPS backend and the evaluation code."""
    return {"pairs": [[file_digest(c), file_digest(s)] for c, s in eval_pairs(budget)],
            "eval_size": budget.eval_size, "scales": list(budget.restoration_scales), "lpips": perceptual.backend,
            "code": code_digest(EVAL_CODE, EVAL_FUNCTIONS)}


def evaluate_run(budget, ckpt_path, perceptual, device=None):
    """Mean metrics of a checkpoint over the budget's held-out pairs (`metrics.evaluate_pair`, with `perceptual`
    for LPIPS and the second-network style distance), restoration SSIM at each of `budget.restoration_scales`
    (Table 2) and timing. Cached in eval.json beside the checkpoint, keyed by `eval_key` and the checkpoint's
    bytes."""
    ckpt_path, scales = Path(ckpt_path), budget.restoration_scales
    cache = ckpt_path.parent / "eval.json"
    key = {**eval_key(budget, perceptual), "checkpoint": file_digest(ckpt_path)}
    if cache.is_file():
        saved = json.loads(cache.read_text())
        if saved.get("key") == key:
            return saved["metrics"]
    device = device or _device(budget)
    model = load_model(ckpt_path, device=device)
    rows = []
    for cp, sp in eval_pairs(budget):
        c = load_square(cp, budget.eval_size).unsqueeze(0).to(device)
        s = load_square(sp, budget.eval_size).unsqueeze(0).to(device)
        row, _ = evaluate_pair(model, c, s, perceptual, style_net=perceptual)
        for r in scales:
            row[f"restoration_ssim_{r}"] = restoration_score(model, c, s, r)
        rows.append(row)
    metrics = {k: v["mean"] for k, v in summarise(rows).items()}
    metrics.update(_timing(model, budget.eval_size, device))
    cache.write_text(json.dumps({"key": key, "metrics": metrics}, indent=1))
    return metrics


def _device(budget):
    from .train import resolve_device
    return resolve_device(budget.device)


def _timing(model, size, device):
    """Parameters of T and inference seconds at size² (training step times: `speed_rows`)."""
    return {"parameters_M": parameters_m(model), "inference_seconds": inference_seconds(model, size, device)}


def train_step_seconds(budget, variant, steps=2):
    """Median seconds of `steps` training steps (after one warm-up step) of a variant under `budget`."""
    import tempfile
    from .train import Trainer, read_log
    with tempfile.TemporaryDirectory() as tmp:
        cfg = replace(variant_config(budget, variant, budget.seeds[0]), out_dir=tmp, iterations=steps + 1,
                      save_every=steps + 1)
        trainer = Trainer(cfg, resume=False)
        trainer.fit(progress=False)
        return statistics.median(r["seconds"] for r in read_log(Path(tmp) / "log.jsonl")[1:])


def parameters_m(model):
    """Trained parameters (transform + decoder) in millions."""
    return sum(p.numel() for m in (model.transform, model.decoder) for p in m.parameters()) / 1e6


@torch.no_grad()
def inference_seconds(model, size, device="cpu", repeats=3):
    """Median wall time of one T(c, s) at size² (after one warm-up call)."""
    x = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(0)).to(device)
    model.T(x, x)
    times = []
    for _ in range(repeats):
        if x.is_cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        model.T(x, x)
        if x.is_cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


# The functions of this module an evaluation runs (part of its cache key, with EVAL_CODE).
EVAL_FUNCTIONS = (eval_key, evaluate_run, eval_pairs, evaluation_nets, _timing, parameters_m,
                  inference_seconds)


def run_comparison(budget, variants, progress=True):
    """Train and evaluate every (variant, seed); returns rows [{variant, seed, **metrics}]. A run whose record
    (`read_record`) still holds is not redone; otherwise its cached checkpoint is reused where its key holds."""
    from tqdm.auto import tqdm
    device = _device(budget)
    perceptual = evaluation_nets().to(device)
    rows = []
    jobs = [(v, s) for s in budget.seeds for v in variants]  # seed-major: a cut-off run still has whole seeds
    loaded = code_digests()
    for variant, seed in tqdm(jobs, desc="variants × seeds", disable=not progress):
        if code_digests() != loaded:
            raise RastError("rastlib's training or evaluation code changed on disk while these runs were made: "
                            "the next ones would be labelled with code this process did not load. Start again "
                            "(finished runs are reused where their code is unchanged).")
        record = read_record(budget, variant, seed, perceptual)
        if record is None:
            ckpt = train_variant(budget, variant, seed)
            record = write_record(budget, variant, seed, ckpt, evaluate_run(budget, ckpt, perceptual, device),
                                  perceptual)
        rows.append({"variant": variant, "seed": seed, **record["metrics"], "lpips_backend": perceptual.backend})
    return rows


# --- records: what a finished run leaves in the repository -------------------------------------------------------
# A run's checkpoint (~300 MB with its optimiser) stays in runs/ (not committed); its record, a small JSON with
# its keys, metrics and training log, and for the figure seed the images of `viz.VIEWS` as JPEGs, is committed
# in results/runs/, so a grid that takes longer than one machine's life goes on on the next, and the notebooks
# build every table and figure from the records alone.
FIGURE_PAIRS = 3  # held-out pairs in the notebooks' figures


def record_path(budget, variant, seed):
    """`<records_dir>/<profile>/<variant>/seed<k>.json`, or None where the budget keeps no records (smoke)."""
    return Path(budget.records_dir) / budget.profile / variant / f"seed{seed}.json" if budget.records_dir else None


def read_record(budget, variant, seed, perceptual):
    """A run's record if it still holds: its training key (`run_key`) and evaluation key (`eval_key`) are those
    of the code, weights, data and settings here now; else None."""
    path = record_path(budget, variant, seed)
    if path is None or not path.is_file():
        return None
    record = json.loads(path.read_text())
    fresh = (record.get("run_key") == run_key(variant_config(budget, variant, seed))
             and record.get("eval_key") == eval_key(budget, perceptual))
    return record if fresh else None


def write_record(budget, variant, seed, ckpt_path, metrics, perceptual):
    """Write (atomically) and return the record of a trained and evaluated run; for the budget's first seed
    also its `viz.VIEWS` images on the `figure_pairs`."""
    from .atomic import atomic_write
    from .train import read_log
    from .viz import save_views
    path, ckpt_path = record_path(budget, variant, seed), Path(ckpt_path)
    if path is None:
        return {"metrics": metrics}
    record = {"variant": variant, "seed": seed, "budget": budget.what, "hardware": _hardware(budget),
              "torch": torch.__version__, "date": time.strftime("%Y-%m-%d"),
              "run_key": run_key(variant_config(budget, variant, seed)), "eval_key": eval_key(budget, perceptual),
              "checkpoint_sha256": file_digest(ckpt_path), "metrics": metrics,
              "log": read_log(ckpt_path.parent / "log.jsonl"), "views": {}}
    if seed == budget.seeds[0]:
        pairs = [(c, s) for _, c, s in figure_pairs(budget, FIGURE_PAIRS)]
        record["views"] = save_views(load_model(ckpt_path), pairs, path.parent / f"seed{seed}")
    with atomic_write(path) as f:
        f.write(json.dumps(record, indent=1).encode())
    return record


def aggregate(rows, metrics):
    """{variant: {metric: (mean, std, n)}} over seeds, in the order variants first appear."""
    out = {}
    for variant in dict.fromkeys(r["variant"] for r in rows):
        vals = [r for r in rows if r["variant"] == variant]
        out[variant] = {}
        for m in metrics:
            xs = [r[m] for r in vals if isinstance(r.get(m), (int, float)) and math.isfinite(r[m])]
            out[variant][m] = (statistics.fmean(xs) if xs else float("nan"),
                               statistics.stdev(xs) if len(xs) > 1 else 0.0, len(xs))
    return out


def write_table(rows, metrics, out_dir, name, labels=None):
    """Write `<name>.csv` (every run) and `<name>.md` (mean ± std over seeds per variant); returns the Markdown."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    keys = ["variant", "seed", *metrics]
    with open(out_dir / f"{name}.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    agg = aggregate(rows, metrics)
    labels = labels or {}
    lines = ["| variant | " + " | ".join(labels.get(m, m) for m in metrics) + " |",
             "|---|" + "---|" * len(metrics)]
    for variant, ms in agg.items():
        cells = [f"{mean:.4g} ± {std:.2g}" if n > 1 else f"{mean:.4g}" for mean, std, n in ms.values()]
        lines.append(f"| {variant} | " + " | ".join(cells) + " |")
    n = max((n for ms in agg.values() for _, _, n in ms.values()), default=0)
    md = "\n".join(lines) + (f"\n\nmean ± sample std over {n} seeds\n" if n > 1 else "\n\none seed\n")
    (out_dir / f"{name}.md").write_text(md)
    return md


def write_claims(out_dir, notebook, budget, claims):
    """Save the claims a notebook tested, judged by `verdicts.RULE`, → claims.json (read by the summary)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    record = {"notebook": notebook, "rule": RULE, "budget": {k: portable(v) for k, v in asdict(budget).items()},
              "budget_what": budget.what, "hardware": _hardware(budget), "torch": torch.__version__,
              "date": time.strftime("%Y-%m-%d"), "claims": claims}
    (out_dir / "claims.json").write_text(json.dumps(record, indent=1))
    return record


def _hardware(budget):
    if budget.device in ("auto", "cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"CPU, {torch.get_num_threads()} threads"


def write_summary(results_dir="results"):
    """Collect every notebook's claims.json and tables into `results/summary.md`; returns its path."""
    results_dir = Path(results_dir)
    parts = ["# Results summary\n",
             "Generated by `rastlib.experiments.write_summary` from the notebooks' outputs. Each claim of the seed "
             "paper is labelled **reproduced**, **contradicted** or **no support at this budget** by the rule of "
             "`rastlib.verdicts`: a t-test per claim (paired over seeds: every variant of a seed starts from the "
             "same weights and sees the same batches; Welch otherwise) against the t distribution at its degrees "
             "of freedom, Holm-corrected over the claims of its notebook at α = 0.05; \"Maintained\" is an "
             "equivalence test (TOST) within ±5 % of the full model. The column \"the seed says\" quotes the "
             "seed's own words and numbers (Tables 1–3); every other number is ours, from the budget above its "
             "table.\n"]
    earlier = []
    for claims_file in sorted(results_dir.glob("*/claims.json")):
        rec = json.loads(claims_file.read_text())
        if rec.get("rule") != RULE:  # a notebook not yet rerun since the rule changed: listed, not mixed in
            earlier.append(f"- `{claims_file.parent.name}` ({rec.get('date', 'undated')}): "
                           f"{rec.get('budget_what', 'budget not recorded')}")
            continue
        parts.append(f"## {rec['notebook']}\n\n*{rec['budget_what']}; {rec['hardware']}, torch {rec['torch']}, "
                     f"{rec['date']}.*\n")
        parts.append(verdicts_markdown(rec["claims"]))
        for table in sorted(claims_file.parent.glob("*.md")):
            parts.append(f"\n**{table.stem}** (`{table.relative_to(results_dir)}`)\n\n{table.read_text()}")
        parts.append("")
    if earlier:
        parts += ["## Not rerun under this rule\n", "These folders hold claims judged by an earlier rule; "
                  "rerun their notebooks to include them:\n", *earlier, ""]
    path = results_dir / "summary.md"
    path.write_text("\n".join(parts))
    return path


def _records(budget, variants, seed):
    """{variant: its record if it holds, else None} of one seed."""
    perceptual = evaluation_nets() if budget.records_dir else None
    return {v: None if perceptual is None else read_record(budget, v, seed, perceptual) for v in variants}


@torch.no_grad()
def figure_views(budget, variants, view, seed=None):
    """{variant: one list of `view`'s images per `figure_pairs`} of one seed (default: the budget's first), for
    `viz.variant_figure`: from each run's record where it holds, else rendered from its checkpoint (trained
    if need be)."""
    from .viz import VIEWS, load_views
    seed = budget.seeds[0] if seed is None else seed
    out = {}
    for variant, record in _records(budget, variants, seed).items():
        if record and view in record["views"]:
            out[variant] = load_views(record_path(budget, variant, seed).parent / record["views"][view],
                                      FIGURE_PAIRS)
        else:
            model = load_model(train_variant(budget, variant, seed))
            out[variant] = [[img[0].clamp(0, 1) for img in VIEWS[view][1](model, c, s)]
                            for _, c, s in figure_pairs(budget, FIGURE_PAIRS)]
    return out


def training_logs(budget, variants, seed=None):
    """{variant: training log records} of one seed (default: the budget's first), for `viz.variant_loss_curves`:
    from the run's record where it holds, else from its run folder."""
    from .train import read_log
    seed = budget.seeds[0] if seed is None else seed
    return {v: record["log"] if record else read_log(run_dir(budget, v, seed) / "log.jsonl")
            for v, record in _records(budget, variants, seed).items()}


def figure_pairs(budget, n=FIGURE_PAIRS):
    """n (name, content, style) held-out pairs of [1,3,H,W] tensors at the evaluation size (centre squares, as
    measured), for figures and the slider."""
    return [(f"{c.stem[:16]} × {s.stem[:16]}", load_square(c, budget.eval_size).unsqueeze(0),
             load_square(s, budget.eval_size).unsqueeze(0)) for c, s in eval_pairs(replace(budget, eval_pairs=n))]


def colour_preservation(model, pairs, out_dir):
    """01's colour table: `metrics.colour_preservation_metrics` on `figure_pairs` → colour_preservation.json and
    .md in out_dir; returns the Markdown."""
    from .perceptual import load_lpips
    colour = colour_preservation_metrics(model, [(c, s) for _, c, s in pairs], load_lpips())
    lines = ["| colours | " + " | ".join(COLOUR_METRICS) + " |", "|---|" + "---|" * len(COLOUR_METRICS)]
    lines += [f"| {mode} | " + " | ".join(mean_std(m[k]) for k in COLOUR_METRICS) + " |"
              for mode, m in colour.items()]
    md = "\n".join(lines) + f"\n\nmean ± sample std over {len(pairs)} pairs\n"
    (Path(out_dir) / "colour_preservation.json").write_text(json.dumps(colour, indent=2))
    (Path(out_dir) / "colour_preservation.md").write_text(md)
    return md


def art_fid_line(model, pairs, out_dir, download=False):
    """01's ArtFID of `figure_pairs` (or why it was skipped): pairs in out_dir/art_fid/, result in art_fid.json;
    returns `artfid.describe`'s line."""
    from .artfid import describe, try_art_fid
    with torch.no_grad():
        triples = [(name.replace(" × ", "__"), model.T(c, s).clamp(0, 1), c, s) for name, c, s in pairs]
    result = try_art_fid(triples, Path(out_dir) / "art_fid", download)
    (Path(out_dir) / "art_fid.json").write_text(json.dumps(result, indent=2))
    return describe(result)


def baseline_checkpoint(budget, checkpoint="", train_steps=0):
    """01's model: `checkpoint` if given, else a `rast_wacv` run of `train_steps` (seed: the budget's first),
    else the committed demo checkpoint."""
    if checkpoint:
        if not Path(checkpoint).is_file():
            raise ConfigError(f"parameter 'checkpoint': file not found: {checkpoint}")
        return Path(checkpoint)
    if train_steps:
        return train_variant(replace(budget, steps=train_steps), "rast_wacv", budget.seeds[0], progress=True)
    return DEMO_CHECKPOINT


def speed_rows(budget, variants):
    """Parameters, inference seconds at 256² and 512² (64² and 128² in smoke) and training step seconds of each
    variant's architecture (speed does not depend on the weights: a fresh model each), all measured here, one
    after the other, in this process."""
    from .model import RAST
    sizes = (64, 128) if budget.profile == "smoke" else (256, 512)
    rows = []
    for variant in variants:
        model = RAST(architecture=VARIANTS[variant]["architecture"]).to(memory_format=torch.channels_last).eval()
        row = {"variant": variant, "seed": budget.seeds[0], "parameters_M": parameters_m(model),
               "encoder_taps": model.transform.levels}
        for size in sizes:
            row[f"inference_seconds_{size}"] = inference_seconds(model, size)
        row["train_step_seconds"] = train_step_seconds(budget, variant)
        rows.append(row)
    return rows


def check_outputs(out_dir, files, rows=None, variants=(), metrics=(), seeds=()):
    """The last cell of every notebook: the files exist and are not empty, every variant has exactly one row per
    seed, and every metric is finite. Raises AssertionError naming what is missing."""
    out_dir = Path(out_dir)
    for name in files:
        f = out_dir / name
        assert f.is_file() and f.stat().st_size > 0, f"missing or empty output: {f}"
    for v in variants:
        have = sorted(r["seed"] for r in rows if r["variant"] == v)
        assert have, f"no results for variant {v!r}"
        if seeds:
            assert have == sorted(seeds), f"variant {v!r} has seeds {have}, expected one row per seed {list(seeds)}"
    for r in rows or []:
        for m in metrics:
            assert isinstance(r.get(m), (int, float)) and math.isfinite(r[m]), \
                f"{r['variant']} seed {r['seed']}: metric {m} is {r.get(m)!r}"
    return f"checked {len(files)} files, {len(rows or [])} runs, {len(metrics)} metrics in {out_dir.name}/"


# --- the seed's claims, each mapped to a metric (our choice: the seed names none) --------------------------------
STYLISATION = "style_distance_2nd_output_style"  # style statistics of I_o vs I_s by AlexNet: lower = more stylised
RESTORATION = "restoration_ssim"                 # SSIM(I_c, I_c') at the evaluation size
LPIPS_SCORE = "lpips_output_content"             # LPIPS(I_o, I_c) by AlexNet (training's LPIPS is VGG16's)
EQUIVALENCE_MARGIN = 0.05                        # "Maintained": within ±5 % of the full model's mean

# Table 1 of the seed, row by row: the loss removed, then what it says of stylisation, restoration and LPIPS.
TABLE1 = (("content", "Content Loss", "Degraded", "Maintained", "Increased"),
          ("style", "Style Loss", "Maintained", "Degraded", "Increased"),
          ("restoration", "Restoration Loss", "Degraded", "Significantly Degraded", "Increased"),
          ("adversarial", "Adversarial Loss", "Slight Degradation", "Maintained", "Slightly Increased"),
          ("idempotency", "Idempotency Loss", "Degraded", "Maintained", "Increased"),
          ("lpips", "LPIPS Loss", "Maintained", "Maintained", "Decreased"))
# What each of the seed's words means for a metric where lower / higher is better: the expected direction of
# the ablated variant against `full`.
_WORSE = {"lower": "higher", "higher": "lower"}


def _table1_claim(group, loss, column, word, metric, better):
    if word == "Maintained":
        expect = "same"
    elif word in ("Increased", "Slightly Increased"):
        expect = "higher"
    elif word == "Decreased":
        expect = "lower"
    else:  # Degraded, Slight Degradation, Significantly Degraded
        expect = _WORSE[better]
    said = word.lower().replace("slight degradation", "slightly degraded")
    return Claim(f"Table 1, {loss} removed", f"without the {group} loss group, {column} is {said}", metric,
                 f"no_{group}", "full", expect, EQUIVALENCE_MARGIN if expect == "same" else 0.0, seed_says=word)


SEED_TABLE2 = {256: (0.85, 0.78), 128: (0.80, 0.70), 64: (0.75, 0.65)}  # with / without L_mr (the seed's)


def seed_claims(notebook, budget):
    """The seed's claims a notebook tests, as `verdicts.Claim`s (no two alike within a notebook)."""
    if notebook == "02_ablation":
        return [claim for group, loss, *words in TABLE1
                for column, word, metric, better in zip(("stylisation", "restoration", "the LPIPS score"), words,
                                                        (STYLISATION, RESTORATION, LPIPS_SCORE),
                                                        ("lower", "higher", "lower"))
                for claim in [_table1_claim(group, loss, column, word, metric, better)]]
    if notebook == "03_idempotency":
        return [Claim("§3.2 / §4.3", "the idempotency loss makes T(T(c, s), s) closer to T(c, s)",
                      "idempotency_mse", "full", "no_idempotency", "lower", seed_says="its aim (no number)"),
                Claim("§4.3", "the idempotency loss hurts stylisation", STYLISATION, "full", "no_idempotency",
                      "higher", seed_says="artifacts, less coherent style (Figure 1; no number)")]
    if notebook == "04_multirestoration":
        return [Claim(f"Table 2, {r}×{r}", f"the low-resolution multirestoration loss improves restoration at {r} px",
                      f"restoration_ssim_{r}", "full", "no_multirestoration", "higher",
                      seed_says=(f"{SEED_TABLE2[r][0]:.2f} with vs {SEED_TABLE2[r][1]:.2f} without"
                                 if r in SEED_TABLE2 else "(no number at this size)"))
                for r in budget.restoration_scales]
    if notebook == "05_lpips":
        return [Claim("Table 3", "the LPIPS loss lowers the LPIPS score", LPIPS_SCORE, "full", "no_lpips", "lower",
                      seed_says="0.30 with vs 0.45 without (RAST baseline)")]
    if notebook == "06_simplified":
        return [Claim("§4.6", "the simplified architecture is faster at inference", "inference_seconds",
                      "simplified", "full", "lower", seed_says="faster (no number)"),
                Claim("§4.6", "the simplified architecture stylises marginally worse", STYLISATION, "simplified",
                      "full", "higher", seed_says="marginal decrease (Figure 3; no number)")]
    raise ConfigError(f"no seed claims for notebook {notebook!r}")


def label_claims(notebook, rows, budget, out_dir):
    """Judge the notebook's seed claims (`verdicts.judge`: t-tests, Holm over the notebook's claims), save
    claims.json and refresh the summary; returns the Markdown table."""
    claims = judge(rows, seed_claims(notebook, budget))
    write_claims(out_dir, notebook, budget, claims)
    write_summary(Path(out_dir).parent)
    return verdicts_markdown(claims)
