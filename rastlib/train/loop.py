"""Training: per step, the discriminators on detached fakes, then the generator on the weighted loss table.

Adam 1e-4 (discriminators betas 0.5/0.999), lr_i = lr / (1 + lr_decay · i) for all optimisers (official).
Exact resume: data keys are a pure function of (seed, position) and the forward pass draws no random
numbers, so a resumed run logs the same losses as an uninterrupted one (CPU, same seed).
Numerical guard: a step whose losses or gradients hold NaN/Inf is not applied (and never saved); after
`max_bad_steps` such steps in a row training stops with `TrainingError`.
Under torchrun, each process trains on its share of every global batch with DistributedDataParallel
(see `distributed`); rank 0 writes the log (losses averaged over processes) and the checkpoints.
Stopping: a SIGTERM or Ctrl-C (SIGINT) ends a single-process run after the step under way, which is saved, so a
rerun resumes from it (`TrainingStopped`); a second Ctrl-C interrupts at once.
"""
import contextlib
import json
import os
import signal
import threading
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from ..data import ImageFolder, InfiniteSampler, ShardSampler
from ..errors import CheckpointError, ConfigError, RastError, TrainingStopped
from . import distributed
from .checkpoint import FORMAT, VERSION, config_differences, load_checkpoint, save_atomic
from .config import Config, config_defaults
from .graph import LossSettings, RestorationGraph
from .losses import IDENTITY_TERMS, compute_losses, discriminator_loss
from .system import TrainingSystem


class TrainingError(RastError):
    """Training cannot go on (e.g. too many non-finite steps in a row)."""


@contextlib.contextmanager
def stop_on_signals(enabled=True):
    """While training, the first SIGTERM or SIGINT is recorded in the yielded list instead of ending the process
    (the loop then saves the step under way and stops); a second SIGINT raises KeyboardInterrupt at once. Only in
    the main thread and where `enabled` (not under torchrun: the ranks would stop at different steps)."""
    asked = []
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield asked
        return

    def handler(signum, frame):
        if asked and signum == signal.SIGINT:
            raise KeyboardInterrupt
        asked.append(signal.Signals(signum).name)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield asked
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def pair_trick(contents, styles, content_ids=None, style_ids=None):
    """IEContraAST's batch: contents c_0 … c_k and styles s_0 … s_{k-1} → 2k pairs [c_0…c_{k-1}, c_1…c_k] × [s, s],
    returned with the content and style id of every row.

    Every output then has a partner with the same style and another content, and one with the same content
    and another style (what the contrastive losses compare). Given k contents (a whole batch), c_k = c_0:
    IEContraAST's roll; a process of a distributed run loads its k + 1 contents itself (`shard_offsets`).
    ids: the images' positions in the global batch (default: 0, 1, …).
    """
    k = styles.shape[0]
    if contents.shape[0] not in (k, k + 1):
        raise ValueError(f"pair_trick needs k or k + 1 contents for k = {k} styles, got {contents.shape[0]}")
    content_ids = torch.arange(contents.shape[0]) if content_ids is None else content_ids
    style_ids = torch.arange(k) if style_ids is None else style_ids
    if contents.shape[0] == k:
        contents, content_ids = torch.cat([contents, contents[:1]]), torch.cat([content_ids, content_ids[:1]])
    return (torch.cat([contents[:-1], contents[1:]]), torch.cat([styles, styles]),
            torch.cat([content_ids[:-1], content_ids[1:]]), torch.cat([style_ids, style_ids]))


def resolve_device(name):
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


class Trainer:
    """The loop that trains a `TrainingSystem` (what is trained: `self.system`) on the data of a `Config`: batches,
    steps, the numerical guard, the log and the checkpoints; resumes from `<out_dir>/checkpoint.pt` if present.
    The system's networks and optimisers read through the trainer too (`trainer.model`, `trainer.opt_g`, …)."""

    def __init__(self, cfg: Config, resume=True, encoder=None):
        if cfg.amp == "auto":  # the step probe picks the numeric setting (rastlib.train.probe)
            from .probe import resolve_amp
            cfg = resolve_amp(cfg)
        self.cfg = cfg
        self.out_dir = Path(cfg.out_dir)
        self.ckpt_path = self.out_dir / "checkpoint.pt"
        self.log_path = self.out_dir / "log.jsonl"
        self.device = distributed.setup(resolve_device(cfg.device))
        self.rank, self.world_size = distributed.world()
        w = cfg.weights
        h = cfg.batch_size // 2
        # This process's share of each global batch: positions in the step's h contents / h styles.
        self.content_offsets = distributed.shard_offsets(h, self.rank, self.world_size,
                                                         extra=int(self.world_size > 1))
        self.style_offsets = distributed.shard_offsets(h, self.rank, self.world_size)
        if (w["contrastive_content"] or w["contrastive_style"]) and h // self.world_size < 2:
            raise ConfigError(f"the contrastive losses need batch_size ≥ 4 per process; batch_size "
                              f"{cfg.batch_size} over {self.world_size} processes is too small")
        # Data first: a missing or empty folder fails at once, before any model is built.
        self.datasets = [ImageFolder(d, cfg.load_size, cfg.crop_size, load_size_max=cfg.load_size_max, flips=flips)
                         for d, flips in ((cfg.content_dir, False), (cfg.style_dir, cfg.style_flips))]
        torch.manual_seed(cfg.seed)
        self.system = TrainingSystem(cfg, self.device, self.world_size, encoder)
        self.settings = LossSettings(cfg.style_difference_eps, cfg.tau, cfg.multirestoration_scales,
                                     cfg.multirestoration_detach)
        # Only identity terms on (the inverter phase): each image appears once, no pair trick.
        self.pairs = any(v for k, v in w.items() if k not in IDENTITY_TERMS)
        self.step = 0
        self.bad_steps = 0
        self.last_counts = {}  # encoder passes and transfers of the last train_step (the benchmark reads them)
        if resume and self.ckpt_path.is_file():
            self.restore(load_checkpoint(self.ckpt_path, map_location=self.device))
        elif cfg.init_from:
            self.system.start_from(load_checkpoint(cfg.init_from, map_location=self.device))
        self.system.finish()

    def __getattr__(self, name):
        """The trained parts (model, heads, d_style, d_content, perceptual, opt_g, opt_d, generator_params,
        adversarial, memory_format, discriminators_held, …) are the system's."""
        if name == "system":  # not built yet (an error in __init__): no recursion
            raise AttributeError(name)
        return getattr(self.system, name)

    # --- data ---------------------------------------------------------------------------------------------
    def batches(self):
        """Endless (contents, styles) batches from step `self.step` on: of each step's h = batch_size/2 contents
        and styles, this process's share (all of them in a single process)."""
        h = self.cfg.batch_size // 2
        loaders = []
        for ds, seed, offsets in zip(self.datasets, (self.cfg.seed, self.cfg.seed + 1),
                                     (self.content_offsets, self.style_offsets)):
            sampler = ShardSampler(InfiniteSampler(len(ds), seed=seed), h, offsets, start_step=self.step)
            loaders.append(DataLoader(ds, batch_size=len(offsets), sampler=sampler, num_workers=self.cfg.workers,
                                      pin_memory=self.device.type == "cuda",
                                      persistent_workers=self.cfg.workers > 0))
        yield from zip(*loaders)

    # --- one step -----------------------------------------------------------------------------------------
    def lr_at(self, i):
        """The learning rate of step i, lr / (1 + lr_decay · i) (official): the discriminators' always."""
        return self.cfg.lr / (1.0 + self.cfg.lr_decay * i)

    def generator_lr_at(self, i):
        """`lr_at(i)` for the generator and the heads, ramped over `cfg.lr_ramp_steps` steps after the warm-up."""
        ramp, start = self.cfg.lr_ramp_steps, self.cfg.warmup_steps
        return self.lr_at(i) * (min(1.0, (i - start + 1) / ramp) if ramp and i >= start else 1.0)

    def train_step(self, contents, styles):
        """One D step then one G step. Returns the log record (losses unweighted, plus totals).

        A GPU runs ahead of Python until something asks for a value: the step asks twice (after each backward,
        is the step finite?) and reads the logged values once, after the last of these."""
        self.system.set_lr(self.generator_lr_at(self.step), self.lr_at(self.step))
        g = self.graph(contents, styles)
        logged = {}
        finite = True
        if self.system.adversarial:
            self.system.opt_d.zero_grad(set_to_none=True)
            with self.autocast():
                logged["discriminator"] = d_loss = discriminator_loss(g)
            finite = self._step_if_finite(d_loss, self.system.opt_d)
        self.system.opt_g.zero_grad(set_to_none=True)
        with self.system.discriminators_held():
            with self.autocast():  # the forward; the backward runs outside autocast, as torch recommends
                values, total = compute_losses(g, self.cfg.weights)
            self.last_counts = {"encoder_passes": g.n_encodes, "transfers": g.n_transfers}
            held = self.system.generator_params if self.step < self.cfg.warmup_steps else ()
            finite = finite and self._step_if_finite(total, self.system.opt_g, held)
        if finite:
            self.bad_steps = 0
            if self.system.ema is not None:
                self.system.ema.update()
        else:
            self.system.opt_g.zero_grad(set_to_none=True)
            self.bad_steps += 1
        logged.update(values, total=total)
        numbers = torch.stack([v.detach().float() for v in logged.values()]).tolist()  # the one read of values
        record = {"step": self.step, "lr": self.generator_lr_at(self.step), **dict(zip(logged, numbers)),
                  "skipped": not finite}
        return distributed.mean_over_processes(record, self.device)

    def graph(self, contents, styles):
        """The lazy `RestorationGraph` of one batch (with the pair trick unless only identity terms are on)."""
        parts = self.system
        cid, sid = torch.tensor(self.content_offsets), torch.tensor(self.style_offsets)
        contents, styles = (x.to(self.device, memory_format=parts.memory_format) for x in (contents, styles))
        if self.pairs:
            c, s, cid, sid = pair_trick(contents, styles, cid, sid)
        else:
            c, s, cid = contents[:len(sid)], styles, cid[:len(sid)]
        return RestorationGraph(parts.model, c, s, cid.to(self.device), sid.to(self.device), heads=parts.wrapped_heads,
                                d_style=parts.wrapped_d[0], d_content=parts.wrapped_d[1], perceptual=parts.perceptual,
                                settings=self.settings, generator=parts.generator)

    def autocast(self):
        """bf16 autocast when `cfg.amp == "bf16"` (CPUs with avx512_bf16, GPUs), otherwise a no-op."""
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.cfg.amp == "bf16")

    def _step_if_finite(self, loss, opt, held=()):
        """Backpropagate `loss` and step `opt`, unless the loss or a gradient is NaN/Inf on any process (then the
        gradients are dropped; all processes agree); the parameters in `held` keep their values (the warm-up).
        One host sync: the loss and the gradients' total norm are checked together."""
        if loss.requires_grad:
            loss.backward()  # under DDP, the gradients are averaged over processes here
        for p in held:
            p.grad = None  # Adam skips a parameter without a gradient: no update, no moment
        grads = [p.grad for group in opt.param_groups for p in group["params"] if p.grad is not None]
        norm = torch.nn.utils.get_total_norm(grads) if grads else torch.zeros((), device=loss.device)
        finite = distributed.all_true(bool(torch.isfinite(loss.detach().float() + norm)), self.device)
        if finite:
            opt.step()
        else:
            opt.zero_grad(set_to_none=True)
        return finite

    # --- loop ---------------------------------------------------------------------------------------------
    def fit(self, steps=None, progress=True):
        """Train until `cfg.iterations` (or `steps` more steps); checkpoint every `save_every` and at the end."""
        from tqdm.auto import tqdm
        end = self.cfg.iterations if steps is None else min(self.cfg.iterations, self.step + steps)
        main = self.rank == 0  # only rank 0 writes the log and the checkpoints
        self.out_dir.mkdir(parents=True, exist_ok=True)
        if main:
            self._truncate_log()
            for stale in self.out_dir.glob(f".{self.ckpt_path.name}.*.tmp"):
                stale.unlink()  # left by a process killed while writing a checkpoint (the checkpoint is whole)
        self.system.model.train()
        bar = tqdm(total=end, initial=self.step, disable=not (progress and main), desc="train", dynamic_ncols=True)
        with open(self.log_path, "a") if main else contextlib.nullcontext() as log, \
                stop_on_signals(self.world_size == 1) as asked:
            for contents, styles in self.batches():
                if self.step >= end:
                    break
                t0 = time.perf_counter()
                record = self.train_step(contents, styles)
                record["seconds"] = round(time.perf_counter() - t0, 4)
                if main:
                    log.write(json.dumps(record) + "\n")
                    log.flush()
                self.step += 1
                bar.update(1)
                bar.set_postfix(total=f"{record['total']:.3g}", skipped=self.bad_steps)
                if self.bad_steps >= self.cfg.max_bad_steps:
                    raise TrainingError(f"{self.bad_steps} steps in a row had NaN/Inf losses or gradients "
                                        f"(last at step {self.step - 1}); stopped. The last good checkpoint "
                                        f"is {self.ckpt_path}")
                if (self.step % self.cfg.save_every == 0 or self.step == end or asked) and not record["skipped"] \
                        and main:
                    self.save()  # only right after a good step
                if asked:
                    bar.close()
                    kept = "saved" if not record["skipped"] else "the last good checkpoint is"
                    raise TrainingStopped(f"{asked[0]}: stopped after step {self.step} ({kept} {self.ckpt_path}); "
                                          f"the same command resumes it")
        bar.close()
        distributed.barrier()  # every process ends with rank 0's last checkpoint on disk
        self.system.model.eval()
        return self.step

    # --- checkpoints --------------------------------------------------------------------------------------
    def state(self):
        """The training checkpoint: format, kind, config and step, the system's fields, the RNG."""
        return {"format": FORMAT, "version": VERSION, "kind": "train", "config": self.cfg.to_dict(),
                "step": self.step, **self.system.state(), "rng": {"torch": torch.get_rng_state()}}

    def save(self):
        """Atomically write `<out_dir>/checkpoint.pt` (refuses to save non-finite weights)."""
        if not self.system.weights_finite():
            raise TrainingError("refusing to save a checkpoint with non-finite weights")
        save_atomic(self.state(), self.ckpt_path)

    def restore(self, ckpt):
        """Set the weights, optimisers, RNG and step from a checkpoint dict (what `state()` returns); a checkpoint
        trained with another configuration is refused, naming the fields that differ."""
        diffs = config_differences({**config_defaults(), **ckpt["config"]}, self.cfg.to_dict())
        if diffs:
            lines = "; ".join(f"{k}: checkpoint {a!r} vs now {b!r}" for k, a, b in diffs[:6])
            raise CheckpointError(f"{self.ckpt_path} was trained with another configuration ({lines}); "
                                  f"use another out_dir or the same settings")
        self.system.restore(ckpt)
        torch.set_rng_state(ckpt["rng"]["torch"].cpu())
        self.step = ckpt["step"]

    def _truncate_log(self):
        """Drop log lines past the resumed step, so the log equals that of an uninterrupted run."""
        if not self.log_path.is_file():
            return
        keep = []
        with open(self.log_path) as f:
            for line in f:
                try:
                    if json.loads(line)["step"] < self.step:
                        keep.append(line)
                except (ValueError, KeyError):
                    break  # a line torn by a kill: everything after it is redone
        tmp = self.log_path.with_suffix(".tmp")
        tmp.write_text("".join(keep))
        os.replace(tmp, self.log_path)


def read_log(path):
    """The JSONL training log as a list of dicts (a torn last line is ignored)."""
    records = []
    with open(path) as f:
        for line in f:
            try:
                records.append(json.loads(line))
            except ValueError:
                break
    return records


def train(cfg, resume=True, progress=True, steps=None):
    """Train a run described by `cfg`; returns the trainer (its checkpoint is in `cfg.out_dir`)."""
    trainer = Trainer(cfg, resume=resume)
    trainer.fit(steps=steps, progress=progress)
    return trainer
