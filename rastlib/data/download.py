"""Download and unpack the real training sets: MS-COCO (content) and WikiArt (style).

Expected layout under a data root (e.g. `data/`), which is also what you get if you place the folders by hand
(then nothing is downloaded: `prepare_dataset` only checks that the folder holds images):

    data/coco/train2014/*.jpg          MS-COCO 2014 training images (82,783 photos, 13 GB zip)
    data/coco/val2014/*.jpg            MS-COCO 2014 validation images (40,504 photos, 6 GB zip)
    data/wikiart/<Style>/*.jpg         WikiArt from the ArtGAN release (~81k paintings in 27 style folders, 25 GB zip)

Any folder of images works for training (`list_images` is recursive), so other mirrors or subsets can be used:
pass `url=` to `prepare_dataset`, or copy the files into place. Downloads go to `<dest>.part` and are moved into
place only when complete; an interrupted download is resumed with an HTTP Range request where the server
allows it. Archives are extracted into a temporary folder and moved into place in one step, and entries that
would land outside the target folder (zip-slip) make the whole archive be refused.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..errors import DataError
from .images import list_images

__all__ = ["DATASETS", "DatasetSource", "download", "extract_zip", "prepare_dataset"]

_CHUNK = 1 << 20


@dataclass(frozen=True)
class DatasetSource:
    """Where a data set comes from and where its images go (`folder`, relative to the data root)."""

    url: str
    folder: str
    description: str
    sha256: str | None = None


DATASETS: dict[str, DatasetSource] = {
    "coco_train2014": DatasetSource("http://images.cocodataset.org/zips/train2014.zip", "coco/train2014",
                                    "MS-COCO 2014 training images (content)"),
    "coco_val2014": DatasetSource("http://images.cocodataset.org/zips/val2014.zip", "coco/val2014",
                                  "MS-COCO 2014 validation images (content)"),
    "wikiart": DatasetSource("http://web.fsktm.um.edu.my/~cschan/source/ICIP2017/wikiart.zip", "wikiart",
                             "WikiArt paintings, ArtGAN release (style)"),
}

Progress = Callable[[int, "int | None"], None]


def _stderr_progress(name: str) -> Progress:
    """A progress callback that rewrites one stderr line at most once a second."""
    last = [0.0]

    def report(done: int, total: int | None) -> None:
        now = time.monotonic()
        if now - last[0] < 1.0 and done != total:
            return
        last[0] = now
        pct = f" {100 * done / total:5.1f}%" if total else ""
        sys.stderr.write(f"\r{name}: {done / 1e6:,.1f} MB{pct}")
        if done == total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return report


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _content_range(value: str | None) -> tuple[int | None, int | None]:
    """(first byte, total size) from a Content-Range header ("bytes 100-199/1000" or "bytes */1000")."""
    if not value or "/" not in value:
        return None, None
    span, total = value.removeprefix("bytes").strip().rsplit("/", 1)
    first = span.split("-", 1)[0].strip()
    return (int(first) if first.isdigit() else None), (int(total) if total.strip().isdigit() else None)


def download(url: str, dest: str | os.PathLike, sha256: str | None = None, progress: bool | Progress = True,
             timeout: float = 60.0) -> Path:
    """Download `url` to `dest` and return `dest`.

    Streams to `dest.part`, resuming an existing `.part` with a Range request (restarting if the server
    ignores it), checks the size against the server's Content-Length/Content-Range and, when given, the
    sha256; the file appears at `dest` only when complete. An existing `dest` is kept (and checked against
    `sha256` if given). `progress`: True writes a progress line to stderr, or a callable(done, total).
    Network and HTTP failures raise DataError; the `.part` file is kept so a rerun resumes.
    """
    dest = Path(dest)
    if dest.is_file():
        if sha256 is None or _sha256(dest) == sha256.lower():
            return dest
        raise DataError(f"{dest} exists but its sha256 does not match {sha256}; delete it to download again")
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    report = _stderr_progress(dest.name) if progress is True else (progress or None)

    have = part.stat().st_size if part.is_file() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "rastlib"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        try:
            response = urllib.request.urlopen(request, timeout=timeout)
        except urllib.error.HTTPError as e:
            if e.code != 416 or not have:
                raise
            # the range starts at or past the end: the .part may already be complete
            _, total = _content_range(e.headers.get("Content-Range"))
            e.close()
            if total != have:
                part.unlink()
                return download(url, dest, sha256, progress, timeout)
            response = None
        if response is None:
            done = total = have
        else:
            with response:
                if response.status == 206:
                    first, total = _content_range(response.headers.get("Content-Range"))
                    if first != have:
                        part.unlink()
                        raise DataError(f"download of {url}: the server resumed at byte {first}, not {have}; "
                                        "the partial file was deleted, run again")
                    mode, done = "ab", have
                else:  # 200: a fresh start, the server ignored or was not sent a Range
                    length = response.headers.get("Content-Length")
                    total = int(length) if length and length.isdigit() else None
                    mode, done = "wb", 0
                with open(part, mode) as f:
                    while chunk := response.read(_CHUNK):
                        f.write(chunk)
                        done += len(chunk)
                        if report:
                            report(done, total)
    except urllib.error.HTTPError as e:
        raise DataError(f"download of {url} failed: HTTP {e.code} {e.reason}") from None
    except urllib.error.URLError as e:
        raise DataError(f"download of {url} failed: {e.reason}") from None
    except TimeoutError:
        raise DataError(f"download of {url} timed out after {timeout:g} s; run again to resume") from None
    except OSError as e:
        raise DataError(f"download of {url} failed: {e}; run again to resume") from None

    if total is not None and done != total:
        raise DataError(f"download of {url} is incomplete ({done:,} of {total:,} bytes); run again to resume")
    if sha256 is not None:
        actual = _sha256(part)
        if actual != sha256.lower():
            part.unlink()
            raise DataError(f"download of {url} has sha256 {actual}, expected {sha256}; the file was deleted")
    os.replace(part, dest)
    return dest


def _check_member(name: str, dest: Path) -> None:
    """Refuse archive entries that are absolute or would land outside `dest` (zip-slip)."""
    pure = PurePosixPath(name.replace("\\", "/"))
    if pure.is_absolute() or ".." in pure.parts or (pure.parts and ":" in pure.parts[0]):
        raise DataError(f"refusing archive entry {name!r}: it points outside the target folder")
    target = (dest / pure).resolve()
    if target != dest and dest not in target.parents:
        raise DataError(f"refusing archive entry {name!r}: it points outside the target folder")


def extract_zip(zip_path: str | os.PathLike, dest_dir: str | os.PathLike) -> Path:
    """Extract a zip archive into `dest_dir` (created) and return it.

    Every entry is checked before anything is written: an absolute path or one that climbs out of
    `dest_dir` makes the whole archive be refused with DataError. A corrupt zip also raises DataError.
    """
    zip_path, dest = Path(zip_path), Path(dest_dir)
    try:
        with zipfile.ZipFile(zip_path) as zf:
            dest.mkdir(parents=True, exist_ok=True)
            root = dest.resolve()
            members = zf.infolist()
            for info in members:
                _check_member(info.filename, root)
            for info in members:
                zf.extract(info, root)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as e:
        raise DataError(f"cannot extract {zip_path}: not a valid zip archive ({e})") from None
    except OSError as e:
        raise DataError(f"cannot extract {zip_path} into {dest}: {e}") from None
    return dest


def prepare_dataset(name: str, root: str | os.PathLike = "data", url: str | None = None,
                    sha256: str | None = None, keep_archive: bool = False,
                    progress: bool | Progress = True) -> Path:
    """Make sure data set `name` (a key of DATASETS) is under `root`; return its image folder.

    If the folder already holds images (downloaded earlier or placed by hand) nothing is downloaded.
    Otherwise the archive is downloaded to `<root>/<name>.zip` (`url` overrides the source, for mirrors),
    extracted into a temporary folder and moved into place; the archive is deleted unless `keep_archive`.
    """
    if name not in DATASETS:
        raise DataError(f"unknown data set {name!r}; choose one of {', '.join(DATASETS)}")
    source = DATASETS[name]
    root = Path(root)
    folder = root / source.folder
    if folder.is_dir():
        try:
            list_images(folder)
            return folder
        except DataError:
            if any(folder.iterdir()):
                raise DataError(f"{folder} exists but holds no image files; empty or remove it to download "
                                f"{name}, or put the images there") from None

    archive = download(url or source.url, root / f"{name}.zip", sha256=sha256 or source.sha256, progress=progress)
    staging = root / f".{name}.extracting"
    if staging.exists():
        shutil.rmtree(staging)
    extract_zip(archive, staging)
    # the archives hold one top folder named like the target (train2014/, wikiart/); accept other layouts too
    expected = staging / PurePosixPath(source.folder).name
    entries = [p for p in staging.iterdir() if p.name != "__MACOSX"]
    if expected.is_dir():
        top = expected
    elif len(entries) == 1 and entries[0].is_dir():
        top = entries[0]
    else:
        top = staging
    if folder.exists():
        folder.rmdir()  # an empty folder (checked above)
    folder.parent.mkdir(parents=True, exist_ok=True)
    os.replace(top, folder)
    shutil.rmtree(staging, ignore_errors=True)
    if not keep_archive:
        archive.unlink()
    list_images(folder)
    return folder
