"""Benchmark of the memory allocator (`python -m rastlib bench --allocators`): the CPU arms' training step under
glibc's malloc and each installed jemalloc / tcmalloc (`rastlib.train.allocator`), each in fresh processes,
interleaved. Results: `<out>/allocator_cpu.json` and `.md`."""
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ..train.config import make_config
from .bench import _max_rss_gb, machine


# The terms of the CPU arms' step (results/demo_checkpoint: SANet's losses plus identity, the transitive content
# term and the multirestoration); for timing only which terms are on matters.
ARM_STEP_WEIGHTS = {"direct_content": 1.0, "direct_style": 3.0, "identity_pixel": 2000.0, "identity_feature": 4.0,
                    "content_transitive": 2.0, "multirestoration": 130.0}


def arm_amp():
    """The arms' precision on this CPU: bf16 where it has a bf16 unit, else fp32 (what the step probe picks there;
    emulated bf16 is many times slower: results/demo_checkpoint/lower_lr_256/cpu_probe_q256.md)."""
    from ..train.probe import cpu_flags
    return "bf16" if cpu_flags()["bf16_units"] else "none"


def report_precision(report):
    """"bf16" or "fp32": the precision a report of the arms' step (`arm_amp`) ran in (records from before its
    "amp" key ran bf16)."""
    return {"bf16": "bf16", "none": "fp32"}[report.get("amp", "bf16")]


def run_allocators(out="results/bench", size=256, batch=4, steps=3, rounds=2):
    """The CPU arms' training step (`arm_amp`, channels_last, `ARM_STEP_WEIGHTS`, from the demo checkpoint, the
    loader's batches with the arms' load sizes, the same in every process) in a fresh process under each
    installed allocator (`rastlib.train.allocator`), side by side in one run and interleaved over `rounds` (this
    machine's speed drifts by tens of percent within minutes): seconds per step (median of all timed steps, each
    process timing `steps` after one untimed step), page faults and the kernel's (sys) CPU seconds per step;
    writes allocator_cpu.json and .md to `out` (`python -m rastlib bench --allocators`)."""
    from ..train import allocator
    runs = {name: [] for name in allocator.available()}
    for _ in range(rounds):
        for name, done in runs.items():
            code = ("import json; from rastlib.eval.allocator_bench import _allocator_child; "
                    f"print(json.dumps(_allocator_child({size}, {batch}, {steps})))")
            child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=3600,
                                   env=allocator.environ(name))
            done.append(json.loads(child.stdout.strip().splitlines()[-1]) if child.returncode == 0 else
                        {"note": f"failed: {child.stderr.strip().splitlines()[-1:]}"})
    rows = []
    for name, done in runs.items():
        ok = [d for d in done if "seconds" in d]
        if len(ok) < len(done):
            rows.append({"allocator": name, "note": next(d["note"] for d in done if "note" in d)})
            continue
        per_step = lambda key: sum(sum(d[key]) for d in ok) / sum(len(d[key]) for d in ok)  # noqa: E731
        rows.append({"allocator": name, "library": allocator.library(name), "loaded": [d["loaded"] for d in ok],
                     "seconds_per_step": statistics.median([t for d in ok for t in d["seconds"]]),
                     "round_medians": [statistics.median(d["seconds"]) for d in ok],
                     "page_faults_per_step": per_step("page_faults"), "sys_seconds_per_step": per_step("sys"),
                     "peak_gb": max(d["peak_gb"] for d in ok)})
    base = next((r["seconds_per_step"] for r in rows if r["allocator"] == "glibc" and "seconds_per_step" in r), None)
    for r in rows:
        if base and "seconds_per_step" in r:
            r["speedup_vs_glibc"] = base / r["seconds_per_step"]
    timed = [r for r in rows if "seconds_per_step" in r]
    report = {"size": size, "batch": batch, "steps": steps, "rounds": rounds, "amp": arm_amp(),
              "weights": ARM_STEP_WEIGHTS,
              "rows": rows, "fastest": min(timed, key=lambda r: r["seconds_per_step"])["allocator"] if timed else None,
              "machine": machine(),
              "missing": [n for n in allocator.LIBRARIES if not allocator.library(n)]}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "allocator_cpu.json").write_text(json.dumps(report, indent=1))
    (out / "allocator_cpu.md").write_text(allocator_markdown(report))
    return report


def arm_trainer(out_dir, size, batch):
    """A `Trainer` for the CPU arms' step (`arm_amp`, channels_last, `ARM_STEP_WEIGHTS`, the arms' load sizes) from
    the demo checkpoint, writing into `out_dir`: what the CPU benchmarks time."""
    from ..train.checkpoint import DEMO_CHECKPOINT
    from ..train.loop import Trainer
    cfg = make_config("demo", out_dir=out_dir, crop_size=size, load_size=size, load_size_max=size * 5 // 4,
                      batch_size=batch, device="cpu", amp=arm_amp(), channels_last=True, loss_preset="sanet",
                      weights=ARM_STEP_WEIGHTS, init_from=str(DEMO_CHECKPOINT))
    return Trainer(cfg, resume=False)


def _allocator_child(size, batch, steps):
    """One process's measurement for `run_allocators`: per timed step its seconds, page faults and sys seconds."""
    from ..train import allocator
    with tempfile.TemporaryDirectory(prefix="rastlib-bench-") as tmp:
        trainer = arm_trainer(tmp, size, batch)
        batches = trainer.batches()  # the loader's own batches, as training sees them (not one batch again)
        trainer.train_step(*next(batches))
        got = {"seconds": [], "page_faults": [], "sys": []}
        for _, (contents, styles) in zip(range(steps), batches):
            r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
            trainer.train_step(contents, styles)
            got["seconds"].append(time.perf_counter() - t0)
            r1 = resource.getrusage(resource.RUSAGE_SELF)
            got["page_faults"].append(r1.ru_minflt - r0.ru_minflt)
            got["sys"].append(r1.ru_stime - r0.ru_stime)
    return {"loaded": allocator.loaded(), **got, "peak_gb": _max_rss_gb()}


def allocator_markdown(report):
    m = report["machine"]
    precision = report_precision(report)
    lines = [f"Training step of the CPU arms ({report['size']}², batch {report['batch']}, {precision}, channels_last, "
             f"SANet's losses with identity, transitive content and multirestoration; the loader's batches, images "
             f"loaded at {report['size']}-{report['size'] * 5 // 4} px) under each allocator: {report['rounds']} "
             f"fresh processes each, interleaved, each timing {report['steps']} steps after one untimed step; "
             f"{m['cpu']}, {m['threads']} threads, torch {m['torch']}, {m['date']}.", "",
             "| allocator | library | s / step (median) | medians by round | × glibc | page faults / step | "
             "sys s / step | peak GB |", "|---|---|---|---|---|---|---|---|"]
    for r in report["rows"]:
        if "seconds_per_step" not in r:
            lines.append(f"| {r['allocator']} | | {r['note']} | | | | | |")
            continue
        name = r["allocator"] + (" **(fastest)**" if r["allocator"] == report["fastest"] else "")
        lines.append(f"| {name} | {r['library'] or '-'} | {r['seconds_per_step']:.2f} | "
                     f"{' / '.join(f'{t:.2f}' for t in r['round_medians'])} | "
                     f"{r.get('speedup_vs_glibc', float('nan')):.2f} | {r['page_faults_per_step']:,.0f} | "
                     f"{r['sys_seconds_per_step']:.2f} | {r['peak_gb']:.1f} |")
    if report["missing"]:
        lines += ["", f"Not installed here: {', '.join(report['missing'])}."]
    return "\n".join(lines) + "\n"
