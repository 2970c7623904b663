"""The training data sets and their samplers, and the bundled demo set.

`ImageFolder` and the `InfiniteSampler` are pure functions of (index, seed) and (seed, position), so a run that
resumes from a checkpoint, or loads with several workers, sees exactly the samples it would have seen anyway.
"""

from __future__ import annotations

import operator
import os
import random
from collections.abc import Iterator
from pathlib import Path

import torch
from PIL import Image

from ..errors import ConfigError
from ..paths import kit_file
from .images import DEFAULT_MAX_PIXELS, _check_positive_int, first_readable, list_images, to_tensor


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
