"""Rebuild the bundled demo set in data/demo/ from images that installed packages ship.

The demo set lets the kit train, test and demo without internet access. Content images are real photographs
taken from pip packages (scikit-image, scikit-learn, matplotlib) and Debian wallpaper packages; style images are
the 16 public-domain paintings in /work/shared/data/paintings/ plus three painterly wallpapers. Every image is
converted to RGB, turned upright (EXIF orientation), downscaled so its longer side is at most 384 px (Lanczos)
and saved as JPEG quality 88. data/demo/ATTRIBUTION.md is written from the same table, so provenance and files
cannot drift apart.

Needs: `pip install scikit-image scikit-learn matplotlib` and
`apt-get install mate-backgrounds plasma-workspace-wallpapers`.

Usage: python scripts/build_demo_set.py [--paintings DIR] [--out DIR]
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps

MAX_SIDE = 384
QUALITY = 88
REPO = Path(__file__).resolve().parents[1]

MATE = "/usr/share/backgrounds/mate"
PLASMA = "/usr/share/wallpapers"
GPL2 = "GPL-2+ (debian/copyright)"


@dataclass(frozen=True)
class Source:
    """One demo image: output name, package, path inside the package, licence and credit."""

    name: str
    package: str  # pip distribution name, or "deb:<package>"
    path: str  # relative to the pip package's directory, or absolute for Debian files
    licence: str
    credit: str


def _plasma(name: str, size: str = "1920x1080") -> str:
    return f"{PLASMA}/{name}/contents/images/{size}.jpg"


def _plasma_photo(out: str, name: str, size: str = "1920x1080") -> Source:
    return Source(out, "deb:plasma-workspace-wallpapers", _plasma(name, size), GPL2,
                  "2014 KDE Visual Design Group")


CONTENT = [
    Source("skimage_astronaut.jpg", "scikit-image", "skimage/data/astronaut.png",
           "Public domain (NASA)", "Eileen Collins, NASA Great Images database"),
    Source("skimage_chelsea.jpg", "scikit-image", "skimage/data/chelsea.png",
           "CC0", "Stefan van der Walt"),
    Source("skimage_coffee.jpg", "scikit-image", "skimage/data/coffee.png",
           "CC0", "Rachel Michetti, courtesy of Pikolo Espresso Bar"),
    Source("skimage_rocket.jpg", "scikit-image", "skimage/data/rocket.jpg",
           "Public domain (SpaceX)", "SpaceX, launch of DSCOVR on Falcon 9"),
    Source("sklearn_china.jpg", "scikit-learn", "sklearn/datasets/images/china.jpg",
           "CC-BY-2.0", "danielbuechele (Flickr), retrieved by Robert Layton"),
    Source("sklearn_flower.jpg", "scikit-learn", "sklearn/datasets/images/flower.jpg",
           "CC-BY-2.0", "vultilion (Flickr; the README's attribution line says danielbuechele, its link vultilion)"),
    Source("matplotlib_grace_hopper.jpg", "matplotlib", "matplotlib/mpl-data/sample_data/grace_hopper.jpg",
           "Public domain (U.S. Navy photograph; the package states no separate licence)",
           "U.S. Navy, portrait of Grace Hopper"),
    Source("mate_aqua.jpg", "deb:mate-backgrounds", f"{MATE}/nature/Aqua.jpg", GPL2, "2008 Charles Barbin"),
    Source("mate_blinds.jpg", "deb:mate-backgrounds", f"{MATE}/nature/Blinds.jpg", GPL2,
           "2008 Lennart Poettering, Andrea Cimitan"),
    Source("mate_dune.jpg", "deb:mate-backgrounds", f"{MATE}/nature/Dune.jpg", GPL2,
           "2007 Marco Cogoni, 2008 Hylke Bons"),
    Source("mate_fresh_flower.jpg", "deb:mate-backgrounds", f"{MATE}/nature/FreshFlower.jpg", GPL2,
           "2005 Jens Ansorg"),
    Source("mate_garden.jpg", "deb:mate-backgrounds", f"{MATE}/nature/Garden.jpg", GPL2, "2008 Charles Barbin"),
    Source("mate_green_meadow.jpg", "deb:mate-backgrounds", f"{MATE}/nature/GreenMeadow.jpg", GPL2,
           "2005 Timothy Schellhase, 2008 Lapo Calamandrei"),
    Source("mate_ladybird.jpg", "deb:mate-backgrounds", f"{MATE}/nature/LadyBird.jpg", GPL2, "2008 Charles Barbin"),
    Source("mate_rain_drops.jpg", "deb:mate-backgrounds", f"{MATE}/nature/RainDrops.jpg", GPL2,
           "2008 \"blackcombwhistler07\""),
    Source("mate_storm.jpg", "deb:mate-backgrounds", f"{MATE}/nature/Storm.jpg", GPL2, "2008 Sergey Nazarov"),
    Source("mate_two_wings.jpg", "deb:mate-backgrounds", f"{MATE}/nature/TwoWings.jpg", GPL2,
           "2008 Charles Barbin, Hylke Bons"),
    Source("mate_wood.jpg", "deb:mate-backgrounds", f"{MATE}/nature/Wood.jpg", GPL2,
           "2008 Jean-François Fortin Tam"),
    Source("mate_yellow_flower.jpg", "deb:mate-backgrounds", f"{MATE}/nature/YellowFlower.jpg", GPL2,
           "2008 Charles Barbin"),
    _plasma_photo("plasma_by_the_water.jpg", "BytheWater"),
    _plasma_photo("plasma_cold_ripple.jpg", "ColdRipple"),
    _plasma_photo("plasma_colorful_cups.jpg", "ColorfulCups", "2560x1600"),
    _plasma_photo("plasma_darkest_hour.jpg", "DarkestHour"),
    _plasma_photo("plasma_evening_glow.jpg", "EveningGlow"),
    _plasma_photo("plasma_fallen_leaf.jpg", "FallenLeaf"),
    _plasma_photo("plasma_grey.jpg", "Grey"),
    _plasma_photo("plasma_kite.jpg", "Kite"),
    _plasma_photo("plasma_one_stands_out.jpg", "OneStandsOut"),
    _plasma_photo("plasma_path.jpg", "Path"),
    _plasma_photo("plasma_summer_1am.jpg", "summer_1am"),
]

PAINTERLY = [
    Source("mate_elephants.jpg", "deb:mate-backgrounds", f"{MATE}/abstract/Elephants.jpg", GPL2,
           "2020 Wyng Stancikaite (painting)"),
    Source("plasma_autumn.jpg", "deb:plasma-workspace-wallpapers", _plasma("Autumn"), GPL2,
           "2014 KDE Visual Design Group (illustration)"),
    Source("plasma_safe_landing.jpg", "deb:plasma-workspace-wallpapers", _plasma("SafeLanding", "1622x2880"), GPL2,
           "2014 KDE Visual Design Group (illustration)"),
]


def package_version(package: str) -> str:
    """Installed version of a pip distribution or (for "deb:<name>") a Debian package."""
    if package.startswith("deb:"):
        out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package[4:]],
                             capture_output=True, text=True, check=True)
        return out.stdout.strip()
    return importlib.metadata.version(package)


def source_path(src: Source) -> Path:
    """Absolute path of a source image (pip package paths are resolved through the import system)."""
    if src.package.startswith("deb:"):
        return Path(src.path)
    top = src.path.split("/", 1)[0]
    spec = importlib.util.find_spec(top)
    if spec is None or spec.origin is None:
        raise SystemExit(f"package {src.package} is not installed (pip install {src.package})")
    return Path(spec.origin).parent.parent / src.path


def convert(path: Path, dest: Path) -> tuple[int, int]:
    """Write `path` as an upright RGB JPEG whose longer side is at most MAX_SIDE; returns its size."""
    with Image.open(path) as im:
        im.draft("RGB", (MAX_SIDE, MAX_SIDE))  # cheap JPEG DCT pre-scaling, never below the target size
        im = ImageOps.exif_transpose(im)
        if im.mode in ("RGBA", "LA", "P"):
            im = im.convert("RGBA")
            background = Image.new("RGBA", im.size, "white")
            im = Image.alpha_composite(background, im)
        im = im.convert("RGB")
        if max(im.size) > MAX_SIDE:
            scale = MAX_SIDE / max(im.size)
            size = (max(1, round(im.width * scale)), max(1, round(im.height * scale)))
            im = im.resize(size, Image.Resampling.LANCZOS)
        im.save(dest, "JPEG", quality=QUALITY, optimize=True)
        return im.size


def build_folder(sources: list[Source], folder: Path) -> list[tuple[Source, str, tuple[int, int]]]:
    """Convert every source into `folder`; returns (source, package version, output size) rows."""
    rows = []
    for src in sources:
        path = source_path(src)
        if not path.is_file():
            deb = src.package.startswith("deb:")
            hint = f"apt-get install {src.package[4:]}" if deb else f"pip install {src.package}"
            raise SystemExit(f"missing source image {path} ({hint})")
        rows.append((src, package_version(src.package), convert(path, folder / src.name)))
    return rows


def _package_cell(package: str, version: str) -> str:
    kind = "Debian" if package.startswith("deb:") else "PyPI"
    return f"{package.removeprefix('deb:')} {version} ({kind})"


def _table(rows: list[tuple[Source, str, tuple[int, int]]]) -> list[str]:
    lines = ["| file | size | source package | original path | licence | credit |",
             "|---|---|---|---|---|---|"]
    for src, version, (w, h) in rows:
        lines.append(f"| {src.name} | {w}×{h} | {_package_cell(src.package, version)} | `{src.path}` "
                     f"| {src.licence} | {src.credit} |")
    return lines


def write_attribution(out: Path, content_rows, painterly_rows, painting_files: list[str],
                      paintings_note: str) -> None:
    """Write data/demo/ATTRIBUTION.md: one table for content/, one for style/ (paintings + painterly)."""
    lines = [
        "# Demo set: attribution",
        "",
        "Built by `scripts/build_demo_set.py` from images that installed packages ship. Every image was converted",
        f"to RGB, turned upright, downscaled so its longer side is at most {MAX_SIDE} px (Lanczos) and saved as JPEG",
        f"quality {QUALITY}. Pip package paths are relative to `site-packages/`. Licences are those stated in the",
        "packages: `debian/copyright` (`/usr/share/doc/<package>/copyright`) for Debian packages, the",
        "`skimage.data` loader docstrings for scikit-image, `sklearn/datasets/images/README.txt` for scikit-learn.",
        "GPL-2+ images may be redistributed under the GPL, version 2 or later; CC-BY-2.0 needs the credit shown.",
        "",
        f"## content/ ({len(content_rows)} photographs)",
        "",
        *_table(content_rows),
        "",
        f"## style/ ({len(painting_files) + len(painterly_rows)} images)",
        "",
        f"### Paintings ({len(painting_files)}), copied from `/work/shared/data/paintings/` "
        f"and downscaled from 512 to {MAX_SIDE} px",
        "",
        paintings_note,
        "",
        f"### Painterly wallpapers ({len(painterly_rows)})",
        "",
        *_table(painterly_rows),
        "",
    ]
    (out / "ATTRIBUTION.md").write_text("\n".join(lines), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--paintings", type=Path, default=Path("/work/shared/data/paintings"),
                        help="folder with the paintings and their ATTRIBUTION.md")
    parser.add_argument("--out", type=Path, default=REPO / "data" / "demo", help="output folder")
    args = parser.parse_args(argv)

    content_dir, style_dir = args.out / "content", args.out / "style"
    for folder in (content_dir, style_dir):
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)

    content_rows = build_folder(CONTENT, content_dir)
    painting_files = sorted(p.name for p in args.paintings.glob("*.jpg"))
    if not painting_files:
        raise SystemExit(f"no paintings (*.jpg) in {args.paintings}")
    for name in painting_files:
        convert(args.paintings / name, style_dir / name)
    painterly_rows = build_folder(PAINTERLY, style_dir)

    note = (args.paintings / "ATTRIBUTION.md").read_text(encoding="utf-8")
    note = note.split("\n", 1)[1].strip()  # drop the source file's own title line
    write_attribution(args.out, content_rows, painterly_rows, painting_files, note)

    total = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    sys.stderr.write(f"{len(content_rows)} content, {len(painting_files) + len(painterly_rows)} style images, "
                     f"{total / 1e6:.2f} MB in {args.out}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
