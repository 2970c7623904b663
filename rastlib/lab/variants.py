"""The variants of the seed's comparisons, the `Budget` they share, the notebooks' parameter checks, and the
weights of the seed's new terms by gradient balance."""
import math
import statistics
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from ..data import list_images
from ..errors import ConfigError, DataError
from ..train.checkpoint import DEMO_CHECKPOINT, REPO_ROOT
from ..train.config import LOSS_PRESETS, PROFILES, ablate, make_config

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
    return config_gradient_norms(variant_config(budget, variant, seed), batches)


def config_gradient_norms(cfg, batches=2):
    """{term: mean over `batches` batches of ‖w·∇_θ L_term‖} for every term with a nonzero weight in `cfg`, from
    its `init_from` (or a fresh model), on its first batches. A term's weight scales its pull linearly, so a
    config with the candidate terms at weight 1 gives their unweighted pulls."""
    import tempfile

    from ..train.loop import Trainer
    from ..train.losses import LOSS_TERMS
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(replace(cfg, out_dir=tmp), resume=False)
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
