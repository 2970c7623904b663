"""Benchmarks (`python -m rastlib bench`, `make bench`): the kit against the official structure, measured here.

- Training step: the kit's step against the official form of it. The official `net_v19.Net.forward` already
  encodes each image once and shares its features between the losses (10 VGG passes per step, like the
  kit's `RestorationGraph`), so the official form differs only in its attention: plain `softmax(QKᵀ)V`, which
  builds the N×N matrix. Both run on the same inputs from the same weights and must give the same loss values.
- Stylisation: latency of `RAST.T` and the peak memory of a fresh process that stylises once, fused attention
  (`scaled_dot_product_attention`) against the plain `softmax(QKᵀ)V` that builds the N×N matrix.
- On a GPU: step time, images/s and model-FLOPs utilisation (MFU) of a bf16 step, FLOPs counted by
  `torch.utils.flop_counter`.

Results: `<out>/bench.json` and `<out>/bench.md`, with the machine, torch version and date.
"""
import copy
import json
import math
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from ..model.sanet import SANet
from ..train.config import make_config

# dense bf16 peak (TFLOP/s) of GPUs we may meet; MFU is reported only for these
PEAK_BF16_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L40S": 362.0, "A10": 125.0, "4090": 165.0}


def set_attention(model, fused):
    """Fused (`scaled_dot_product_attention`) or plain N×N attention in every SANet of `model`."""
    for m in model.modules():
        if isinstance(m, SANet):
            m.fused = fused


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "threads": torch.get_num_threads(), "torch": torch.__version__,
            "python": platform.python_version(), "gpu": torch.cuda.get_device_name() if torch.cuda.is_available()
            else None, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def _trainer(size, batch, device, amp="none"):
    from ..train.loop import Trainer
    out = tempfile.mkdtemp(prefix="rastlib-bench-")
    cfg = make_config("demo", crop_size=size, load_size=size, batch_size=batch, out_dir=out, device=device,
                      amp=amp, loss_preset="rast_wacv")
    return Trainer(cfg, resume=False)


def training_step(size=128, batch=4, steps=3, device="cpu"):
    """ms per training step (median of `steps`, after one warm-up) of the kit and of the official form (plain
    attention), from the same weights on the same batch; their loss values must agree (rel. 1e-4)."""
    trainer = _trainer(size, batch, device)
    contents, styles = next(trainer.batches())
    start = copy.deepcopy(trainer.state())
    rows = {}
    for name, fused in (("kit", True), ("official", False)):
        times = []
        set_attention(trainer.model, fused)
        for _ in range(steps + 1):
            trainer.restore(copy.deepcopy(start))
            t0 = time.perf_counter()
            record = trainer.train_step(contents, styles)
            _sync(device)
            times.append(time.perf_counter() - t0)
        rows[name] = {"ms_per_step": 1000 * statistics.median(times[1:]), "losses": record,
                      "encoder_passes": trainer.last_counts["encoder_passes"]}
    kit, official = rows["kit"]["losses"], rows["official"]["losses"]
    rel = 1e-4 if torch.device(device).type == "cpu" else 2e-3  # cuDNN convolutions run in TF32 by default
    for k, v in kit.items():
        if isinstance(v, float) and k != "lr" and not math.isclose(v, official[k], rel_tol=rel, abs_tol=1e-6):
            raise AssertionError(f"kit and official steps disagree on {k}: {v} vs {official[k]}")
    flops = step_flops(trainer, contents, styles) if torch.device(device).type == "cuda" else None
    return {"size": size, "batch": batch, "steps": steps, "device": device, "losses_agree_rel": rel,
            "tflops_per_step": flops and flops / 1e12,
            "kit_achieved_tflops": flops and flops / rows["kit"]["ms_per_step"] / 1e9,
            "kit_ms": rows["kit"]["ms_per_step"], "official_ms": rows["official"]["ms_per_step"],
            "speedup": rows["official"]["ms_per_step"] / rows["kit"]["ms_per_step"],
            "kit_encoder_passes": rows["kit"]["encoder_passes"],
            "official_encoder_passes": rows["official"]["encoder_passes"], "total_loss": kit["total"]}


def _sync(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def _pair(size, device):
    g = torch.Generator().manual_seed(0)
    return (torch.rand(1, 3, size, size, generator=g).to(device), torch.rand(1, 3, size, size, generator=g).to(device))


def bench_model(fused, checkpoint=None, device="cpu"):
    """The kit's model (fused attention, channels_last weights: `load_model`), or its official form: plain N×N
    attention, weights in the default (contiguous) layout."""
    from ..train.checkpoint import load_model
    model = load_model(checkpoint, device=device)
    if fused:
        return model
    set_attention(model, False)
    return model.to(memory_format=torch.contiguous_format)


def stylisation_latency(sizes=(256, 512, 1024), repeats=3, device="cpu", checkpoint=None):
    """Seconds per `RAST.T(content, style)` at each size² (median of `repeats` after a warm-up): the kit's model
    (fused attention, channels_last) and the official form (plain attention, contiguous)."""
    models = {fused: bench_model(fused, checkpoint, device) for fused in (True, False)}
    rows = []
    for size in sizes:
        c, s = _pair(size, device)
        for fused, model in models.items():
            rows.append({"size": size, "attention": "fused" if fused else "plain",
                         "seconds": stylise_seconds(model, c, s, repeats, device)})
    return rows


@torch.no_grad()
def stylise_seconds(model, c, s, repeats=3, device="cpu"):
    """Median seconds of `model.T(c, s)` over `repeats` calls after a warm-up call."""
    times = []
    for _ in range(repeats + 1):
        t0 = time.perf_counter()
        model.T(c, s)
        _sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times[1:])


def slider_latency(size=256, moves=10, checkpoint=None):
    """Seconds per move of the notebook's alpha slider (`viz.AlphaSlider.render`: blend, decode, PNG) at size²,
    median of `moves` moves, against a full `stylize` call per move (what the slider did before)."""
    from ..model.stylize import stylize
    from ..train.checkpoint import load_model
    from .viz import AlphaSlider
    model = load_model(checkpoint)
    c, s = _pair(size, "cpu")
    slider = AlphaSlider(model, [("bench", c, s)])
    times, full = [], []
    for i in range(moves):
        alpha = (i % 10) / 10 + 0.05
        t0 = time.perf_counter()
        slider.slider.value = alpha  # observe → render, as a drag in JupyterLab does
        times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        with torch.no_grad():
            stylize(model, c, s, alpha=alpha)
        full.append(time.perf_counter() - t0)
    return {"size": size, "moves": moves, "threads": torch.get_num_threads(),
            "seconds_per_move": statistics.median(times), "full_stylize_seconds": statistics.median(full)}


def run_slider(out="results/bench", size=256):
    """The slider row alone (`python -m rastlib bench --slider`): writes slider.json and slider.md to `out`."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    r = {"machine": machine(), **slider_latency(size)}
    (out / "slider.json").write_text(json.dumps(r, indent=1))
    (out / "slider.md").write_text(
        f"# Slider latency ({r['machine']['cpu']}, {r['threads']} torch threads, torch {r['machine']['torch']}, "
        f"{r['machine']['date']})\n\n| size | per slider move (blend + decode + PNG) | full stylisation per move "
        f"(before) | target |\n|---|---|---|---|\n| {r['size']}² | {r['seconds_per_move']:.3f} s | "
        f"{r['full_stylize_seconds']:.3f} s | ≤ 0.3 s |\n")
    return r


def run_training(out="results/bench", quick=False, steps=3, emulated_bf16=False):
    """The CPU step probe (`rastlib.train.probe`) as a benchmark (`python -m rastlib bench --training`): every
    candidate setting of a `rast_wacv` step at batch 4, 128², from the demo checkpoint, side by side in one run,
    and the stylisation at 512² in fp32 and in bf16 (`load_model(precision=...)`; "auto" picks bf16 where the
    CPU has a bf16 unit); writes training_cpu.json and training_cpu.md to `out`. `quick` (the tests): 64².
    On a CPU without a bf16 unit bf16 is emulated, ~10× slower than fp32 (results/bench/emulated_bf16_profile.md),
    so it is timed there only with `emulated_bf16` (the table's note says so)."""
    from ..train.checkpoint import DEMO_CHECKPOINT, load_model, resolve_precision
    from ..train.probe import CANDIDATES, cpu_flags, default_candidates, probe, write
    with_bf16 = bool(cpu_flags()["bf16_units"]) or emulated_bf16
    size = 64 if quick else 128
    with tempfile.TemporaryDirectory(prefix="rastlib-bench-") as tmp:
        cfg = make_config("demo", out_dir=tmp, crop_size=size, load_size=size, batch_size=4, device="cpu",
                          loss_preset="rast_wacv", init_from=str(DEMO_CHECKPOINT))
        table = probe(cfg, steps=1 if quick else steps, candidates=CANDIDATES if with_bf16 else default_candidates())
    inference = 64 if quick else 512
    c, s = _pair(inference, "cpu")
    seconds = {p: round(stylise_seconds(load_model(precision=p), c, s, 1 if quick else 3), 3)
               for p in (("fp32", "bf16") if with_bf16 else ("fp32",))}
    table["stylisation"] = {"size": inference, "seconds": seconds, "default": resolve_precision("auto")}
    table["machine"] = machine()
    write(table, out, "training_cpu")
    return table


def attention_matrix_gb(size):
    """GB of one float32 N×N attention matrix at relu4_1 (N = (size/8)²) for a size² image."""
    return (size // 8) ** 4 * 4 / 1e9


def peak_memory(sizes=(512, 1024, 2048), plain_limit_gb=8.0, checkpoint=None):
    """Peak resident memory (GB) of a fresh process that loads the model and stylises one size² pair, fused and
    plain. A plain run whose attention matrix alone exceeds `plain_limit_gb` is not started (it is reported)."""
    rows = []
    for size in sizes:
        for fused in (True, False):
            row = {"size": size, "attention": "fused" if fused else "plain"}
            if not fused and attention_matrix_gb(size) > plain_limit_gb:
                row.update(peak_gb=None, note=f"not run: the N×N attention matrix alone needs "
                                              f"{attention_matrix_gb(size):.1f} GB (float32)")
            else:
                row.update(_measure_in_subprocess(size, fused, checkpoint))
            rows.append(row)
    return rows


def _measure_in_subprocess(size, fused, checkpoint):
    code = ("import sys, json; from rastlib.eval.bench import _peak_child; "
            f"print(json.dumps(_peak_child({size}, {fused}, {checkpoint!r})))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        return {"peak_gb": None, "note": f"failed: {done.stderr.strip().splitlines()[-1:]}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _peak_child(size, fused, checkpoint):
    model = bench_model(fused, checkpoint)
    c, s = _pair(size, "cpu")
    loaded = _max_rss_gb()
    t0 = time.perf_counter()
    with torch.no_grad():
        model.T(c, s)
    return {"peak_gb": _max_rss_gb(), "model_and_inputs_gb": loaded, "seconds": time.perf_counter() - t0}


def _max_rss_gb():
    """Peak resident memory of this process: VmHWM (Linux; ru_maxrss would include the parent's peak, which
    survives fork and exec), else ru_maxrss."""
    try:
        line = next(x for x in open("/proc/self/status") if x.startswith("VmHWM:"))
        return int(line.split()[1]) * 1024 / 1e9
    except (OSError, StopIteration):
        scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB elsewhere
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 1e9


def step_flops(trainer, contents, styles):
    """FLOPs of one training step (forward and backward, D and G), counted by torch's FlopCounterMode."""
    from torch.utils.flop_counter import FlopCounterMode
    counter = FlopCounterMode(display=False)
    with counter:
        trainer.train_step(contents, styles)
    return counter.get_total_flops()


def gpu_step(size=256, batch=8, steps=10):
    """bf16 training step on the GPU: ms/step, images/s (stylised outputs I_o per second) and MFU."""
    trainer = _trainer(size, batch, "cuda", amp="bf16")
    contents, styles = next(trainer.batches())
    flops = step_flops(trainer, contents, styles)
    for _ in range(2):
        trainer.train_step(contents, styles)
    _sync("cuda")
    t0 = time.perf_counter()
    for _ in range(steps):
        trainer.train_step(contents, styles)
    _sync("cuda")
    seconds = (time.perf_counter() - t0) / steps
    name = torch.cuda.get_device_name()
    peak = next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), None)
    achieved = flops / seconds / 1e12
    return {"size": size, "batch": batch, "ms_per_step": 1000 * seconds, "images_per_s": batch / seconds,
            "tflops_per_step": flops / 1e12, "achieved_tflops": achieved, "peak_bf16_tflops": peak,
            "mfu": achieved / peak if peak else None, "gpu": name}


def run(out="results/bench", quick=False, gpu_only=False):
    """All benchmarks; writes bench.json and bench.md to `out`. `quick` (the tests) uses tiny sizes; `gpu_only`
    (the device script, about a minute) runs the training steps on the GPU only: the kit against the official
    form in fp32 (as the official code trains), 256², batch 8, then the kit's bf16 step with its MFU."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if gpu_only:
        report = {"machine": machine(), "quick": False,
                  "training_step": training_step(size=256, batch=8, steps=10, device="cuda")}
    elif quick:
        report = {"machine": machine(), "quick": True,
                  "training_step": training_step(size=64, batch=4, steps=1),
                  "latency": stylisation_latency(sizes=(64,), repeats=1),
                  "memory": peak_memory(sizes=(64,), plain_limit_gb=1e-6)}
    else:
        report = {"machine": machine(), "quick": False, "training_step": training_step(),
                  "latency": stylisation_latency(), "memory": peak_memory()}
    if torch.cuda.is_available():
        report["gpu"] = gpu_step(size=64 if quick else 256, batch=4 if quick else 8, steps=2 if quick else 10)
    (out / "bench.json").write_text(json.dumps(report, indent=1))
    (out / "bench.md").write_text(markdown(report))
    return report


def markdown(report):
    m, t = report["machine"], report["training_step"]
    lines = [f"# Benchmarks ({'quick' if report['quick'] else 'full'})", "",
             f"Machine: {m['cpu']}, {m['threads']} torch threads, GPU: {m['gpu'] or 'none'}; torch {m['torch']}, "
             f"Python {m['python']}; {m['date']}. Command: `python -m rastlib bench`.", "",
             f"## Training step ({t['device']}, {t['size']}², batch {t['batch']}, `rast_wacv` losses, median of "
             f"{t['steps']})", "",
             "| step | ms/step | VGG encoder passes | speed-up |", "|---|---|---|---|",
             f"| official form (`Net.forward`: each image encoded once, plain attention) | {t['official_ms']:.0f} | "
             f"{t['official_encoder_passes']} | 1.00× |",
             f"| kit (each image encoded once, fused attention) | {t['kit_ms']:.0f} | {t['kit_encoder_passes']} | "
             f"{t['speedup']:.2f}× |", "",
             f"Both steps start from the same weights on the same batch; every loss term agrees to rel. "
             f"{t['losses_agree_rel']:g} (total {t['total_loss']:.4g}).", ""]
    if t.get("tflops_per_step"):
        lines += [f"fp32 on the GPU: kit {1000 / t['kit_ms']:.2f} steps/s, official form {1000 / t['official_ms']:.2f} "
                  f"steps/s; {t['tflops_per_step']:.2f} TFLOP per step, kit {t['kit_achieved_tflops']:.1f} TFLOP/s.",
                  ""]
    if "latency" in report:
        lines += _cpu_sections(report)
    if "gpu" in report:
        g = report["gpu"]
        mfu = f"{100 * g['mfu']:.1f} %" if g["mfu"] is not None else "n/a (unknown peak)"
        lines += ["", f"## GPU training step ({g['gpu']}, bf16, {g['size']}², batch {g['batch']})", "",
                  f"{g['ms_per_step']:.1f} ms/step, {g['images_per_s']:.1f} images/s, "
                  f"{g['tflops_per_step']:.2f} TFLOP per step, {g['achieved_tflops']:.1f} TFLOP/s, MFU {mfu}."]
    return "\n".join(lines) + "\n"


def _cpu_sections(report):
    lines = ["## Stylisation latency (`RAST.T`, one pair, CPU)", "",
             "| size | kit: fused attention, channels_last (s) | official form: plain attention (s) |",
             "|---|---|---|"]
    by = {(r["size"], r["attention"]): r for r in report["latency"]}
    for size in sorted({r["size"] for r in report["latency"]}):
        lines.append(f"| {size}² | {by[size, 'fused']['seconds']:.2f} | {by[size, 'plain']['seconds']:.2f} |")
    lines += ["", "## Peak memory of one stylisation (a fresh process: model, inputs and the forward pass)", "",
              "| size | kit: fused attention (GB) | official form: plain attention (GB) |", "|---|---|---|"]
    by = {(r["size"], r["attention"]): r for r in report["memory"]}
    for size in sorted({r["size"] for r in report["memory"]}):
        cells = [f"{by[size, a]['peak_gb']:.2f}" if by[size, a]["peak_gb"] is not None else by[size, a]["note"]
                 for a in ("fused", "plain")]
        lines.append(f"| {size}² | {cells[0]} | {cells[1]} |")
    return lines
