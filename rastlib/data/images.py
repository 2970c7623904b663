"""Robust image loading: every way an image file can be bad (missing, empty, truncated, not an image, a
decompression bomb, unreadable) becomes one `ImageError` line that names the file; every pixel format PIL can open
(grayscale, alpha, palette, 16-bit, float, CMYK, YCbCr) becomes 8-bit RGB, turned upright by its EXIF orientation.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from ..atomic import atomic_write
from ..errors import ConfigError, DataError, ImageError

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
