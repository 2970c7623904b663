"""Build the content folders of the data experiments (not committed): runs/data/content_detailed/ (the demo set's
training photos plus 108 detailed photos and crops: results/demo_checkpoint/data_detailed_paired/) and
runs/data/content_rebalanced/ (the same, less the zoom-3 crops of the smooth MATE and Plasma wallpapers: 241 files,
half of them detailed, smaller on disk than data/demo/content).

    python scripts/build_detailed_content.py

Sources (downloaded with `apt-get download`, unpacked with `dpkg-deb -x` into a temporary folder; nothing is
installed): palapeli-data's five puzzle photos (castle-maintenon by Eric Pouhier, GNU FDL; cincinnati-bridge by
Derek Jensen, citrus-fruits by the US Department of Agriculture and european-honey-bee by John Severns, public
domain; panther-chameleon-female by B. Navez and others, GNU FDL: the .desktop file of each), libjxl-testdata's
three 500 px wesaturate.com photos (CC0, its LICENSE.md), and seven scikit-image sample images (motorcycle_left,
camera, coins, brick, grass, gravel, clock_motion; scikit-image's data licences). Each picture is saved whole and,
where its short side allows crops of at least 256 px, as grid crops at zoom 2 and 3, each downscaled to at most
384 px (JPEG quality 86) as scripts/build_demo_set.py does; near-uniform crops (grey std < 0.04) are dropped.
"""
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import skimage.data
from PIL import Image, ImageOps

OUT = Path("runs/data/content_detailed")
ADDED = Path("runs/data/detailed_only")
REBALANCED = Path("runs/data/content_rebalanced")
SKIMAGE = ("motorcycle_left", "camera", "coins", "brick", "grass", "gravel", "clock_motion")


def unpack(packages, into):
    """Download `packages` (.deb) and unpack them under `into`; returns `into`."""
    subprocess.run(["apt-get", "download", *packages], cwd=into, check=True, capture_output=True)
    for deb in Path(into).glob("*.deb"):
        subprocess.run(["dpkg-deb", "-x", str(deb), str(into)], check=True)
    return Path(into)


def sources(root):
    """{name: image} of every source picture."""
    pal = root / "usr/share/palapeli/collection"
    wes = root / "usr/share/libjxl-testdata/external/wesaturate/500px"
    found = {f"palapeli_{p.stem.replace('-', '_')}": Image.open(p) for p in sorted(pal.glob("*.jpg"))}
    found.update({f"wesaturate_{p.stem.replace('_srgb8', '')}": Image.open(p) for p in sorted(wes.glob("*_srgb8.png"))})
    found.update({f"skimage_{n}": Image.open(Path(skimage.data.__file__).parent / f"{n}.png") for n in SKIMAGE})
    return found


def views(im):
    """The whole picture, then its grid crops at zoom 2 and 3 (side = short side / zoom, at least 256 px)."""
    yield im
    w, h = im.size
    short = min(w, h)
    for zoom in (2, 3):
        side = short // zoom
        if side < 256:
            continue
        for y in np.linspace(0, h - side, zoom + (h > w)).round().astype(int):
            for x in np.linspace(0, w - side, zoom + (w > h)).round().astype(int):
                crop = im.crop((x, y, x + side, y + side))
                if np.asarray(crop.convert("L"), dtype=np.float32).std() / 255 >= 0.04:
                    yield crop


def main():
    for d in (OUT, ADDED):
        shutil.rmtree(d, ignore_errors=True)
    shutil.copytree("data/demo/content", OUT)
    ADDED.mkdir(parents=True)
    n = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name, im in sources(unpack(["palapeli-data", "libjxl-testdata"], tmp)).items():
            for k, view in enumerate(views(ImageOps.exif_transpose(im).convert("RGB"))):
                view = view.copy()  # thumbnail() works in place, and the first view is the source itself
                view.thumbnail((384, 384), Image.LANCZOS)
                for d in (OUT, ADDED):
                    view.save(d / (f"{name}.jpg" if k == 0 else f"{name}_crop{k - 1}.jpg"), quality=86)
                n += 1
    rebalance(OUT, REBALANCED)
    print(f"{ADDED}: {n} files; {OUT}: {len(list(OUT.iterdir()))} files; "
          f"{REBALANCED}: {len(list(REBALANCED.iterdir()))} files")


def rebalance(src, out):
    """Copy `src` without the wallpapers' zoom-3 crops (crop6 onwards of a mate_/plasma_ source: zoom 2 gives crops
    0-5 of a landscape picture), so that the detailed photos are about half of the set instead of a quarter."""
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    for p in sorted(src.iterdir()):
        m = re.match(r"(mate|plasma)_.*_crop(\d+)\.jpg$", p.name)
        if not (m and int(m.group(2)) >= 6):
            shutil.copy(p, out / p.name)


if __name__ == "__main__":
    main()
