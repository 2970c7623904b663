"""The memory allocator (rastlib.train.allocator): LD_PRELOAD built right, a process restarted under the one asked
for (once), and `bench --allocators` measuring each installed one in its own process."""
import json
import subprocess
import sys

import pytest

from rastlib.errors import ConfigError
from rastlib.eval import allocator_bench
from rastlib.train import allocator

TCMALLOC = allocator.library("tcmalloc")
needs_tcmalloc = pytest.mark.skipif(not TCMALLOC, reason="tcmalloc not installed (apt install libtcmalloc-minimal4)")


def test_environ_preloads_the_asked_allocator_and_keeps_other_preloads(monkeypatch):
    monkeypatch.setattr(allocator, "library", lambda name: {"jemalloc": "libjemalloc.so.2"}.get(name))
    env = allocator.environ("jemalloc", {"LD_PRELOAD": "libother.so", "X": "1"})
    assert env["LD_PRELOAD"] == "libjemalloc.so.2 libother.so" and env["X"] == "1"
    assert allocator.environ("glibc", env)["LD_PRELOAD"] == "libother.so"  # ours removed, the user's kept
    assert "LD_PRELOAD" not in allocator.environ("glibc", {"LD_PRELOAD": "libjemalloc.so.2"})
    with pytest.raises(ConfigError, match="tcmalloc is not installed here.*apt install"):
        allocator.environ("tcmalloc", {})
    with pytest.raises(ConfigError, match="allocator must be one of"):
        allocator.environ("hoard", {})
    assert allocator.resolve("auto") == "glibc" and allocator.available() == ["glibc", "jemalloc"]
    monkeypatch.setattr(allocator, "library", lambda name: "libtcmalloc_minimal.so.4" if name == "tcmalloc" else None)
    assert allocator.resolve("auto") == "tcmalloc"


def _run(code, env):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)


@needs_tcmalloc
def test_reexec_restarts_the_process_under_the_allocator_once():
    code = ("import sys; from rastlib.train import allocator; print('start', allocator.loaded(), flush=True); "
            "allocator.reexec('tcmalloc'); print('running', allocator.loaded(), sys.argv[1:])")
    env = allocator.environ("glibc")
    done = subprocess.run([sys.executable, "-c", code, "a1"], capture_output=True, text=True, env=env, timeout=120)
    assert done.stdout.splitlines() == ["start glibc", "start tcmalloc", "running tcmalloc ['a1']"], done.stderr
    # a restarted process whose library did not load goes on under glibc instead of restarting for ever
    done = _run(code, {**env, "RASTLIB_ALLOCATOR_REEXEC": "1"})
    assert "did not load" in done.stdout and done.stdout.splitlines()[-1] == "running glibc []", done.stderr


def test_bench_allocators_measures_each_installed_one_in_its_own_process(tmp_path):
    report = allocator_bench.run_allocators(tmp_path, size=64, batch=2, steps=1, rounds=2)
    rows = {r["allocator"]: r for r in report["rows"]}
    assert list(rows) == allocator.available(), report
    for name, row in rows.items():
        assert "seconds_per_step" in row, row  # else a child failed: its note has the last line of its stderr
        assert row["loaded"] == [name, name], row  # each child really ran under it
        assert row["seconds_per_step"] > 0 and row["page_faults_per_step"] >= 0 and row["sys_seconds_per_step"] >= 0
        assert len(row["round_medians"]) == 2
    assert rows["glibc"]["speedup_vs_glibc"] == 1.0 and report["fastest"] in rows
    assert json.loads((tmp_path / "allocator_cpu.json").read_text())["rows"] == report["rows"]
    table = (tmp_path / "allocator_cpu.md").read_text()
    glibc_row = next(line for line in table.splitlines() if line.startswith("| glibc"))  # " **(fastest)**" or not
    assert glibc_row.split(" | ")[1] == "-" and "(fastest)" in table
    assert (f"Not installed here: {', '.join(report['missing'])}." in table) == bool(report["missing"])


@needs_tcmalloc
def test_release_free_memory_hands_back_what_tcmalloc_keeps():
    """A run's diagnosis frees GBs that tcmalloc would keep (a training run held 17.6 GB and was killed for
    memory): after `release_free_memory` the process's resident memory is back down."""
    code = ("import torch; from rastlib.train import allocator\n"
            "rss = lambda: int(next(l for l in open('/proc/self/status') if l.startswith('VmRSS')).split()[1]) >> 10\n"
            "xs = [torch.ones(2 ** 22) for _ in range(64)]; del xs; kept = rss()\n"  # 64 × 16 MiB, then freed
            "assert allocator.release_free_memory(); print(allocator.loaded(), kept, rss())")
    done = _run(code, allocator.environ("tcmalloc"))
    name, kept, released = done.stdout.split()
    assert name == "tcmalloc" and int(kept) - int(released) > 800, (done.stdout, done.stderr)  # MiB
