"""Commit what a device call (`scripts/device_train.sh`) brought back: the checkpoint becomes the demo checkpoint,
and its phases' loss curves, diagnoses, probe and log go into the record folder beside the CPU phases'.

    python scripts/import_device_run.py /work/.device/1 [/work/.device/2 …]   # in the order the calls ran

Each folder is one call's $OUT; the last folder's checkpoint (whose record holds every earlier phase) is
committed. Afterwards run `python -m rastlib diagnose --out results/demo` here: the committed numbers are
measured here (the device's second network is an fp16 copy of this machine's).
"""
import argparse
import json
import shutil
from pathlib import Path

from rastlib.checkpoint import DEMO_CHECKPOINT, load_checkpoint
from rastlib.train import read_log
from rastlib.viz import loss_curves

RECORD = Path("results/demo_checkpoint")
BENCH = Path("results/bench/gpu")


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


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folders", nargs="+", help="the device calls' $OUT folders, oldest first")
    args = ap.parse_args()
    RECORD.mkdir(parents=True, exist_ok=True)
    for folder in args.folders:
        record = import_run(folder)
    (RECORD / "record.json").write_text(json.dumps(record, indent=2))
    shutil.copy(Path(args.folders[-1]) / "rast_device_fp16.pt", DEMO_CHECKPOINT)
    if (Path(args.folders[-1]) / "bench.json").is_file():
        BENCH.mkdir(parents=True, exist_ok=True)
        for name in ("bench.json", "bench.md"):
            shutil.copy(Path(args.folders[-1]) / name, BENCH / name)
    print(f"wrote {DEMO_CHECKPOINT} and {RECORD}/ ({record['total_steps']} steps: {record['compute_hours']} h)")


if __name__ == "__main__":
    main()
