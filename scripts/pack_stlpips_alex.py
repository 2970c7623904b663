"""Pack the second network of `diagnose` (ST-LPIPS's AlexNet) small enough to travel to a lent GPU:

    python scripts/pack_stlpips_alex.py .whl/stlpips     # what `make device-wheels` runs

The device tool carries at most 64 MiB, of which the working tree and the VGG19 wheel take ~56 MB, and the
installed stlpips-pytorch is 66 MB (its VGG16 weights alone 59 MB). So OUT gets the package's code with the
AlexNet weights alone, in fp16 (5 MB; loaded into fp32 layers, they move the measure by < 1e-3 relative,
tests/test_device_script.py), with the package's unused `from IPython import embed` dropped (the device has
no IPython; a stand-in IPython module would fool matplotlib into thinking it runs in IPython). Put OUT first on
PYTHONPATH (scripts/device_train.sh does).
"""
import argparse
import shutil
from pathlib import Path

import torch

WEIGHTS = Path("weights") / "vST0.0"
IPYTHON_IMPORT = "from IPython import embed"


def pack(out):
    import stlpips_pytorch
    src = Path(stlpips_pytorch.__file__).parent
    out = Path(out)
    shutil.rmtree(out, ignore_errors=True)
    dest = out / "stlpips_pytorch"
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pth"))
    state = torch.load(src / WEIGHTS / "alex_shift_tolerant.pth", map_location="cpu")
    torch.save({k: v.half() if v.is_floating_point() else v for k, v in state.items()},
               dest / WEIGHTS / "alex_shift_tolerant.pth")
    for path in dest.rglob("*.py"):  # an unused import of a package the device lacks
        text = path.read_text()
        if IPYTHON_IMPORT in text:
            path.write_text(text.replace(IPYTHON_IMPORT, f"# {IPYTHON_IMPORT}: unused, dropped by the pack"))
    return sum(p.stat().st_size for p in out.rglob("*") if p.is_file())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", help="folder to write (replaced)")
    size = pack(ap.parse_args().out)
    print(f"{size / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
