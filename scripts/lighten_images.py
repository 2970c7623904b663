"""Re-save the committed PNGs, and the PNGs the committed notebooks embed, as light palette PNGs.

    python scripts/lighten_images.py          # rewrite in place; prints what each file saved

Every committed byte travels with each device call (64 MiB with the packed weights, checked by
tests/test_device_script.py). New figures are written light already (`rastlib.eval.viz.save_light_png`); this
brings older ones, and outputs embedded by earlier notebook runs, to the same palette. Idempotent: an image that
already has at most `PALETTE_COLOURS` colours is left as it is, and a file is rewritten only if it gets smaller.
"""
import base64
import io
import subprocess
import sys
from pathlib import Path

import nbformat
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from rastlib.eval.viz import PALETTE_COLOURS, save_light_png  # noqa: E402

# Inputs, not figures: scripts/validate_content_measure.py cuts this sheet into tiles and its record's numbers
# were measured on these very pixels.
KEEP = {"results/demo_checkpoint/collapsed_v0/sheet.png"}


def lighter(png):
    """The light re-encoding of PNG bytes `png`, or None if it would not be smaller or the image is light."""
    img = Image.open(io.BytesIO(png))
    colours = img.getcolors(PALETTE_COLOURS)  # None when there are more
    if img.mode == "P" and colours is not None:
        return None
    buf = io.BytesIO()
    save_light_png(img, buf)
    return buf.getvalue() if len(buf.getvalue()) < len(png) else None


def tracked(*patterns):
    out = subprocess.run(["git", "ls-files", "-z", *patterns], cwd=ROOT, capture_output=True, check=True).stdout
    return [ROOT / f for f in out.decode().split("\0") if f]


def main():
    saved = 0
    for path in tracked("results/*.png"):
        if str(path.relative_to(ROOT)) in KEEP:
            continue
        new = lighter(path.read_bytes())
        if new is not None:
            saved += path.stat().st_size - len(new)
            print(f"{path.relative_to(ROOT)}: {path.stat().st_size} -> {len(new)} bytes")
            path.write_bytes(new)
    for path in tracked("notebooks/*.ipynb"):  # the nbval references keep placeholders (build_notebooks.py)
        nb, changed = nbformat.read(path, as_version=4), False
        for cell in nb.cells:
            for out in cell.get("outputs", []):
                data = out.get("data", {})
                if "image/png" in data:
                    new = lighter(base64.b64decode(data["image/png"]))
                    if new is not None:
                        data["image/png"], changed = base64.b64encode(new).decode(), True
        if changed:
            before = path.stat().st_size
            nbformat.write(nb, path)
            saved += before - path.stat().st_size
            print(f"{path.relative_to(ROOT)}: {before} -> {path.stat().st_size} bytes")
    print(f"saved {saved / 2**20:.2f} MiB")


if __name__ == "__main__":
    main()
