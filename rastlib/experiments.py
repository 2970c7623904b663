"""The seed paper's experiments as code: variants, a shared budget, cached runs, metrics and verdicts.

Every variant of a comparison is trained under the same `Budget` (profile, steps, crop, batch, seeds, start)
and evaluated on the same pairs with the same metrics, so a table row differs from another only by its losses or
architecture. Runs are cached in `<runs_dir>/<profile>/<variant>/seed<k>/` (checkpoint + eval.json): the
notebooks share them (02's `no_idempotency` is 03's "without"), and a rerun only trains what is missing.

On a CPU (`demo` profile) each variant is a short fine-tuning of the committed demo checkpoint, not a training
from scratch; every table says so. `paper` trains from scratch on COCO + WikiArt and needs a GPU.
"""
import csv
import json
import math
import statistics
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from .checkpoint import DEMO_CHECKPOINT, load_model
from .config import LOSS_PRESETS, PROFILES, ablate, make_config
from .data import demo_content_dir, demo_style_dir, first_readable, list_images, load_image
from .errors import ConfigError, DataError
from .metrics import (COLOUR_METRICS, colour_preservation_metrics, evaluate_pair, mean_std, restoration_score,
                      summarise)

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
    "simplified": {"weights": {**_FULL, "adversarial": 0.0, "contrastive_content": 0.0, "contrastive_style": 0.0},
                   "architecture": "single_level",
                   "what": "single-level SANet (relu4_1 only), no discriminators, no projection heads"},
}
ABLATION = ("full", "no_content", "no_style", "no_restoration", "no_adversarial", "no_idempotency", "no_lpips")


@dataclass(frozen=True)
class Budget:
    """What every variant of a comparison gets: the same training budget, seeds, start and evaluation."""
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
    runs_dir: str = "runs/experiments"
    device: str = "cpu"

    @property
    def what(self):
        start = f"fine-tuned from {Path(self.init_from).name}" if self.init_from else "trained from scratch"
        return (f"{self.profile} profile: {self.steps} steps, {self.crop_size}² crops, batch {self.batch_size}, "
                f"{start}, seeds {list(self.seeds)}; metrics on {self.eval_pairs} pairs at {self.eval_size} px")


BUDGETS = {
    "smoke": Budget("smoke", steps=1, crop_size=64, batch_size=4, seeds=(0, 1), eval_pairs=1, eval_size=64,
                    restoration_scales=(64, 32), init_from=str(DEMO_CHECKPOINT)),
    "demo": Budget("demo", steps=16, crop_size=64, batch_size=4, seeds=(0, 1, 2), eval_pairs=6, eval_size=128,
                   init_from=str(DEMO_CHECKPOINT), lr=2e-4),
    "paper": Budget("paper", steps=160_000, crop_size=256, batch_size=4, seeds=(0, 1, 2), eval_pairs=64,
                    eval_size=256, device="auto"),
}


def check_parameters(profile, seeds=None, steps=None, image_size=None, runs_dir=None, content_dir=None,
                     style_dir=None, device=None):
    """The notebooks' parameters cell → a `Budget`; a bad value fails at once, naming the parameter.

    None keeps the profile's default. `image_size` is the evaluation size; `runs_dir` holds the cached runs.
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
    for name in ("content_dir", "style_dir"):
        value = locals()[name]
        if value:
            try:
                list_images(value)
            except DataError as e:
                raise ConfigError(f"parameter '{name}': {e}") from None
            b = replace(b, **{name: str(value)})
    if runs_dir:
        b = replace(b, runs_dir=str(runs_dir))
    if device:
        b = replace(b, device=device)
    return b


def at_repo_root():
    """chdir to the repository root, so the notebooks' relative paths mean the same from JupyterLab and papermill."""
    import os
    from .checkpoint import REPO_ROOT
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
                     out_dir=str(run_dir(budget, variant, seed)), save_every=max(1, min(budget.steps, 8)),
                     device=budget.device)
    for name in ("content_dir", "style_dir"):
        if getattr(budget, name):
            overrides[name] = getattr(budget, name)
    return make_config(budget.profile, **overrides)


def train_variant(budget, variant, seed, progress=False):
    """Train (or resume, or reuse) one run; returns its checkpoint path."""
    from .train import Trainer
    cfg = variant_config(budget, variant, seed)
    trainer = Trainer(cfg)
    if trainer.step < cfg.iterations:
        trainer.fit(progress=progress)
    return trainer.ckpt_path


def eval_pairs(budget):
    """The evaluation pairs: deterministic (content, style) paths walking both folders with coprime strides.

    An unreadable file is skipped with a warning (the next readable one in its folder takes its place)."""
    content_root = budget.content_dir or demo_content_dir()
    style_root = budget.style_dir or demo_style_dir()
    contents, styles, skipped = list_images(content_root), list_images(style_root), {}
    return [(first_readable(contents, 3 * i + 1, skipped, "evaluation", content_root)[0],
             first_readable(styles, 7 * i + 3, skipped, "evaluation", style_root)[0])
            for i in range(budget.eval_pairs)]


def evaluate_run(budget, ckpt_path, perceptual):
    """Mean metrics of a checkpoint over the budget's pairs (see `rastlib.metrics`), plus restoration SSIM at
    each of `budget.restoration_scales` (the seed's Table 2 shape) and timing. Cached in eval.json beside
    the checkpoint."""
    ckpt_path, scales = Path(ckpt_path), budget.restoration_scales
    cache = ckpt_path.parent / "eval.json"
    key = {"eval_pairs": budget.eval_pairs, "eval_size": budget.eval_size, "scales": list(scales),
           "lpips_backend": perceptual.backend, "checkpoint_mtime": ckpt_path.stat().st_mtime}
    if cache.is_file():
        saved = json.loads(cache.read_text())
        if saved.get("key") == key:
            return saved["metrics"]
    device = torch.device("cuda" if budget.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if budget.device == "auto" else budget.device))
    model = load_model(ckpt_path, device=device)
    rows = []
    for cp, sp in eval_pairs(budget):
        c = load_image(cp, size=budget.eval_size).unsqueeze(0).to(device)
        s = load_image(sp, size=budget.eval_size).unsqueeze(0).to(device)
        row, _ = evaluate_pair(model, c, s, perceptual)
        for r in scales:
            row[f"restoration_ssim_{r}"] = restoration_score(model, c, s, r)
        rows.append(row)
    metrics = {k: v["mean"] for k, v in summarise(rows).items()}
    metrics.update(_timing(model, budget.eval_size, device))
    cache.write_text(json.dumps({"key": key, "metrics": metrics}, indent=1))
    return metrics


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


def run_comparison(budget, variants, progress=True):
    """Train and evaluate every (variant, seed); returns rows [{variant, seed, **metrics}] (cached runs reused)."""
    from tqdm.auto import tqdm
    from .perceptual import load_lpips
    perceptual = load_lpips("auto").to("cuda" if budget.device in ("auto", "cuda") and torch.cuda.is_available()
                                       else "cpu")
    rows = []
    jobs = [(v, s) for s in budget.seeds for v in variants]  # seed-major: a cut-off run still has whole seeds
    for variant, seed in tqdm(jobs, desc="variants × seeds", disable=not progress):
        ckpt = train_variant(budget, variant, seed)
        rows.append({"variant": variant, "seed": seed, **evaluate_run(budget, ckpt, perceptual),
                     "lpips_backend": perceptual.backend})
    return rows


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


def verdict(rows, metric, better, worse, direction):
    """Does `metric` of variant `better` beat `worse` ("lower" or "higher" is better) beyond seed noise?

    Returns (label, evidence). The difference of the seed means must exceed twice its standard error (Welch);
    otherwise the effect is within the noise of this budget: "not testable at this scale".
    """
    a = [r[metric] for r in rows if r["variant"] == better]
    b = [r[metric] for r in rows if r["variant"] == worse]
    if len(a) < 2 or len(b) < 2:
        return "not testable at this scale", f"{metric}: fewer than 2 seeds per variant"
    diff = statistics.fmean(a) - statistics.fmean(b)
    se = math.sqrt(statistics.variance(a) / len(a) + statistics.variance(b) / len(b))
    gain = -diff if direction == "lower" else diff
    evidence = (f"{metric}: {better} {statistics.fmean(a):.4g} vs {worse} {statistics.fmean(b):.4g} "
                f"({direction} is better; difference {diff:+.3g}, 2·SE {2 * se:.2g}, {len(a)}+{len(b)} seeds)")
    if abs(diff) <= 2 * se or diff == 0:
        return "not testable at this scale", evidence
    return ("reproduced" if gain > 0 else "not reproduced"), evidence


def write_claims(out_dir, notebook, budget, claims):
    """Save the claims a notebook tested: [{"claim", "verdict", "evidence"}] → claims.json (read by the summary)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    record = {"notebook": notebook, "budget": asdict(budget), "budget_what": budget.what,
              "hardware": _hardware(budget), "torch": torch.__version__,
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
             "paper is labelled **reproduced**, **not reproduced** or **not testable at this scale** by the rule in "
             "`rastlib.experiments.verdict` (difference of seed means beyond 2 standard errors). The numbers are "
             "ours; the seed reports none that could be copied.\n"]
    for claims_file in sorted(results_dir.glob("*/claims.json")):
        rec = json.loads(claims_file.read_text())
        parts.append(f"## {rec['notebook']}\n\n*{rec['budget_what']}; {rec['hardware']}, torch {rec['torch']}, "
                     f"{rec['date']}.*\n")
        parts.append(claims_markdown(rec["claims"]))
        for table in sorted(claims_file.parent.glob("*.md")):
            parts.append(f"\n**{table.stem}** (`{table.relative_to(results_dir)}`)\n\n{table.read_text()}")
        parts.append("")
    path = results_dir / "summary.md"
    path.write_text("\n".join(parts))
    return path


def seed_models(budget, variants, seed=None):
    """{variant: model} of one seed (default: the budget's first) for the qualitative figures."""
    seed = budget.seeds[0] if seed is None else seed
    return {v: load_model(run_dir(budget, v, seed) / "checkpoint.pt") for v in variants}


def figure_pairs(budget, n=3):
    """n (name, content, style) pairs of [1,3,H,W] tensors at the evaluation size, for figures and the slider."""
    return [(f"{c.stem[:16]} × {s.stem[:16]}", load_image(c, size=budget.eval_size).unsqueeze(0),
             load_image(s, size=budget.eval_size).unsqueeze(0)) for c, s in eval_pairs(replace(budget, eval_pairs=n))]


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
    variant (first seed), all measured here, one after the other, in this process."""
    sizes = (64, 128) if budget.profile == "smoke" else (256, 512)
    rows = []
    for variant, model in seed_models(budget, variants).items():
        row = {"variant": variant, "seed": budget.seeds[0], "parameters_M": parameters_m(model),
               "encoder_taps": model.transform.levels}
        for size in sizes:
            row[f"inference_seconds_{size}"] = inference_seconds(model, size)
        row["train_step_seconds"] = train_step_seconds(budget, variant)
        rows.append(row)
    return rows


def check_outputs(out_dir, files, rows=None, variants=(), metrics=()):
    """The last cell of every notebook: the files exist and are not empty, every variant has a row per seed,
    and every metric is finite. Raises AssertionError naming what is missing."""
    out_dir = Path(out_dir)
    for name in files:
        f = out_dir / name
        assert f.is_file() and f.stat().st_size > 0, f"missing or empty output: {f}"
    for v in variants:
        assert any(r["variant"] == v for r in rows), f"no results for variant {v!r}"
    for r in rows or []:
        for m in metrics:
            assert isinstance(r.get(m), (int, float)) and math.isfinite(r[m]), \
                f"{r['variant']} seed {r['seed']}: metric {m} is {r.get(m)!r}"
    return f"checked {len(files)} files, {len(rows or [])} runs, {len(metrics)} metrics in {out_dir}"


# The seed's claims each notebook tests: (claim, metric, variant that should be better, the other, better is).
# The seed states them in words only (no numbers); the metric that operationalises each one is our choice.
def claims_for(notebook, budget):
    scales = budget.restoration_scales
    return {
        "02_ablation": [
            ("each loss group matters: without the content group, content is kept worse", "Dc_output_content",
             "full", "no_content", "lower"),
            ("without the style group, the output is less stylised", "Ds_output_style", "full", "no_style", "lower"),
            ("without the restoration group, restoration is worse", "restoration_ssim", "full", "no_restoration",
             "higher"),
            ("without the adversarial group, the output is less painting-like (style statistics)",
             "Ds_output_style", "full", "no_adversarial", "lower"),
            ("without idempotency, re-stylising changes the output more", "idempotency_mse", "full",
             "no_idempotency", "lower"),
            ("without LPIPS, the output is perceptually further from the content", "lpips_output_content",
             "full", "no_lpips", "lower"),
        ],
        "03_idempotency": [
            ("the idempotency loss makes T(T(c,s),s) closer to T(c,s)", "idempotency_mse", "full",
             "no_idempotency", "lower"),
            ("the idempotency loss hurts stylisation (Ds(I_o, I_s) is higher with it)", "Ds_output_style",
             "no_idempotency", "full", "lower"),
        ],
        "04_multirestoration": [
            (f"the low-resolution multirestoration loss improves restoration at {r} px", f"restoration_ssim_{r}",
             "full", "no_multirestoration", "higher") for r in scales],
        "05_lpips": [
            ("the LPIPS loss improves perceptual quality: lower LPIPS(I_o, I_c)", "lpips_output_content", "full",
             "no_lpips", "lower"),
            ("the LPIPS loss improves the perceptual quality of restorations: lower LPIPS(I_c, I_c')",
             "restoration_lpips", "full", "no_lpips", "lower"),
        ],
        "06_simplified": [
            ("the simplified architecture is faster at inference", "inference_seconds", "simplified", "full",
             "lower"),
            ("the simplified architecture stylises slightly worse (Ds(I_o, I_s) higher)", "Ds_output_style",
             "full", "simplified", "lower"),
            ("the simplified architecture restores slightly worse", "restoration_ssim", "full", "simplified",
             "higher"),
        ],
    }[notebook]


def label_claims(notebook, rows, budget, out_dir):
    """Label each of the notebook's seed claims with `verdict`, save claims.json; returns a Markdown table."""
    claims = []
    for claim, metric, better, worse, direction in claims_for(notebook, budget):
        label, evidence = verdict(rows, metric, better, worse, direction)
        claims.append({"claim": claim, "verdict": label, "evidence": evidence})
    write_claims(out_dir, notebook, budget, claims)
    write_summary(Path(out_dir).parent)
    return claims_markdown(claims)


def claims_markdown(claims):
    return "| seed claim | verdict | evidence |\n|---|---|---|\n" + "\n".join(
        f"| {c['claim']} | **{c['verdict']}** | {c['evidence']} |" for c in claims) + "\n"
