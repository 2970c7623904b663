"""What a training run trains, apart from the loop that steps it (`train.Trainer`).

A `TrainingSystem` holds the RAST generator, the contrastive projection heads, the two discriminators (D1 on
paintings vs I_o, D2 on photos vs I_o'), the LPIPS network a loss may use, the freezing of a generator part, the
two Adam optimisers, their wrappers for DistributedDataParallel and the generator's weight average when the config
keeps one (`ema_decay`); `state()` and `restore()` give and take all of it as the checkpoint's fields. It knows
nothing of data, steps, logs or files.
"""
import contextlib

import torch

from ..model.discriminator import MultiDiscriminator
from ..model.rast import RAST, ProjectionHeads
from ..model.sanet import uniform_attention_init
from . import distributed
from .checkpoint import generator_weights
from .config import TRAINED_PARTS
from .ema import GeneratorEMA


class TrainingSystem:
    """The trained networks and optimisers of a `Config` on `device`, built in a fixed order from the torch seed
    the caller set (so two runs with one seed start from the same weights). `world_size` > 1: the discriminators
    keep their weight gradients in the generator step (DDP's reducer expects them)."""

    def __init__(self, cfg, device, world_size=1, encoder=None):
        w = cfg.weights
        self.device, self.world_size = device, world_size
        self.model = RAST(encoder or cfg.encoder, cfg.encoder_path or None, cfg.architecture,
                          cfg.padding).to(device)
        if cfg.transform_init == "uniform_attention":
            uniform_attention_init(self.model.transform)
        self.heads = ProjectionHeads().to(device) if (w["contrastive_content"] or w["contrastive_style"]) else None
        self.adversarial = bool(w["adversarial"])
        self.d_style = MultiDiscriminator().to(device) if self.adversarial else None
        self.d_content = MultiDiscriminator().to(device) if self.adversarial else None
        self.perceptual = None
        if w["lpips"]:
            from ..model.perceptual import load_lpips
            self.perceptual = load_lpips(cfg.lpips_backend).to(device)
        for part in cfg.freeze:
            getattr(self.model, part).requires_grad_(False)
        self.generator_params = [p for part in TRAINED_PARTS if part not in cfg.freeze
                                 for p in getattr(self.model, part).parameters()]
        heads_params = list(self.heads.parameters()) if self.heads is not None else []
        self.opt_g = torch.optim.Adam(self.generator_params + heads_params, lr=cfg.lr)
        self.opt_d = (torch.optim.Adam([*self.d_style.parameters(), *self.d_content.parameters()],
                                       lr=cfg.lr, betas=(0.5, 0.999)) if self.adversarial else None)
        self.memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
        self.ema_decay, self.ema = cfg.ema_decay, None  # the average starts in `restore` or `finish`

    def start_from(self, init):
        """Take the generator (and the contrastive heads, which exported checkpoints keep) of a checkpoint dict
        `init` as the starting weights (its weight average if it kept one); the discriminators and optimisers
        start fresh."""
        self.model.load_generator_state(generator_weights(init), partial=True)
        if self.heads is not None and init.get("heads"):
            self.heads.load_state_dict(init["heads"])

    def finish(self):
        """Place every network on the device in the memory format, and wrap what the restoration graph calls:
        the same modules, in DistributedDataParallel under torchrun; start the weight average (if the config
        keeps one and `restore` found none: a run that turns it on at a resume starts it there). Call once, after
        any `restore`."""
        self.model.to(self.device)
        for module in (self.model, self.heads, self.d_style, self.d_content, self.perceptual):
            if module is not None:
                module.to(memory_format=self.memory_format)
        self.generator = distributed.wrap(self.model, self.device)
        self.wrapped_heads = distributed.wrap(self.heads, self.device, find_unused_parameters=True)
        self.wrapped_d = [distributed.wrap(d, self.device, find_unused_parameters=True)
                          for d in (self.d_style, self.d_content)]
        if self.ema_decay and self.ema is None:
            self.ema = GeneratorEMA(self.model, self.ema_decay)
        return self

    def averaged(self):
        """A context in which the model holds the generator the checkpoint stands for: the weight average if the
        run keeps one (diagnoses measure it), else its own weights."""
        return self.ema.swapped_in() if self.ema is not None else contextlib.nullcontext(self.model)

    def set_lr(self, generator_lr, discriminator_lr):
        for opt, lr in ((self.opt_g, generator_lr), (self.opt_d, discriminator_lr)):
            if opt is not None:
                for group in opt.param_groups:
                    group["lr"] = lr

    @contextlib.contextmanager
    def discriminators_held(self):
        """The generator step: the discriminators' weights need no gradient (their own step computes theirs), so
        the adversarial term's backward stops at their inputs. Not under DDP, whose reducer expects the
        gradients of every parameter it was built with."""
        held = [d for d in (self.d_style, self.d_content) if d is not None] if self.world_size == 1 else []
        for d in held:
            d.requires_grad_(False)
        try:
            yield
        finally:
            for d in held:
                d.requires_grad_(True)

    def weights_finite(self):
        return all(torch.isfinite(p).all() for p in self.model.parameters())

    def state(self):
        """The checkpoint's fields of what is trained: generator, heads, discriminators, both optimisers, the
        generator's weight average (None if not kept)."""
        return {
            "generator": self.model.generator_state(),
            "heads": self.heads.state_dict() if self.heads is not None else None,
            "discriminators": ({"style": self.d_style.state_dict(), "content": self.d_content.state_dict()}
                               if self.adversarial else None),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict() if self.opt_d is not None else None,
            "ema": self.ema.state if self.ema is not None else None,
        }

    def restore(self, ckpt):
        """Load the fields of `state()` from a checkpoint dict."""
        self.model.load_generator_state(ckpt["generator"])
        if self.heads is not None:
            self.heads.load_state_dict(ckpt["heads"])
        if self.adversarial:
            self.d_style.load_state_dict(ckpt["discriminators"]["style"])
            self.d_content.load_state_dict(ckpt["discriminators"]["content"])
            self.opt_d.load_state_dict(ckpt["opt_d"])
        self.opt_g.load_state_dict(ckpt["opt_g"])
        if self.ema_decay and ckpt.get("ema"):
            self.ema = GeneratorEMA(self.model, self.ema_decay)
            self.ema.load(ckpt["ema"])
