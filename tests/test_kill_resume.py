"""Kill and resume: `python -m rastlib train` killed with SIGKILL (at a random step, and in the middle of a
checkpoint write) and restarted logs exactly the losses of an uninterrupted run; no checkpoint is ever torn."""
import os
import random
import signal
import subprocess
import sys
import time

import torch

from rastlib.train import read_log
from rastlib.train.checkpoint import load_checkpoint

STEPS = 5
# SANet's table (no discriminators or heads: the test takes half the time); test_train's resume test covers the
# discriminators' and heads' state.
ARGS = ["train", "--profile", "smoke", "--preset", "sanet", "--iterations", str(STEPS), "--set", "save_every=1"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}  # the same summation order in every run: bit-equal losses

# Runs the CLI with torch.save patched: the `n`-th checkpoint write stops half-way (the process is then killed).
TORN_WRITE = """
import io, pathlib, sys, time, torch
from rastlib.app.cli import main
marker, n = pathlib.Path(sys.argv[1]), int(sys.argv[2])
real_save, calls = torch.save, []
def torn_save(obj, f, *args, **kwargs):
    calls.append(1)
    if len(calls) < n:
        return real_save(obj, f, *args, **kwargs)
    buf = io.BytesIO()
    real_save(obj, buf)
    f.write(buf.getvalue()[: len(buf.getvalue()) // 2])
    f.flush()
    marker.write_text("half written")
    time.sleep(600)
torch.save = torn_save
main(sys.argv[3:])
"""


def start(argv):
    return subprocess.Popen([sys.executable, *argv], env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def wait_for(condition, proc, timeout=300):
    end = time.time() + timeout
    while not condition():
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        assert time.time() < end, "timed out"
        time.sleep(0.05)


def saved_step(path):
    """The step of the checkpoint at `path` (0 if none yet); load_checkpoint refuses a torn file."""
    return load_checkpoint(path)["step"] if path.exists() else 0


def log_lines(path):
    return len(read_log(path)) if path.exists() else 0


def test_sigkill_at_a_random_step_and_during_a_checkpoint_write(tmp_path):
    reference = subprocess.run([sys.executable, "-m", "rastlib", *ARGS, "--out", str(tmp_path / "ref")], env=ENV,
                               capture_output=True, text=True, timeout=600)
    assert reference.returncode == 0, reference.stderr[-2000:]
    run = tmp_path / "run"
    ckpt, log = run / "checkpoint.pt", run / "log.jsonl"

    # 1. SIGKILL right after a random step has been logged (its checkpoint may be complete, or being written)
    kill_after = random.Random().randint(1, STEPS - 2)
    proc = start(["-m", "rastlib", *ARGS, "--out", str(run)])
    wait_for(lambda: log_lines(log) >= kill_after, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = saved_step(ckpt)

    # 2. SIGKILL half-way through the next checkpoint write: the previous checkpoint stays whole
    marker = tmp_path / "marker"
    script = tmp_path / "torn_write.py"
    script.write_text(TORN_WRITE)
    proc = start([str(script), str(marker), "1", *ARGS, "--out", str(run)])
    wait_for(marker.exists, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert list(run.glob(".checkpoint.pt.*.tmp")), "the kill should have left a half-written temporary file"
    assert saved_step(ckpt) == done_before

    # 3. resume to the end: the log equals the uninterrupted run's, step by step, and the stale file is gone
    resumed = subprocess.run([sys.executable, "-m", "rastlib", *ARGS, "--out", str(run)], env=ENV,
                             capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    strip = lambda records: [{k: v for k, v in r.items() if k != "seconds"} for r in records]  # noqa: E731
    assert strip(read_log(log)) == strip(read_log(tmp_path / "ref" / "log.jsonl"))
    assert not list(run.glob("*.tmp"))
    a, b = (load_checkpoint(p) for p in (ckpt, tmp_path / "ref" / "checkpoint.pt"))
    assert a["step"] == b["step"] == STEPS
    for part in a["generator"]:
        for key, value in a["generator"][part].items():
            assert torch.equal(value, b["generator"][part][key]), (part, key)


def test_sigterm_and_ctrl_c_stop_after_the_step_under_way_and_save_it(tmp_path):
    """SIGTERM (a machine shutting down) or Ctrl-C ends the run after the step under way, saved although it is not
    a `save_every` step, with one line and status 130; the same command resumes from it."""
    run = tmp_path / "run"
    ckpt, log = run / "checkpoint.pt", run / "log.jsonl"
    argv = ["-m", "rastlib", "train", "--profile", "smoke", "--preset", "sanet", "--iterations", "50",
            "--set", "save_every=100", "--out", str(run)]
    stopped_at = 0
    for sig, after in ((signal.SIGTERM, 2), (signal.SIGINT, 1)):
        proc = start(argv)
        wait_for(lambda: log_lines(log) >= stopped_at + after, proc)
        proc.send_signal(sig)
        assert proc.wait(timeout=300) == 130
        err = proc.stderr.read().decode()
        assert err.strip().splitlines()[-1].startswith(f"stopped: {sig.name}: stopped after step"), err[-2000:]
        assert "Traceback" not in err
        assert saved_step(ckpt) == log_lines(log) > stopped_at  # the last logged step is the saved one
        stopped_at = saved_step(ckpt)
