"""Robust image loading and the training data sets.

Every way an image file can be bad (missing, empty, truncated, not an image, a decompression bomb, unreadable)
becomes one `ImageError` line that names the file; every pixel format PIL can open (grayscale, alpha, palette,
16-bit, float, CMYK, YCbCr) becomes 8-bit RGB, turned upright by its EXIF orientation. The training data set
`ImageFolder` and the `InfiniteSampler` are pure functions of (index, seed) and (seed, position), so a run that
resumes from a checkpoint, or loads with several workers, sees exactly the samples it would have seen anyway.
"""

from __future__ import annotations

import operator
import os
import random
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from .atomic import atomic_write
from .errors import ConfigError, DataError, ImageError
from .paths import kit_file

__all__ = [
    "IMAGE_EXTENSIONS", "DEFAULT_MAX_PIXELS", "open_image", "to_rgb", "to_tensor", "to_pil", "save_image",
    "load_image", "list_images", "ImageFolder", "InfiniteSampler", "ShardSampler", "demo_root", "demo_content_dir",
    "demo_style_dir", "demo_eval_content_dir", "demo_eval_style_dir",
]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")
DEFAULT_MAX_PIXELS = 100_000_000
"""Largest declared image size (width × height) `open_image` decodes; larger files are refused as bombs."""

_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")


def _check_positive_int(name: str, value: object) -> int:
    """Return `value` if it is a positive int (not bool), else raise a ConfigError naming the parameter."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _high_depth_to_8bit(img: Image.Image) -> Image.Image:
    """Scale a 16-bit, 32-bit int or float single-channel image to 8-bit grayscale.

    I;16* modes hold 0..65535 and are divided by 257 (65535 -> 255). For the untyped modes I and F the nominal
    range is inferred from the data: a float image with values in [0, 1] is taken as 0..1, data whose maximum is at
    most 255 as 8-bit, at most 65535 as 16-bit, anything larger is scaled by its maximum. Negative values are 0.
    """
    a = np.asarray(img).astype(np.float64)
    if img.mode.startswith("I;16"):
        top = 65535.0
    else:
        peak = float(np.nanmax(a)) if a.size else 0.0
        if img.mode == "F" and peak <= 1.0:
            top = 1.0
        elif peak <= 255.0:
            top = 255.0
        elif peak <= 65535.0:
            top = 65535.0
        else:
            top = peak
    a = np.nan_to_num(a, nan=0.0) * (255.0 / top)
    return Image.fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8), mode="L")


def to_rgb(img: Image.Image) -> Image.Image:
    """Convert any PIL image to 8-bit RGB: transparency is composited on white, high bit depths are scaled."""
    if img.mode == "RGB" and "transparency" not in img.info:
        return img
    if img.mode in ("I", "F") or img.mode.startswith("I;16"):
        return _high_depth_to_8bit(img).convert("RGB")
    if img.mode in _ALPHA_MODES or "transparency" in img.info:
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")  # 1, L, P, CMYK, YCbCr, LAB, HSV


def open_image(path: str | os.PathLike, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Open and fully decode an image file as an upright RGB PIL image.

    Raises ImageError (one line, naming the file) for a missing file, a directory, an empty, truncated, unreadable
    or non-image file, and for a file that declares more than `max_pixels` pixels (checked before decoding; PIL's own
    `Image.MAX_IMAGE_PIXELS` bomb guard also applies, as an error).
    """
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise ImageError(f"image file not found: {p}") from None
    except OSError as e:
        raise ImageError(f"cannot access image file {p}: {e.strerror or e}") from None
    if p.is_dir():
        raise ImageError(f"expected an image file but got a directory: {p}")
    if st.st_size == 0:
        raise ImageError(f"image file is empty (0 bytes): {p}")
    try:
        with open(p, "rb") as f, warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(f)
            w, h = img.size
            if w * h > max_pixels:
                raise ImageError(f"image {p} declares {w}x{h} = {w * h:,} pixels, more than the limit of "
                                 f"{max_pixels:,} (possible decompression bomb)")
            img.load()  # full decode now, so truncation is detected here (LOAD_TRUNCATED_IMAGES stays off)
            img = ImageOps.exif_transpose(img)
            return to_rgb(img)
    except ImageError:
        raise
    except PermissionError:
        raise ImageError(f"permission denied reading image file {p}") from None
    except UnidentifiedImageError:
        raise ImageError(f"not a recognised image file: {p}") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageError(f"image {p} is too large to decode (possible decompression bomb): {e}") from None
    except Exception as e:  # PIL raises OSError, SyntaxError, ValueError, EOFError, zlib/struct errors for bad data
        reason = str(e) or type(e).__name__
        raise ImageError(f"cannot decode image file {p} (corrupt or truncated?): {reason}") from None


def to_tensor(img: Image.Image) -> torch.Tensor:
    """PIL image -> float32 tensor [3, H, W] with values in [0, 1]."""
    arr = np.asarray(to_rgb(img), dtype=np.uint8)
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).float().div_(255.0)


def to_pil(t: torch.Tensor) -> Image.Image:
    """Tensor [3, H, W] (or [1, 3, H, W]) in [0, 1] -> RGB PIL image; values are clamped, NaN becomes 0."""
    if t.dim() == 4 and t.shape[0] == 1:
        t = t[0]
    if t.dim() != 3 or t.shape[0] != 3:
        raise ImageError(f"expected an image tensor of shape [3, H, W], got {list(t.shape)}")
    t = torch.nan_to_num(t.detach().float().cpu(), nan=0.0).clamp_(0.0, 1.0)
    arr = t.mul_(255.0).round_().to(torch.uint8).permute(1, 2, 0).contiguous().numpy()
    return Image.fromarray(arr, mode="RGB")


def save_image(t: torch.Tensor | Image.Image, path: str | os.PathLike, quality: int = 95) -> Path:
    """Write an image tensor (or PIL image) atomically; the format comes from the file extension.

    Written with `atomic.atomic_write` (a crash never leaves a half-written image; the usual permissions);
    parent folders are created. Returns the path.
    """
    p = Path(path)
    fmt = Image.registered_extensions().get(p.suffix.lower())
    if fmt is None:
        raise ImageError(f"cannot save image {p}: unknown file extension {p.suffix!r}")
    img = t if isinstance(t, Image.Image) else to_pil(t)
    with atomic_write(p) as f:
        img.save(f, format=fmt, **({"quality": quality} if fmt in ("JPEG", "WEBP") else {}))
    return p


def load_image(path: str | os.PathLike, size: int | None = None, max_size: int | None = None,
               max_pixels: int = DEFAULT_MAX_PIXELS) -> torch.Tensor:
    """Load an image file as a float tensor [3, H, W] in [0, 1].

    `size`: resize (up or down, aspect kept, Lanczos) so the shorter side equals `size`.
    `max_size`: but shrink, never enlarge, so the longer side is at most `max_size`; warns when it does.
    Both are applied in one resize, so an extreme aspect ratio (1×5000) never makes a huge intermediate image.
    """
    if size is not None:
        size = _check_positive_int("size", size)
    if max_size is not None:
        max_size = _check_positive_int("max_size", max_size)
    img = open_image(path, max_pixels=max_pixels)
    w, h = img.size
    scale = 1.0 if size is None else size / min(w, h)
    if max_size is not None and max(w, h) * scale > max_size:
        scale = max_size / max(w, h)
        warnings.warn(f"image {path} is {w}x{h}; downsized to a longer side of {max_size} (max_size={max_size})",
                      stacklevel=2)
    new = (max(1, round(w * scale)), max(1, round(h * scale)))
    if new != img.size:
        img = img.resize(new, Image.Resampling.LANCZOS)
    return to_tensor(img)


def list_images(root: str | os.PathLike, recursive: bool = True) -> list[Path]:
    """Sorted list of the image files (by extension, any case) under `root`.

    Symlinked folders are not followed, so link loops cannot hang it; names that are not valid UTF-8 are kept
    (as surrogate-escaped str paths). Raises DataError if `root` is not a folder or holds no image.
    """
    root_s = os.fspath(root)
    if not os.path.exists(root_s):
        raise DataError(f"image folder not found: {root_s}")
    if not os.path.isdir(root_s):
        raise DataError(f"expected an image folder but got a file: {root_s}")
    found = []
    for dirpath, dirnames, filenames in os.walk(root_s, followlinks=False):
        dirnames.sort()
        found.extend(Path(dirpath, name) for name in filenames
                     if os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS)
        if not recursive:
            break
    if not found:
        where = "under" if recursive else "in"
        raise DataError(f"no image files ({', '.join(IMAGE_EXTENSIONS)}) found {where} {root_s}")
    return sorted(found)


class ImageFolder(torch.utils.data.Dataset):
    """Training images from a folder: resize to load_size, then a random crop of crop_size (as in RAST).

    `square=True` resizes to (load_size, load_size) like the official transform (aspect not kept);
    `square=False` resizes the shorter side to load_size. The crop is computed straight from the source pixels
    (PIL resize with a box), which equals resize-then-crop but costs only the crop. A key is an int index (crop
    seed = index) or a tuple (index, sample_seed); the crop offsets come from random.Random(sample_seed), so a
    key always gives the same tensor. An unreadable file is warned about once, recorded in `skipped`
    (path -> reason) and replaced by the next readable file (index + 1, + 2, ... mod len).

    Augmentation (off by default, the official transform): `load_size_max` > load_size draws each sample's load
    size uniformly from [load_size, load_size_max] (crops at several scales); `flips` adds random horizontal
    flips and 90° rotations (for the few style images: more distinct style samples). Both come from the
    sample seed too.
    """

    def __init__(self, root: str | os.PathLike, load_size: int = 512, crop_size: int = 256, square: bool = True,
                 max_pixels: int = DEFAULT_MAX_PIXELS, load_size_max: int = 0, flips: bool = False):
        self.load_size = _check_positive_int("load_size", load_size)
        self.crop_size = _check_positive_int("crop_size", crop_size)
        if self.load_size < self.crop_size:
            raise ConfigError(f"load_size ({load_size}) must be at least crop_size ({crop_size})")
        if load_size_max and load_size_max < self.load_size:
            raise ConfigError(f"load_size_max ({load_size_max}) must be 0 (no scale jitter) or at least "
                              f"load_size ({load_size})")
        self.load_size_max = load_size_max
        self.flips = bool(flips)
        self.root = Path(root)
        self.square = bool(square)
        self.max_pixels = max_pixels
        self.files = list_images(root)
        self.skipped: dict[Path, str] = {}

    def __len__(self) -> int:
        return len(self.files)

    @property
    def n_skipped(self) -> int:
        """Number of unreadable files met so far (in this process)."""
        return len(self.skipped)

    def _parse_key(self, key) -> tuple[int, int]:
        if isinstance(key, tuple):
            if len(key) != 2:
                raise TypeError(f"ImageFolder key must be an index or (index, sample_seed), got {key!r}")
            index, seed = operator.index(key[0]), operator.index(key[1])
        else:
            index, seed = operator.index(key), None
        n = len(self.files)
        if not -n <= index < n:
            raise IndexError(f"index {index} out of range for {n} images")
        index %= n
        return index, index if seed is None else seed

    def _crop(self, img: Image.Image, seed: int) -> torch.Tensor:
        w, h = img.size
        rng = random.Random(seed)
        load = rng.randint(self.load_size, self.load_size_max) if self.load_size_max else self.load_size
        if self.square:
            rw = rh = load
        else:
            scale = load / min(w, h)
            rw, rh = max(load, round(w * scale)), max(load, round(h * scale))
        top = rng.randint(0, rh - self.crop_size)
        left = rng.randint(0, rw - self.crop_size)
        sx, sy = w / rw, h / rh
        box = (left * sx, top * sy, (left + self.crop_size) * sx, (top + self.crop_size) * sy)
        # bilinear, like torchvision's Resize in the official code
        out = to_tensor(img.resize((self.crop_size, self.crop_size), Image.Resampling.BILINEAR, box=box))
        if self.flips:
            if rng.random() < 0.5:
                out = out.flip(-1)
            out = out.rot90(rng.randrange(4), dims=(-2, -1)).contiguous()
        return out

    def __getitem__(self, key) -> torch.Tensor:
        index, seed = self._parse_key(key)
        _, img = first_readable(self.files, index, self.skipped, "training", self.root, self.max_pixels)
        return self._crop(img, seed)


def first_readable(paths, start, skipped, what, root, max_pixels=DEFAULT_MAX_PIXELS):
    """(path, RGB image) of the first file of paths[start:] + paths[:start] that decodes.

    An unreadable file is recorded in `skipped` (path -> reason), warned about once ("skipping unreadable `what`
    image") and passed over from then on; DataError (naming `root`) when none decodes.
    """
    n = len(paths)
    for k in range(n):
        path = paths[(start + k) % n]
        if path in skipped:
            continue
        try:
            return path, open_image(path, max_pixels=max_pixels)
        except ImageError as e:
            skipped[path] = str(e)
            warnings.warn(f"skipping unreadable {what} image: {e}", stacklevel=3)
    raise DataError(f"none of the {n} image files under {root} could be read (e.g. {next(iter(skipped.values()))})")


def _mix64(x: int) -> int:
    """SplitMix64 finaliser: a fixed, well-spread hash of a 64-bit integer."""
    x &= 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return x ^ (x >> 31)


class InfiniteSampler(torch.utils.data.Sampler):
    """Endless stream of ImageFolder keys (index, sample_seed), a pure function of (seed, position).

    Epoch e (positions e*n .. e*n+n-1) visits a permutation of range(n) drawn from
    torch.Generator().manual_seed(seed + e); the sample seed of position p is a hash of (seed, p) in 0..2**31-1.
    Starting at `start` (e.g. step x samples per step, to resume a run) gives exactly the tail of the stream
    that starts at 0.
    """

    def __init__(self, n: int, seed: int = 0, start: int = 0):
        super().__init__()
        self.n = _check_positive_int("n", n)
        self.seed = operator.index(seed)
        self.start = operator.index(start)
        if self.start < 0:
            raise ConfigError(f"start must be >= 0, got {start!r}")
        self._cached = (None, None)  # (epoch, its permutation)

    def sample_seed(self, position: int) -> int:
        """The crop seed used at stream position `position`."""
        return _mix64(self.seed * 1_000_003 + position) % 2**31

    def _permutation(self, epoch: int) -> list[int]:
        if self._cached[0] != epoch:
            g = torch.Generator().manual_seed(self.seed + epoch)
            self._cached = (epoch, torch.randperm(self.n, generator=g).tolist())
        return self._cached[1]

    def at(self, position: int) -> tuple[int, int]:
        """The key at stream position `position`."""
        return self._permutation(position // self.n)[position % self.n], self.sample_seed(position)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        position = self.start
        while True:
            yield self.at(position)
            position += 1


class ShardSampler(torch.utils.data.Sampler):
    """One process's share of a stream split into steps: positions step·per_step + o for each o in `offsets`,
    for step = start_step, start_step + 1, … (each offset in [0, per_step); used by distributed training)."""

    def __init__(self, stream: InfiniteSampler, per_step: int, offsets, start_step: int = 0):
        super().__init__()
        self.stream, self.per_step, self.offsets, self.start_step = stream, per_step, list(offsets), start_step
        if not all(0 <= o < per_step for o in self.offsets):
            raise ConfigError(f"offsets must be in [0, {per_step}), got {self.offsets}")

    def __iter__(self) -> Iterator[tuple[int, int]]:
        step = self.start_step
        while True:
            for o in self.offsets:
                yield self.stream.at(step * self.per_step + o)
            step += 1


def demo_root() -> Path:
    """The bundled demo set: <repo>/data/demo, or its copy in an installed package (see its ATTRIBUTION.md)."""
    return kit_file("data/demo")


def demo_content_dir() -> Path:
    """Bundled content photographs."""
    return demo_root() / "content"


def demo_style_dir() -> Path:
    """Bundled style images (paintings)."""
    return demo_root() / "style"


def demo_eval_content_dir() -> Path:
    """Held-out evaluation photographs of the demo set; training never sees them."""
    return demo_root() / "eval" / "content"


def demo_eval_style_dir() -> Path:
    """Held-out evaluation paintings of the demo set; training never sees them."""
    return demo_root() / "eval" / "style"
