"""Rebuild the bundled demo set in data/demo/ from images that installed packages ship.

The demo set lets the kit train, test and demo without internet access. It has a training part and a held-out
evaluation part:

    content/        training photographs: whole photos plus zoomed crops of the high-resolution wallpapers
    style/          training style images: paintings, painted game art, painterly and abstract wallpapers (+ crops)
    eval/content/   12 evaluation photographs, never used for training
    eval/style/     6 evaluation paintings, never used for training

Evaluation images are held out so that metrics and galleries show how a model does on images it has never
seen: nothing derived from an evaluation image (no crop, no other size of the same picture) is in the training
folders, and the script refuses to run if its tables would put a source file in both. Photos come from pip
packages (scikit-image, scikit-learn, matplotlib) and Debian packages (MATE and Plasma wallpapers, the photos of
the jigzo puzzle game); style images are the public-domain paintings in ../shared/data/paintings/ (beside the repository), Battle for
Wesnoth's painted story art and portraits, and painterly or abstract wallpapers (MATE, Plasma, UKUI, GNOME).

Every image is converted to RGB (transparent parts laid on neutral grey), turned upright (EXIF orientation) and
downscaled (Lanczos), never upscaled, so its longer side is at most 384 px (training) or 512 px (evaluation, so
that a 256 px evaluation never upsamples), then saved as JPEG. The evaluation paintings are copied unchanged
(they are at most 512 px already). To give training more variety, each high-resolution wallpaper marked for
crops also yields square crops on a fixed grid at zoom levels 2 and 3 (side = 1/2 and 1/3 of the short side;
style images use zoom 2 only), each saved as its own file `<source>_crop<k>.jpg`; near-uniform crops (standard
deviation of the grey crop below 0.04) are dropped. Inputs are processed in table order and crops in grid order,
so the output is deterministic. data/demo/ATTRIBUTION.md is written from the same tables (with every crop box),
so provenance and files cannot drift apart.

Needs: `pip install scikit-image scikit-learn matplotlib` and `apt-get install mate-backgrounds
plasma-workspace-wallpapers ukui-wallpapers gnome-backgrounds wesnoth-1.16-data jigzo-data`.

Usage: python scripts/build_demo_set.py [--paintings DIR] [--out DIR]
"""

from __future__ import annotations

import argparse
import functools
import importlib.metadata
import importlib.util
import io
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps, ImageStat

TRAIN_MAX_SIDE = 384
EVAL_MAX_SIDE = 512
QUALITY = 86
CONTENT_CROP_ZOOMS = (2, 3)  # crop side = short side // zoom
STYLE_CROP_ZOOMS = (2,)
MIN_CROP_SIDE = 256  # never write a crop smaller than a 256 px training crop
FLAT_STD = 0.04  # crops whose grey standard deviation (0..1) is below this are dropped as near-uniform
MATTE = (128, 128, 128)  # neutral grey under transparent pixels
REPO = Path(__file__).resolve().parents[1]

MATE = "/usr/share/backgrounds/mate"
PLASMA = "/usr/share/wallpapers"
UKUI = "/usr/share/backgrounds"
GNOME = "/usr/share/backgrounds/gnome"
WESNOTH = "/usr/share/games/wesnoth/1.16/data/core/images"
JIGZO = "/usr/share/games/jigzo/puzzles/00_default"
GPL2 = "GPL-2+ (debian/copyright)"
PAINTINGS_PACKAGE = "paintings"  # the --paintings folder, not a package


@dataclass(frozen=True)
class Source:
    """One source image: output stem, package, path inside the package, licence, credit, and whether to crop it."""

    name: str  # output file stem; crops are <name>_crop<k>.jpg
    package: str  # pip distribution name, "deb:<package>", or PAINTINGS_PACKAGE (relative to --paintings)
    path: str  # relative to the pip package's directory, absolute for Debian files, a file name for paintings
    licence: str
    credit: str
    crops: bool = False


@dataclass(frozen=True)
class Row:
    """One written file, for ATTRIBUTION.md."""

    src: Source
    file: str
    size: tuple[int, int]
    box: tuple[int, int, int, int] | None  # crop box in the source image, None for the whole image


def _deb(name: str, package: str, path: str, licence: str, credit: str, crops: bool = False) -> Source:
    return Source(name, f"deb:{package}", path, licence, credit, crops)


def _mate(name: str, path: str, credit: str, crops: bool = False) -> Source:
    return _deb(name, "mate-backgrounds", f"{MATE}/{path}", GPL2, credit, crops)


def _plasma(name: str, folder: str, size: str, author: str, upstream: str, crops: bool = False,
            what: str = "photograph") -> Source:
    """A Plasma wallpaper; `author` and `upstream` (licence) are from its metadata.json / metadata.desktop."""
    return _deb(name, "plasma-workspace-wallpapers", f"{PLASMA}/{folder}/contents/images/{size}",
                f"{GPL2}; upstream metadata: {upstream}", f"{author} ({what}, KDE)", crops)


def _ukui(name: str, file: str) -> Source:
    return _deb(name, "ukui-wallpapers", f"{UKUI}/{file}", "CC-BY-SA-3.0 (debian/copyright)",
                "2013-2020 Ubuntu Kylin community contributors (digital art)")


def _gnome(name: str, file: str, licence: str, credit: str) -> Source:
    return _deb(name, "gnome-backgrounds", f"{GNOME}/{file}", licence, credit)


WESNOTH_LICENCE = ("GPL-2+ (debian/copyright: the game and its data, \"GNU General Public License version 2 or at "
                   "your option any later version\"; no separate licence for images)")


def _story(stem: str) -> Source:
    return _deb(f"wesnoth_{stem.replace('-', '_')}", "wesnoth-1.16-data", f"{WESNOTH}/story/{stem}.jpg",
                WESNOTH_LICENCE, "Battle for Wesnoth artists (painted story art; data/core/about.cfg credits "
                "the artists, not per file)", crops=True)


def _portrait(path: str, artist: str) -> Source:
    stem = path.removesuffix(".png").replace("/", "_").replace("-", "_").replace("+", "_")
    return _deb(f"wesnoth_portrait_{stem}", "wesnoth-1.16-data", f"{WESNOTH}/portraits/{path}", WESNOTH_LICENCE,
                f"{artist} (portrait; portraits/ARTISTS), on neutral grey")


def _jigzo(stem: str, licence: str = GPL2, credit: str = "2005-2008 Maarten de Boer") -> Source:
    return _deb(f"jigzo_{stem.split('-')[0]}", "jigzo-data", f"{JIGZO}/{stem}.pzl", licence,
                f"{credit} (photo of the jigzo puzzle, taken from the .pzl texture)")


# --- evaluation: held out from training ------------------------------------------------------------------------

EVAL_CONTENT = [
    Source("skimage_astronaut", "scikit-image", "skimage/data/astronaut.png",
           "Public domain (NASA)", "Eileen Collins, NASA Great Images database"),
    Source("skimage_chelsea", "scikit-image", "skimage/data/chelsea.png", "CC0", "Stefan van der Walt"),
    Source("skimage_coffee", "scikit-image", "skimage/data/coffee.png",
           "CC0", "Rachel Michetti, courtesy of Pikolo Espresso Bar"),
    Source("skimage_rocket", "scikit-image", "skimage/data/rocket.jpg",
           "Public domain (SpaceX)", "SpaceX, launch of DSCOVR on Falcon 9"),
    Source("sklearn_china", "scikit-learn", "sklearn/datasets/images/china.jpg",
           "CC-BY-2.0", "danielbuechele (Flickr), retrieved by Robert Layton"),
    Source("matplotlib_grace_hopper", "matplotlib", "matplotlib/mpl-data/sample_data/grace_hopper.jpg",
           "Public domain (U.S. Navy photograph; the package states no separate licence)",
           "U.S. Navy, portrait of Grace Hopper"),
    _mate("mate_ladybird", "nature/LadyBird.jpg", "2008 Charles Barbin"),
    _mate("mate_storm", "nature/Storm.jpg", "2008 Sergey Nazarov"),
    _mate("mate_wood", "nature/Wood.jpg", "2008 Jean-François Fortin Tam"),
    _plasma("plasma_colorful_cups", "ColorfulCups", "2560x1600.jpg", "Dmitri Popov", "LGPLv3"),
    _plasma("plasma_kite", "Kite", "2560x1600.jpg", "Risto Saukonpää", "LGPLv3"),
    _plasma("plasma_path", "Path", "2560x1600.jpg", "Risto Saukonpää", "LGPLv3"),
]

EVAL_PAINTINGS = [
    "gogh_village_street_in_auvers.jpg",
    "hokusai_the_great_wave_off_kanagawa.jpg",
    "kandinsky_composition_viii.jpg",
    "renoir_bal_du_moulin_de_la_galette.jpg",
    "bruegel_the_harvesters.jpg",
    "arcimboldo_spring.jpg",
]

# --- training ----------------------------------------------------------------------------------------------------

CONTENT = [
    Source("sklearn_flower", "scikit-learn", "sklearn/datasets/images/flower.jpg",
           "CC-BY-2.0", "vultilion (Flickr; the README's attribution line says danielbuechele, its link vultilion)"),
    Source("skimage_hubble_deep_field", "scikit-image", "skimage/data/hubble_deep_field.jpg",
           "Public domain (NASA)", "NASA, Hubble eXtreme Deep Field (HubbleSite)"),
    Source("skimage_retina", "scikit-image", "skimage/data/retina.jpg",
           "CC0", "Mikael Häggström, fundus photograph of a normal left eye (Wikimedia Commons)"),
    _mate("mate_aqua", "nature/Aqua.jpg", "2008 Charles Barbin", crops=True),
    _mate("mate_blinds", "nature/Blinds.jpg", "2008 Lennart Poettering, Andrea Cimitan", crops=True),
    _mate("mate_dune", "nature/Dune.jpg", "2007 Marco Cogoni, 2008 Hylke Bons", crops=True),
    _mate("mate_fresh_flower", "nature/FreshFlower.jpg", "2005 Jens Ansorg", crops=True),
    _mate("mate_garden", "nature/Garden.jpg", "2008 Charles Barbin", crops=True),
    _mate("mate_green_meadow", "nature/GreenMeadow.jpg", "2005 Timothy Schellhase, 2008 Lapo Calamandrei",
          crops=True),
    _mate("mate_rain_drops", "nature/RainDrops.jpg", "2008 \"blackcombwhistler07\"", crops=True),
    _mate("mate_two_wings", "nature/TwoWings.jpg", "2008 Charles Barbin, Hylke Bons", crops=True),
    _mate("mate_yellow_flower", "nature/YellowFlower.jpg", "2008 Charles Barbin", crops=True),
    _plasma("plasma_by_the_water", "BytheWater", "2560x1600.jpg", "Maciej Wiklo", "LGPLv3", crops=True),
    _plasma("plasma_cold_ripple", "ColdRipple", "2560x1600.jpg", "Risto Saukonpää", "LGPLv3", crops=True),
    _plasma("plasma_darkest_hour", "DarkestHour", "2560x1600.jpg", "Risto Saukonpää", "LGPLv3", crops=True),
    _plasma("plasma_evening_glow", "EveningGlow", "2560x1600.jpg", "Ian Hex", "LGPLv3", crops=True),
    _plasma("plasma_fallen_leaf", "FallenLeaf", "2560x1600.jpg", "Martin Klapetek", "LGPLv3", crops=True),
    _plasma("plasma_grey", "Grey", "2560x1600.jpg", "Sigi Sagi", "LGPLv3", crops=True),
    _plasma("plasma_one_stands_out", "OneStandsOut", "2560x1600.jpg", "Risto Saukonpää", "LGPLv3", crops=True),
    _plasma("plasma_summer_1am", "summer_1am", "2560x1600.jpg", "Risto Saukonpää", "LGPLv3", crops=True),
    _jigzo("bike-3x4"),
    _jigzo("bird-2x3"),
    _jigzo("blackberry-3x3"),
    _jigzo("castle-6x3"),
    _jigzo("clouds-4x4"),
    _jigzo("gorilla2-3x3"),
    _jigzo("heli-4x3", "GPL-2 (debian/copyright)", "Joana Clotet"),
    _jigzo("horse-4x3"),
    _jigzo("tobogan-4x3"),
    _jigzo("train-2x2"),
    _jigzo("windmill-4x4"),
]

STYLE = [
    _mate("mate_elephants", "abstract/Elephants_5640x3172.jpg", "2020 Wyng Stancikaite (painting)", crops=True),
    _plasma("plasma_autumn", "Autumn", "2560x1600.jpg", "RJ Quiralta", "LGPLv3", crops=True, what="illustration"),
    _plasma("plasma_safe_landing", "SafeLanding", "5120x2880.jpg", "Louis Durrant", "CC-BY-SA-4.0", crops=True,
            what="illustration"),
    _ukui("ukui_2004default", "2004default.jpg"),
    _ukui("ukui_calla", "calla.png"),
    _ukui("ukui_desert", "desert.png"),
    _ukui("ukui_firstgeneration", "firstgeneration.jpg"),
    _ukui("ukui_fluent_color", "fluent-color.png"),
    _ukui("ukui_goldfish", "goldfish.png"),
    _ukui("ukui_rhythm", "rhythm.jpg"),
    _ukui("ukui_rollpaper", "rollpaper.png"),
    _ukui("ukui_string", "string.jpg"),
    _ukui("ukui_the_mouse", "the-mouse.jpg"),
    _gnome("gnome_adwaita_d", "adwaita-d.webp", "CC-BY-SA-3.0 (debian/copyright, \"adwaita*\")",
           "2011 Jakub Steiner"),
    _gnome("gnome_adwaita_l", "adwaita-l.webp", "CC-BY-SA-3.0 (debian/copyright, \"adwaita*\")",
           "2011 Jakub Steiner"),
    _gnome("gnome_licorice_l", "licorice-l.webp",
           "GPL-2+ (debian/copyright package licence; the file is not listed under Image Authors)",
           "GNOME design team (gnome-backgrounds; not credited by name)"),
    _gnome("gnome_truchet_d", "truchet-d.webp",
           "GPL-2+ (debian/copyright package licence; the file is not listed under Image Authors)",
           "GNOME design team (gnome-backgrounds; not credited by name)"),
    *(_story(stem) for stem in (
        "grim-altar", "landscape-battlefield", "landscape-bridge", "landscape-castle", "landscape-coast",
        "landscape-hills-01", "landscape-hills-02", "landscape-mountains-01", "landscape-mountains-02",
        "landscape-mountains-03", "landscape-mountains-04", "landscape-mountains-05", "landscape-plain",
        "swamp-01", "swamp-02", "swamp-03")),
    _deb("wesnoth_map", "wesnoth-1.16-data", f"{WESNOTH}/maps/wesnoth.png", WESNOTH_LICENCE,
         "Battle for Wesnoth artists (painted map of the Great Continent), on neutral grey"),
    _portrait("drakes/flameheart.png", "thespaceinvader/Philip Barber"),
    _portrait("drakes/inferno.png", "thespaceinvader/Philip Barber"),
    _portrait("drakes/warden.png", "thespaceinvader/Philip Barber"),
    _portrait("dwarves/lord.png", "thespaceinvader/Philip Barber"),
    _portrait("dwarves/runemaster.png", "thespaceinvader/Philip Barber"),
    _portrait("woses/ancient-wose.png", "thespaceinvader/Philip Barber"),
    _portrait("humans/grand-knight.png", "LordBob/Emilien Rotival"),
    _portrait("humans/knight.png", "LordBob/Emilien Rotival"),
    _portrait("orcs/sovereign.png", "LordBob/Emilien Rotival"),
    _portrait("elves/sorceress.png", "Kitty/Kathrin Polikeit"),
    _portrait("monsters/gryphon.png", "Kitty/Kathrin Polikeit"),
    _portrait("monsters/ogre.png", "JustinOperable/Justin Nichols"),
    _portrait("undead/ghoul.png", "Valkier/Chris Wilson"),
]


# --- helpers -----------------------------------------------------------------------------------------------------

def _install_hint(package: str) -> str:
    if package.startswith("deb:"):
        return f"apt-get install {package[4:]}"
    return f"pip install {package}"


@functools.cache
def package_version(package: str) -> str:
    """Installed version of a pip distribution or (for "deb:<name>") a Debian package; exits naming a missing one."""
    if package == PAINTINGS_PACKAGE:
        return ""
    if package.startswith("deb:"):
        out = subprocess.run(["dpkg-query", "-W", "-f=${Status} ${Version}", package[4:]],
                             capture_output=True, text=True)
        status = out.stdout.split()
        if out.returncode != 0 or "installed" not in status[:3]:
            raise SystemExit(f"package {package[4:]} is not installed ({_install_hint(package)})")
        return status[-1]
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        raise SystemExit(f"package {package} is not installed ({_install_hint(package)})") from None


def source_path(src: Source, paintings: Path) -> Path:
    """Absolute path of a source image (pip package paths are resolved through the import system)."""
    if src.package == PAINTINGS_PACKAGE:
        path = paintings / src.path
    elif src.package.startswith("deb:"):
        path = Path(src.path)
    else:
        spec = importlib.util.find_spec(src.path.split("/", 1)[0])
        if spec is None or spec.origin is None:
            raise SystemExit(f"package {src.package} is not installed ({_install_hint(src.package)})")
        path = Path(spec.origin).parent.parent / src.path
    if not path.is_file():
        raise SystemExit(f"missing source image {path} ({_install_hint(src.package)})")
    return path


def _read_pzl(path: Path) -> Image.Image:
    """The photo of a jigzo puzzle: the `image x y w h` region of the texture, its last embedded JPEG."""
    data = path.read_bytes()
    starts = [m.start() for m in re.finditer(rb"\xff\xd8\xff", data)]
    header = data[:starts[0]].decode("latin-1").splitlines()
    x, y, w, h = (int(v) for v in next(line for line in header if line.startswith("image ")).split()[1:5])
    texture = Image.open(io.BytesIO(data[starts[-1]:]))
    return texture.convert("RGB").crop((x, y, x + w, y + h))


def open_rgb(path: Path) -> Image.Image:
    """The image at `path` as upright RGB, transparent pixels laid on MATTE."""
    if path.suffix == ".pzl":
        return _read_pzl(path)
    with Image.open(path) as im:
        im = ImageOps.exif_transpose(im)
        if im.mode in ("RGBA", "LA", "P", "PA") or "transparency" in im.info:
            im = im.convert("RGBA")
            im = Image.alpha_composite(Image.new("RGBA", im.size, MATTE + (255,)), im)
        return im.convert("RGB")


def fit(im: Image.Image, max_side: int) -> Image.Image:
    """Downscale (Lanczos) so the longer side is at most `max_side`; never upscales."""
    if max(im.size) <= max_side:
        return im
    scale = max_side / max(im.size)
    size = (max(1, round(im.width * scale)), max(1, round(im.height * scale)))
    return im.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def save(im: Image.Image, dest: Path) -> tuple[int, int]:
    im.save(dest, "JPEG", quality=QUALITY, optimize=True)
    return im.size


def _positions(length: int, side: int) -> list[int]:
    """Evenly spaced starts of length // side windows of `side` px, first flush left, last flush right."""
    n = max(1, length // side)
    if n == 1:
        return [(length - side) // 2]
    return [round(i * (length - side) / (n - 1)) for i in range(n)]


def crop_boxes(width: int, height: int, zooms: tuple[int, ...]) -> list[tuple[int, int, int, int]]:
    """Square crop boxes on a fixed grid: for each zoom, side = short side // zoom, row by row."""
    boxes = []
    for zoom in zooms:
        side = min(width, height) // zoom
        if side < MIN_CROP_SIDE:
            continue
        boxes += [(x, y, x + side, y + side) for y in _positions(height, side) for x in _positions(width, side)]
    return boxes


def is_flat(im: Image.Image) -> bool:
    """Near-uniform: the standard deviation of the grey image (0..1) is below FLAT_STD."""
    return ImageStat.Stat(im.convert("L")).stddev[0] / 255.0 < FLAT_STD


def build(sources: list[Source], folder: Path, paintings: Path, max_side: int,
          zooms: tuple[int, ...] = ()) -> list[Row]:
    """Write every source (and, for sources with crops=True, its grid crops) into `folder`."""
    rows = []
    for src in sources:
        im = open_rgb(source_path(src, paintings))
        rows.append(Row(src, f"{src.name}.jpg", save(fit(im, max_side), folder / f"{src.name}.jpg"), None))
        if not src.crops:
            continue
        k = 0
        for box in crop_boxes(*im.size, zooms):
            crop = fit(im.crop(box), max_side)
            if is_flat(crop):
                continue
            name = f"{src.name}_crop{k}.jpg"
            rows.append(Row(src, name, save(crop, folder / name), box))
            k += 1
    return rows


def copy_paintings(names: list[str], folder: Path, paintings: Path) -> list[Row]:
    """Copy evaluation paintings unchanged (they are at most EVAL_MAX_SIDE px already)."""
    rows = []
    for src in painting_sources(names, paintings):
        path = source_path(src, paintings)
        with Image.open(path) as im:
            size = im.size
        if max(size) > EVAL_MAX_SIDE:
            raise SystemExit(f"{path} is {size[0]}×{size[1]}, larger than {EVAL_MAX_SIDE} px")
        shutil.copyfile(path, folder / src.path)
        rows.append(Row(src, src.path, size, None))
    return rows


def painting_sources(names: list[str], paintings: Path) -> list[Source]:
    """Sources for paintings in the --paintings folder, credited from its ATTRIBUTION.md table."""
    titles = {}
    for line in (paintings / "ATTRIBUTION.md").read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 2 and cells[0].endswith(".jpg"):
            titles[cells[0]] = cells[1]
    licence = ("GPL-3+ as distributed by gcompris-qt-data (WebMuseum licence); the painting itself is in the "
               "public domain")
    return [Source(name.removesuffix(".jpg"), PAINTINGS_PACKAGE, name, licence,
                   titles.get(name, "see the paintings' ATTRIBUTION.md")) for name in names]


# --- ATTRIBUTION.md ----------------------------------------------------------------------------------------------

def _package_cell(package: str) -> str:
    if package == PAINTINGS_PACKAGE:
        return "gcompris-qt-data 3.1 (Debian), via `../shared/data/paintings/`"
    kind = "Debian" if package.startswith("deb:") else "PyPI"
    return f"{package.removeprefix('deb:')} {package_version(package)} ({kind})"


def _table(rows: list[Row]) -> list[str]:
    lines = ["| file | size | source package | original path | crop box (x0, y0, x1, y1) | licence | credit |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        box = "—" if r.box is None else "({}, {}, {}, {})".format(*r.box)
        lines.append(f"| {r.file} | {r.size[0]}×{r.size[1]} | {_package_cell(r.src.package)} | `{r.src.path}` "
                     f"| {box} | {r.src.licence} | {r.src.credit} |")
    return lines


def write_attribution(out: Path, sections: list[tuple[str, str, list[Row]]], paintings_note: str) -> None:
    """Write data/demo/ATTRIBUTION.md: one table per folder, then the paintings' own provenance note."""
    lines = [
        "# Demo set: attribution",
        "",
        "Built by `scripts/build_demo_set.py` from images that installed packages ship. Training images",
        "(`content/`, `style/`) and held-out evaluation images (`eval/content/`, `eval/style/`) come from",
        "different source files; nothing in the training folders is derived from an evaluation image.",
        "",
        "Every image was converted to RGB (transparent pixels laid on neutral grey), turned upright and",
        f"downscaled (Lanczos, never upscaled) so its longer side is at most {TRAIN_MAX_SIDE} px (training) or",
        f"{EVAL_MAX_SIDE} px (eval/content), then saved as JPEG quality {QUALITY}; the eval/style paintings are",
        "unchanged copies. Files named `*_crop<k>.jpg` are square crops of the source image (box in source",
        "pixels) on a fixed grid at 1/2 and 1/3 of its short side (style: 1/2 only), near-uniform crops",
        f"dropped (grey standard deviation < {FLAT_STD}), then downscaled the same way: they are modified",
        "versions of the original work, under the same licence and credit.",
        "",
        "Pip package paths are relative to `site-packages/`. Licences are those stated in the packages:",
        "`debian/copyright` (`/usr/share/doc/<package>/copyright`) for Debian packages (and, for Plasma, the",
        "wallpaper's own metadata), the `skimage.data` loader docstrings for scikit-image,",
        "`sklearn/datasets/images/README.txt` for scikit-learn. GPL-2+ images may be redistributed under the GPL,",
        "version 2 or later; CC-BY and CC-BY-SA images need the credit shown (and CC-BY-SA adaptations the same",
        "licence). Jigzo photos are the `image` region of the puzzle's texture in its `.pzl` file.",
        "",
        "| folder | files |",
        "|---|---|",
        *(f"| `{folder}` | {len(rows)} |" for folder, _, rows in sections),
        "",
    ]
    for folder, title, rows in sections:
        lines += [f"## {folder} ({len(rows)} {title})", "", *_table(rows), ""]
    lines += ["## The paintings' provenance (their ATTRIBUTION.md)", "", paintings_note, ""]
    (out / "ATTRIBUTION.md").write_text("\n".join(lines), encoding="utf-8")


def _check_split(train: list[Source], held_out: list[Source]) -> None:
    """Refuse tables that would put one source file in both training and evaluation."""
    both = {(s.package, s.path) for s in train} & {(s.package, s.path) for s in held_out}
    if both:
        raise SystemExit(f"source files in both training and evaluation: {sorted(both)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--paintings", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data" / "paintings",
                        help="folder with the paintings and their ATTRIBUTION.md")
    parser.add_argument("--out", type=Path, default=REPO / "data" / "demo", help="output folder")
    args = parser.parse_args(argv)

    all_paintings = sorted(p.name for p in args.paintings.glob("*.jpg"))
    missing = [name for name in EVAL_PAINTINGS if name not in all_paintings]
    if missing or not (args.paintings / "ATTRIBUTION.md").is_file():
        raise SystemExit(f"{args.paintings} lacks {missing or 'ATTRIBUTION.md'}")
    style = painting_sources([n for n in all_paintings if n not in EVAL_PAINTINGS], args.paintings) + STYLE
    eval_style = painting_sources(EVAL_PAINTINGS, args.paintings)
    _check_split(CONTENT + style, EVAL_CONTENT + eval_style)
    for src in CONTENT + style + EVAL_CONTENT + eval_style:  # fail before deleting anything
        package_version(src.package)
        source_path(src, args.paintings)

    folders = {key: args.out / key for key in ("content", "style", "eval/content", "eval/style")}
    for old in (args.out / "content", args.out / "style", args.out / "eval"):
        if old.exists():
            shutil.rmtree(old)
    (args.out / "ATTRIBUTION.md").unlink(missing_ok=True)
    for folder in folders.values():
        folder.mkdir(parents=True)

    sections = [
        ("content/", "training photographs", build(CONTENT, folders["content"], args.paintings,
                                                    TRAIN_MAX_SIDE, CONTENT_CROP_ZOOMS)),
        ("style/", "training style images", build(style, folders["style"], args.paintings,
                                                   TRAIN_MAX_SIDE, STYLE_CROP_ZOOMS)),
        ("eval/content/", "evaluation photographs", build(EVAL_CONTENT, folders["eval/content"], args.paintings,
                                                          EVAL_MAX_SIDE)),
        ("eval/style/", "evaluation paintings", copy_paintings(EVAL_PAINTINGS, folders["eval/style"],
                                                               args.paintings)),
    ]
    note = (args.paintings / "ATTRIBUTION.md").read_text(encoding="utf-8")
    note = note.split("\n", 1)[1].strip()  # drop the source file's own title line
    write_attribution(args.out, sections, note)

    total = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    counts = ", ".join(f"{len(rows)} {folder}" for folder, _, rows in sections)
    sys.stderr.write(f"{counts}; {total / 1e6:.2f} MB in {args.out}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
