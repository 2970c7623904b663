"""Judge what device calls (`scripts/device_train.sh`) brought back, and commit it only if it is better.

    python scripts/import_device_run.py OUT1 [OUT2 …]   # the calls' $OUT folders, in the order they ran

Each folder is one call's $OUT; the last folder's checkpoint holds every earlier phase in its record. It is
diagnosed here as the committed one was (`results/demo/diagnostics.json`: the same evaluation split and size, and
both second networks, where the device had only the AlexNet), then judged by `rastlib.eval.bar.adoption`, with each
measure's noise taken from the record's rast-phase diagnoses (`rast_noise`).

- Adopted: it becomes the demo checkpoint (`checkpoints/rast_demo_fp16.pt`), its diagnosis goes to results/demo/,
  and the calls' loss curves, diagnoses, probe and log go into results/demo_checkpoint/ beside the earlier
  phases', with `judgement_<phase>_<part>.md`. The commands that bring the rest of the kit up to date are printed.
- Not adopted: all of that goes into results/demo_checkpoint/<phase>_<part>_not_adopted/ (its README.md is the
  judgement, its sheet half size), and the model stays as it was.
Either way the GPU benchmark (bench.json/md), if the call ran it, goes to results/bench/gpu/.
"""
import argparse
import json
import shutil
import tempfile
from pathlib import Path

from PIL import Image

from rastlib.app.demo import run_diagnose
from rastlib.eval.bar import adoption, rast_noise
from rastlib.eval.viz import loss_curves, save_light_png
from rastlib.paths import portable
from rastlib.train import read_log
from rastlib.train.checkpoint import DEMO_CHECKPOINT, REPO_ROOT, load_checkpoint

RECORD = REPO_ROOT / "results" / "demo_checkpoint"
COMMITTED = REPO_ROOT / "results" / "demo"
BENCH = REPO_ROOT / "results" / "bench" / "gpu"
AFTER_ADOPTION = """\
python -m rastlib demo --out results/demo                      # the demo grid and metrics of the new checkpoint
python scripts/make_gallery.py                                 # the README's gallery
python scripts/build_notebooks.py --references 01_baseline     # notebook 01's nbval reference
nice -n 19 python scripts/run_grid.py --profile demo > runs/grid.log 2>&1 &   # every grid run is stale: ~3 h
make notebooks                                                 # after the grid: notebooks 01-06, results/summary.md
# then the docs' numbers, and the gradient balance at the new weights (docs/method.md, "Weights of the seed's new
# terms")"""


def import_run(folder, record_dir=RECORD):
    """Write the loss curves, diagnoses and log of one call's phases into `record_dir`; returns its record."""
    folder = Path(folder)
    record = load_checkpoint(folder / "rast_device_fp16.pt")["record"]
    log = read_log(folder / "train_log.jsonl")
    report = json.loads((folder / "diagnostics.json").read_text())
    names = list(dict.fromkeys(r["phase"] for r in log))  # this call's phases, in order
    entries = record["phases"][-len(names):]
    if [e["name"] for e in entries] != names:
        raise SystemExit(f"{folder}: the record's last phases {[e['name'] for e in entries]} are not the log's "
                         f"{names}")
    for e in entries:
        tag = f"{e['name']}_{e['part']}"
        loss_curves([r for r in log if r["phase"] == e["name"]], record_dir / f"loss_{tag}.png")
        diags = [d for d in report["during_training"] if d["phase"] == e["name"]]
        (record_dir / f"diagnostics_{tag}.jsonl").write_text("".join(json.dumps(d) + "\n" for d in diags))
    last = f"{entries[-1]['name']}_{entries[-1]['part']}"
    (record_dir / f"device_call_{last}.json").write_text(json.dumps(
        {"probe": report["probe"], "final": report.get("final"), "phases": names}, indent=1))
    if (folder / "run.log").is_file():
        shutil.copy(folder / "run.log", record_dir / f"device_call_{last}.log")
    return record


def _new_folder(path):
    """`path`, or `path_2`, `path_3`, … if taken: two calls from the same checkpoint (a second one with other
    settings) have the same phase part, and each keeps its record."""
    n, candidate = 2, path
    while candidate.exists():
        candidate, n = path.with_name(f"{path.name}_{n}"), n + 1
    return candidate


def half_size_png(src, dst):
    """A half-size copy of a sheet (~0.3 MB instead of ~0.8): what is kept of runs that were not adopted, since
    every committed MiB also travels with each device call (64 MiB in all)."""
    save_light_png(Image.open(src).convert("RGB").reduce(2), dst)


def judgement_markdown(tag, adopted, reason, rows, committed, candidate):
    """The judgement's README: both diagnoses of the bar's measures, the noise, the rule and the verdict."""
    lines = [f"# Run {tag}: {'adopted' if adopted else 'not adopted'}", "",
             f"Both diagnosed here by `python -m rastlib diagnose` ({candidate['n_photos']} evaluation photos × "
             f"{candidate['n_paintings']} paintings, {candidate['size']}, torch {candidate['torch']}); noise: the "
             "median change of the measure between consecutive rast-phase diagnoses of the record "
             "(`rastlib.eval.bar.rast_noise`).", "",
             f"| measure | bar | committed (step {committed['step']}) | this run (step {candidate['step']}) | change "
             "| noise | move |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['name']} | {r['bar']} | {r['committed']:.3f} | {r['candidate']:.3f} | "
                     f"{r['change']:+.3f} | {r['noise']:.3f} | {r['move']} |")
    lines += ["", f"**Rule** (`rastlib.eval.bar.adoption`): {' '.join(adoption.__doc__.split('Returns')[0].split())}", "",
              f"**Verdict: {'adopted' if adopted else 'not adopted'}**: {reason}.", ""]
    return "\n".join(lines)


def judge(folders, committed_dir=COMMITTED, record_dir=RECORD, checkpoint_to=DEMO_CHECKPOINT, bench_dir=BENCH,
          size=256, device="cpu"):
    """Diagnose the last call's checkpoint here, judge it against the committed diagnosis, and import it
    (adopted) or set it aside (not adopted), as the module docstring says. Returns whether it was adopted."""
    folders = [Path(f) for f in folders]
    candidate_ckpt = folders[-1] / "rast_device_fp16.pt"
    committed = json.loads((Path(committed_dir) / "diagnostics.json").read_text())
    if committed["size"] != f"{size}×{size} centre crop":
        raise SystemExit(f"the committed diagnosis is at {committed['size']}, not {size} px: pass --size, or "
                         "rediagnose the committed checkpoint first "
                         f"(python -m rastlib diagnose --out {committed_dir})")
    noise = rast_noise(record_dir)
    with tempfile.TemporaryDirectory() as here:
        candidate = run_diagnose(here, candidate_ckpt, size, device, REPO_ROOT / committed["photos"],
                                 REPO_ROOT / committed["paintings"])
        if (candidate["n_photos"], candidate["n_paintings"]) != (committed["n_photos"], committed["n_paintings"]):
            raise SystemExit("the evaluation set changed since the committed diagnosis: rediagnose the committed "
                             f"checkpoint first (python -m rastlib diagnose --out {committed_dir})")
        adopted, reason, rows = adoption(committed["diagnostics"], candidate["diagnostics"], noise)
        record = load_checkpoint(candidate_ckpt)["record"]
        last = record["phases"][-1]
        tag = f"{last['name']}_{last['part']}"
        text = judgement_markdown(tag, adopted, reason, rows, committed, candidate)
        dest = Path(record_dir) if adopted else _new_folder(Path(record_dir) / f"{tag}_not_adopted")
        dest.mkdir(parents=True, exist_ok=True)
        for folder in folders:
            import_run(folder, dest)
        (dest / "record.json").write_text(json.dumps(record, indent=2))
        if adopted:
            shutil.copy(candidate_ckpt, checkpoint_to)
            candidate["checkpoint"] = portable(str(Path(checkpoint_to).resolve()))
            (Path(here) / "diagnostics.json").write_text(json.dumps(candidate, indent=2))
            for name in ("diagnostics.json", "diagnostics.md", "sheet.png"):
                shutil.copy(Path(here) / name, Path(committed_dir) / name)
            (dest / f"judgement_{tag}.md").write_text(text)
        else:
            for name in ("diagnostics.json", "diagnostics.md"):
                shutil.copy(Path(here) / name, dest / name.replace(".", "_here.", 1))
            half_size_png(Path(here) / "sheet.png", dest / "sheet_here.png")
            (dest / "README.md").write_text(text)
    benched = [f for f in folders if (f / "bench.json").is_file()]  # a second call skips the benchmark
    if benched:  # the GPU's speed, whatever the model's quality
        Path(bench_dir).mkdir(parents=True, exist_ok=True)
        for name in ("bench.json", "bench.md"):
            shutil.copy(benched[-1] / name, Path(bench_dir) / name)
    print(text)
    if adopted:
        print(f"wrote {checkpoint_to}, {committed_dir}/diagnostics.* and {record_dir}/ ({record['total_steps']} "
              f"steps). Now bring the kit up to date:\n{AFTER_ADOPTION}")
    else:
        print(f"kept the committed checkpoint; the run's record is in {dest}/")
    return adopted


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folders", nargs="+", help="the device calls' $OUT folders, oldest first")
    ap.add_argument("--size", type=int, default=256, help="diagnosis size: the committed diagnosis's (256)")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    judge(args.folders, size=args.size, device=args.device)


if __name__ == "__main__":
    main()
