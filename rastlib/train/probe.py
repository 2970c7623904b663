"""The step probe: which numeric setting trains fastest on this machine with the same losses.

A training run whose config says `amp="auto"` starts here (and `python -m rastlib bench --training` runs the same
probe side by side). Each candidate builds the run's trainer from the same starting weights (the same seed, so
the same fresh discriminators), computes every loss term on the same batch, and is timed over a few training
steps. A GPU call (scripts/device_train.py) times its candidates with `throughput` instead: images per second at
each batch size, memory format and padding, each optionally profiled, with no parity check (those settings
change the layout of the arithmetic, not its precision).

Parity rule: a candidate is accepted only if no loss term is NaN and each is within `RTOL` of fp32's value plus
twice what fp32's own value moves when the batch is perturbed below its 8-bit quantisation (uniform noise of
±½/255, two draws, the larger move). The InfoNCE terms are ill-conditioned (the positive and the negatives nearly
tie): such a perturbation moves `contrastive_content` by ~7 % in fp32, so a fixed 5 % would refuse any setting
whatever its precision, while a well-conditioned term is held to ~5 %. The fastest accepted candidate trains. On
a GPU "auto" is bf16 without probing.

Candidates (`CANDIDATES`): fp32; fp32 with channels_last; bf16 autocast with channels_last. The bf16 pass keeps
its tensors in bf16 end to end: reflection padding stays in bf16 (`ops.ReflectionPad`), the frozen encoder runs a
bf16 copy of its weights after its first slice, which stays fp32 (`encoder.VGGEncoder`), and the loss statistics
(mean/std, mean-variance norm, the contrastive projections) are computed in fp32. On a CPU without a bf16 unit (no
`avx512_bf16` / `amx_bf16` flag) bf16 is emulated and slower than fp32, so a training run does not probe it there
(`default_candidates`: each candidate costs three training steps, ~4 min at 256² on such a CPU); the table says
why, and `python -m rastlib bench --training` still times every candidate.
"""
import json
import math
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

CANDIDATES = (("fp32", dict(amp="none", channels_last=False)),
              ("fp32_channels_last", dict(amp="none", channels_last=True)),
              ("bf16_channels_last", dict(amp="bf16", channels_last=True)))
RTOL = 0.05
QUANTUM = 1 / 255  # the batch's 8-bit quantisation step: the perturbation the parity rule is scaled by
BF16_FLAGS = ("amx_bf16", "avx512_bf16")


def cpu_flags():
    """The CPU's model name and which bf16 matrix-unit flags it has (from /proc/cpuinfo; empty elsewhere)."""
    name, flags = "unknown", set()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name") and name == "unknown":
                name = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    return {"cpu": name, "bf16_units": [f for f in BF16_FLAGS if f in flags]}


def default_candidates():
    """The candidates a training run probes: all of `CANDIDATES` where the CPU has a bf16 unit, else the fp32 ones
    (emulated bf16 is slower than fp32: results/demo_checkpoint/lower_lr_256/cpu_probe_q256.md)."""
    return CANDIDATES if cpu_flags()["bf16_units"] else tuple(c for c in CANDIDATES if c[1]["amp"] == "none")


def loss_values(trainer, contents, styles):
    """Every loss term the trainer's step logs first (unweighted, with the total and the discriminator's loss) on
    this batch, without training: forward passes only."""
    from .losses import compute_losses, discriminator_loss
    with torch.no_grad(), trainer.autocast():
        g = trainer.graph(contents, styles)
        values, total = compute_losses(g, trainer.cfg.weights)
        if trainer.adversarial:
            values = {"discriminator": discriminator_loss(g), **values}
    return {k: float(v) for k, v in {**values, "total": total}.items()}


def quantisation_noise(trainer, contents, styles, draws=2):
    """{term: the largest |change| of its fp32 value} when the batch is perturbed by uniform noise of ±½ of its
    8-bit quantisation step (`draws` draws, a fixed generator): how precisely fp32 itself pins each term."""
    base, noise = loss_values(trainer, contents, styles), {}
    gen = torch.Generator().manual_seed(0)
    for _ in range(draws):
        moved = [(x + (torch.rand(x.shape, generator=gen) - 0.5) * QUANTUM).clamp(0, 1) for x in (contents, styles)]
        for k, v in loss_values(trainer, *moved).items():
            noise[k] = max(noise.get(k, 0.0), abs(v - base[k]))
    return noise


def step_seconds(trainer, batch, steps=2, warmup=True):
    """Median seconds of `steps` training steps on `batch`, after one untimed step (first-call allocations and
    kernel choices) if `warmup`."""
    if warmup:
        trainer.train_step(*batch)
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        trainer.train_step(*batch)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def profile_steps(trainer, batch, cuda, steps=2, top=15):
    """Where a training step's time goes: the ops with the most self time (GPU kernel time on a GPU, CPU time
    otherwise), per step, with their share of the total."""
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])) as prof:
        for _ in range(steps):
            trainer.train_step(*batch)
        if cuda:
            torch.cuda.synchronize()
    key = "self_device_time_total" if cuda else "self_cpu_time_total"
    events = [e for e in prof.key_averages() if e.device_type == DeviceType.CPU and getattr(e, key) > 0]
    total = sum(getattr(e, key) for e in events)
    rows = [{"op": e.key, "ms_per_step": round(getattr(e, key) / 1000 / steps, 2),
             "share": round(getattr(e, key) / total, 4), "calls_per_step": e.count // steps}
            for e in sorted(events, key=lambda e: -getattr(e, key))[:top]]
    return {"clock": "gpu kernels" if cuda else "cpu", "ms_per_step": round(total / 1000 / steps, 1), "top": rows}


def throughput(cfg, settings, seconds_each=0.0, profile=False):
    """Training images per second of `cfg`'s step under each of `settings` (dicts of config overrides, e.g.
    batch_size, channels_last, padding): one row per setting, {**setting, ms_per_step, images_per_s[, profile]}
    or {**setting, error}. No parity check: the settings change the speed, not the arithmetic (the same values
    in another layout or order). On a GPU a warm-up step (cuDNN autotuning) comes first and at least two steps are
    timed (and profiled) for `seconds_each` at least; on a CPU one step (a dry run checks the code, not the
    speed). A setting that fails costs its row, not the call."""
    from .loop import Trainer
    rows = []
    for setting in settings:
        run = replace(cfg, **setting, out_dir=tempfile.mkdtemp(prefix="rastlib-probe-"))
        cuda, row = run.device.startswith("cuda"), dict(setting)
        try:
            trainer = Trainer(run, resume=False)
            batch = next(trainer.batches())
            steps = 2 if cuda else 1
            if cuda:
                trainer.train_step(*batch)
            n, t0 = 0, time.perf_counter()
            while time.perf_counter() - t0 < seconds_each or n < steps:
                trainer.train_step(*batch)
                n += 1
            if cuda:
                torch.cuda.synchronize()
            dt = (time.perf_counter() - t0) / n
            row.update(ms_per_step=1000 * dt, images_per_s=run.batch_size / dt)
            if profile:
                row["profile"] = profile_steps(trainer, batch, cuda, steps)
        except torch.OutOfMemoryError:
            row["error"] = "out of memory"
        except Exception as e:  # noqa: BLE001 (a failed setting costs its row, not the call)
            row["error"] = f"{type(e).__name__}: {e}"
        finally:
            if cuda:
                torch.cuda.empty_cache()
        rows.append(row)
    return rows


def agree(reference, values, noise, rtol=RTOL):
    """(accepted, why) by the parity rule: every term of `values` finite and within rtol × |fp32 value| +
    2 × its quantisation noise of `reference` (fp32's)."""
    for term, ref in reference.items():
        v = values.get(term, math.nan)
        if not math.isfinite(v):
            return False, f"{term} is {v}"
        bound = rtol * abs(ref) + 2 * noise.get(term, 0.0)
        if abs(v - ref) > bound:
            return False, f"{term} {v:.4g} against fp32's {ref:.4g} (allowed ±{bound:.2g})"
    return True, ""


def probe(cfg, steps=2, candidates=None, log=print):
    """Time and check every candidate setting of `cfg` (default: `default_candidates()`; see the module
    docstring); the first candidate is the fp32 reference. Returns the table {"hardware", "config",
    "candidates": [{name, amp, channels_last, ms_per_step, losses, accepted, why}], "noise", "chosen",
    "speedup_vs_fp32", "note"}. The run's own folder is not touched: the candidates train in a temporary folder,
    from the run's checkpoint if it has one, else from its `init_from`."""
    from .loop import Trainer
    candidates = default_candidates() if candidates is None else candidates
    run_ckpt = Path(cfg.out_dir) / "checkpoint.pt"
    start = str(run_ckpt) if run_ckpt.is_file() else cfg.init_from
    rows, batch, reference, noise = [], None, None, None
    emulated = not cpu_flags()["bf16_units"]
    for name, setting in candidates:
        with tempfile.TemporaryDirectory(prefix="rastlib-probe-") as tmp, torch.random.fork_rng(devices=[]):
            trainer = Trainer(replace(cfg, **setting, out_dir=tmp, init_from=start), resume=False)
            if batch is None:
                batch = next(trainer.batches())
            losses = loss_values(trainer, *batch)
            if reference is None:
                reference, noise = losses, quantisation_noise(trainer, *batch)
            # an emulated bf16 step (~90 s at 64² on an AVX2 CPU) is timed without the untimed one: its first-call
            # costs are under 1 % of it, and the untimed step would double the probe's cost
            seconds = step_seconds(trainer, batch, steps, warmup=not (emulated and setting["amp"] == "bf16"))
        accepted, why = agree(reference, losses, noise)
        rows.append({"name": name, **setting, "ms_per_step": round(1000 * seconds, 1),
                     "losses": {k: round(v, 6) for k, v in losses.items()}, "accepted": accepted, "why": why})
        log(f"probe: {name}: {rows[-1]['ms_per_step']:.0f} ms a step, "
            f"{'accepted' if accepted else 'refused: ' + why}")
    chosen = min((r for r in rows if r["accepted"]), key=lambda r: r["ms_per_step"])
    hardware = {**cpu_flags(), "threads": torch.get_num_threads(), "torch": torch.__version__}
    probed_bf16 = any(r["amp"] == "bf16" for r in rows)
    note = "" if hardware["bf16_units"] else \
        "no bf16 unit on this CPU (no amx_bf16/avx512_bf16 flag): bf16 autocast is emulated" + \
        (" (timed without the untimed step)" if probed_bf16 else
         ", slower than fp32, so not probed (`python -m rastlib bench --training --emulated-bf16` times it)")
    return {"hardware": hardware, "config": {"loss_preset": cfg.loss_preset, "batch_size": cfg.batch_size,
                                             "crop_size": cfg.crop_size},
            "rtol": RTOL, "noise": {k: round(v, 6) for k, v in noise.items()}, "steps_timed": steps,
            "candidates": rows, "chosen": chosen["name"],
            "speedup_vs_fp32": round(rows[0]["ms_per_step"] / chosen["ms_per_step"], 2), "note": note}


def markdown(table):
    """The probe's table as Markdown."""
    hw = table["hardware"]
    lines = [f"Step probe: {table['config']['loss_preset']}, batch {table['config']['batch_size']}, "
             f"{table['config']['crop_size']}², {hw['cpu']} ({', '.join(hw['bf16_units']) or 'no bf16 unit'}), "
             f"{hw['threads']} threads, torch {hw['torch']}; median of {table['steps_timed']} steps after one "
             f"untimed step. Accepted when every loss term is within {table['rtol']:.0%} of fp32's value plus twice "
             "what perturbing the batch below its 8-bit quantisation moves fp32's (rastlib.train.probe).", "",
             "| setting | amp | channels_last | ms / step | × fp32 | losses agree |", "|---|---|---|---|---|---|"]
    fp32 = table["candidates"][0]["ms_per_step"]
    for r in table["candidates"]:
        mark = " **(chosen)**" if r["name"] == table["chosen"] else ""
        lines.append(f"| {r['name']}{mark} | {r['amp']} | {r['channels_last']} | {r['ms_per_step']:.0f} | "
                     f"{fp32 / r['ms_per_step']:.2f} | {'yes' if r['accepted'] else 'no: ' + r['why']} |")
    if table.get("stylisation"):
        st = table["stylisation"]
        bf16 = f"{st['seconds']['bf16']:.2f} s" if "bf16" in st["seconds"] else "not timed (emulated)"
        lines += ["", f"Stylisation (`RAST.T`, one pair, {st['size']}², median of 3 after a warm-up): fp32 "
                      f"{st['seconds']['fp32']:.2f} s, bf16 autocast {bf16}; the default "
                      f"(`precision=\"auto\"` of the command line) here: {st['default']}."]
    if table["note"]:
        lines += ["", table["note"]]
    return "\n".join(lines) + "\n"


def write(table, out_dir, stem="cpu_probe"):
    """`<stem>.json` and `<stem>.md` into `out_dir`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps(table, indent=1))
    (out / f"{stem}.md").write_text(markdown(table))


def resolve_amp(cfg, log=print):
    """`cfg` with `amp="auto"` decided: bf16 on a GPU; on a CPU the probe's choice (its table written into the run
    folder as cpu_probe.json/.md). Any other `amp` is returned as it is."""
    if cfg.amp != "auto":
        return cfg
    from .loop import resolve_device
    if resolve_device(cfg.device).type == "cuda":
        return replace(cfg, amp="bf16")
    table = probe(cfg, log=log)
    write(table, cfg.out_dir)
    chosen = next(r for r in table["candidates"] if r["name"] == table["chosen"])
    return replace(cfg, amp=chosen["amp"], channels_last=chosen["channels_last"])
