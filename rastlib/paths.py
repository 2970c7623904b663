"""Where the kit's own files are, and paths as records keep them.

In a clone (or an editable install) the demo checkpoint and the demo images are the repository's
(`checkpoints/`, `data/demo/`); an installed wheel carries copies of them inside the package (`rastlib/_bundled/`,
put there by setup.py's build step), so `python -m rastlib stylize` works from any folder. Records keep paths
repo-relative, so a committed record means the same in every clone. This module imports nothing of the kit.
"""
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent
BUNDLED = PACKAGE_DIR / "_bundled"  # the wheel's copies of the repository files below
BUNDLED_FILES = ("checkpoints/rast_demo_fp16.pt", "data/demo")


def kit_file(relative):
    """A file or folder of the kit named as in the repository (e.g. "data/demo"): the repository's where it is
    there, else the installed package's copy (which may be missing too: callers say what is missing)."""
    here = REPO_ROOT / relative
    return here if here.exists() or not (BUNDLED / relative).exists() else BUNDLED / relative


def portable(value):
    """A path inside the repository as repo-relative; any other value (a path elsewhere, a number) as it is."""
    if not isinstance(value, str):
        return value
    path = Path(value)
    return path.relative_to(REPO_ROOT).as_posix() if path.is_absolute() and path.is_relative_to(REPO_ROOT) else value


def home_relative(path):
    """`path` as a message shows it: under the home folder as ~/…, so messages (and the notebook outputs that
    keep them) name no machine's home."""
    path = Path(path)
    try:
        return "~/" + path.relative_to(Path.home()).as_posix()
    except ValueError:
        return str(path)
