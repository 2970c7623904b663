"""The process's memory allocator: glibc's, or jemalloc / tcmalloc loaded with LD_PRELOAD.

A CPU training step frees and reallocates hundreds of megabytes of activations. glibc serves every block over
its mmap threshold (≤ 32 MiB) with a fresh mmap and returns it with munmap, so each step page-faults its
activations in again (tens of thousands of faults a second, the kernel zeroing every page). tcmalloc keeps
freed memory for reuse; jemalloc, untuned, returns it even more eagerly than glibc. An allocator must be chosen
before the process starts: `reexec` restarts the current command under the one asked for. Which one pays is
measured, not assumed: `python -m rastlib bench --allocators` (results/bench/allocator_cpu.md).
"""
import ctypes.util
import os
import sys

from ..errors import ConfigError

# allocator name -> the library name `ctypes.util.find_library` looks for (Debian: libjemalloc2,
# libtcmalloc-minimal4)
LIBRARIES = {"jemalloc": "jemalloc", "tcmalloc": "tcmalloc_minimal"}
CHOICES = ("glibc", *LIBRARIES)
INSTALL = "apt install libtcmalloc-minimal4 libjemalloc2 (Debian/Ubuntu) or conda install gperftools jemalloc"


def library(name):
    """The shared library of allocator `name` (a soname LD_PRELOAD finds), or None if it is not installed."""
    return ctypes.util.find_library(LIBRARIES[name]) if name in LIBRARIES else None


def available():
    """The allocators this machine can run: glibc and each installed one."""
    return ["glibc"] + [name for name in LIBRARIES if library(name)]


def loaded():
    """The allocator this process runs under (read from its memory map)."""
    try:
        maps = open("/proc/self/maps").read()
    except OSError:
        return "unknown"
    return next((name for name, lib in LIBRARIES.items() if f"lib{lib}." in maps), "glibc")


def environ(name, env=None):
    """A copy of `env` (default os.environ) whose LD_PRELOAD loads allocator `name` (glibc: none of ours)."""
    if name not in CHOICES:
        raise ConfigError(f"allocator must be one of {CHOICES}, got {name!r}")
    env = dict(os.environ if env is None else env)
    ours = {library(n) for n in LIBRARIES} - {None}
    kept = [p for p in env.get("LD_PRELOAD", "").split() if p not in ours]
    if name != "glibc":
        lib = library(name)
        if lib is None:
            raise ConfigError(f"allocator {name} is not installed here ({INSTALL})")
        kept.insert(0, lib)
    env.pop("LD_PRELOAD", None)
    if kept:
        env["LD_PRELOAD"] = " ".join(kept)
    return env


def release_free_memory():
    """Hand the memory this process has freed back to the system. tcmalloc keeps what a process frees for
    reuse: after a diagnosis inside a training run (other sizes than the step's) a run held 17.6 GB, not the 6.8
    of its steps, and was killed for memory when a second job started. glibc: `malloc_trim`. Returns whether an
    allocator did it."""
    process = ctypes.CDLL(None)
    for symbol in ("MallocExtension_ReleaseFreeMemory", "malloc_trim"):
        release = getattr(process, symbol, None)
        if release is not None:
            release(*([0] if symbol == "malloc_trim" else []))
            return True
    return False


def resolve(name):
    """`auto`: tcmalloc where it is installed (the fastest measured, results/bench/allocator_cpu.md), else glibc;
    any other name is checked and returned."""
    if name == "auto":
        return "tcmalloc" if library("tcmalloc") else "glibc"
    environ(name)  # refuses an unknown or missing allocator
    return name


def reexec(name, log=print):
    """Run this command again under allocator `name` unless it already runs under it (returns then). Call before
    any work: the process is replaced. Tried once: a process started by `reexec` that still runs under another
    allocator (the loader refused the library) goes on under that one, and says so."""
    name = resolve(name)
    restarted = os.environ.pop(_REEXEC, None)  # not passed on to this process's own children
    if name == loaded():
        return
    if restarted:
        log(f"allocator: {name} did not load (LD_PRELOAD={os.environ.get('LD_PRELOAD', '')!r}); "
            f"going on with {loaded()}")
        return
    sys.stdout.flush()
    os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], {**environ(name), _REEXEC: "1"})


_REEXEC = "RASTLIB_ALLOCATOR_REEXEC"
