"""Paths as records keep them: repo-relative inside the repository, so a committed record means the same in every
clone. Kept apart from `experiments` so that what a device call imports stays within what the device has."""
from pathlib import Path

from .checkpoint import REPO_ROOT


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
