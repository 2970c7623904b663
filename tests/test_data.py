"""Tests for rastlib.data and rastlib.data.download; every file is created here, in tmp_path."""

from __future__ import annotations

import functools
import hashlib
import http.server
import itertools
import os
import random
import socket
import struct
import threading
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from rastlib.data import (IMAGE_EXTENSIONS, ImageFolder, InfiniteSampler, ShardSampler, demo_content_dir, demo_root,
                          demo_style_dir, list_images, load_image, open_image, save_image, to_pil, to_rgb, to_tensor)
from rastlib.data.download import DATASETS, download, extract_zip, prepare_dataset
from rastlib.errors import ConfigError, DataError, ImageError


def noise(w: int, h: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))


def save(img: Image.Image, path: Path, **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, **kw)
    return path


def pixel(path: Path, xy=(0, 0)) -> tuple:
    img = open_image(path)
    assert img.mode == "RGB"
    return img.getpixel(xy)


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG file whose header declares width x height (a decompression-bomb stand-in)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(b"\0" * 16))
            + png_chunk(b"IEND", b""))


# ---------------------------------------------------------------- conversions

def test_grayscale_and_bilevel(tmp_path):
    assert pixel(save(Image.new("L", (4, 3), 77), tmp_path / "g.png")) == (77, 77, 77)
    assert pixel(save(Image.new("1", (4, 3), 1), tmp_path / "b.png")) == (255, 255, 255)
    assert pixel(save(Image.new("L", (4, 3), 5), tmp_path / "g.jpg")) == (5, 5, 5)


def test_alpha_is_composited_on_white(tmp_path):
    img = Image.new("RGBA", (3, 1))
    img.putdata([(255, 0, 0, 255), (255, 0, 0, 0), (0, 0, 0, 128)])
    path = save(img, tmp_path / "rgba.png")
    out = open_image(path)
    assert out.getpixel((0, 0)) == (255, 0, 0)
    assert out.getpixel((1, 0)) == (255, 255, 255)
    assert all(abs(c - 127) <= 1 for c in out.getpixel((2, 0)))
    la = Image.new("LA", (2, 2), (0, 0))
    assert pixel(save(la, tmp_path / "la.png")) == (255, 255, 255)


def test_palette_and_palette_transparency(tmp_path):
    pal = Image.new("P", (4, 4), 1)
    pal.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
    assert pixel(save(pal, tmp_path / "p.png")) == (10, 200, 30)
    assert pixel(save(pal, tmp_path / "p.gif")) == (10, 200, 30)
    assert pixel(save(pal, tmp_path / "pt.png", transparency=1)) == (255, 255, 255)
    assert pixel(save(pal, tmp_path / "pt.gif", transparency=1)) == (255, 255, 255)


def test_16bit_png_is_scaled_not_clipped(tmp_path):
    values = np.array([[0, 257 * 10, 32896, 65535]], dtype=np.uint16)
    src = Image.fromarray(values)
    assert src.mode == "I;16"
    out = np.asarray(open_image(save(src, tmp_path / "d16.png")))
    assert out[0, :, 0].tolist() == [0, 10, 128, 255]
    assert (out[..., 0] == out[..., 2]).all()


def test_16bit_big_endian_int_and_float(tmp_path):
    be = Image.frombytes("I;16B", (2, 1), np.array([0, 65535], dtype=">u2").tobytes())
    assert np.asarray(open_image(save(be, tmp_path / "be.tif")))[0, :, 0].tolist() == [0, 255]
    i32 = Image.fromarray(np.array([[0, 32896, 65535]], dtype=np.int32))
    assert np.asarray(open_image(save(i32, tmp_path / "i.tif")))[0, :, 0].tolist() == [0, 128, 255]
    f = Image.fromarray(np.array([[0.0, 0.5, 1.0]], dtype=np.float32))
    assert np.asarray(open_image(save(f, tmp_path / "f.tif")))[0, :, 0].tolist() == [0, 128, 255]
    assert (Image.open(tmp_path / "be.tif").mode, Image.open(tmp_path / "i.tif").mode) == ("I;16B", "I")
    assert Image.open(tmp_path / "f.tif").mode == "F"


def test_cmyk_jpeg_and_ycbcr(tmp_path):
    red = open_image(save(Image.new("CMYK", (16, 16), (0, 255, 255, 0)), tmp_path / "cmyk.jpg", quality=95))
    r, g, b = red.getpixel((8, 8))
    assert r > 230 and g < 25 and b < 25
    ycc = Image.new("RGB", (8, 8), (30, 160, 90)).convert("YCbCr")
    assert all(abs(a - b) <= 2 for a, b in zip(to_rgb(ycc).getpixel((0, 0)), (30, 160, 90)))
    assert all(abs(a - b) <= 4 for a, b in zip(pixel(save(ycc, tmp_path / "ycc.jpg", quality=95)), (30, 160, 90)))


def test_exif_orientation_is_applied(tmp_path):
    img = Image.new("RGB", (40, 20), (0, 0, 255))
    img.paste((255, 0, 0), (0, 0, 20, 20))  # left half red
    exif = Image.Exif()
    exif[0x0112] = 6  # display rotated 90 degrees clockwise
    out = open_image(save(img, tmp_path / "rot.jpg", exif=exif, quality=95))
    assert out.size == (20, 40)
    top, bottom = out.getpixel((10, 5)), out.getpixel((10, 35))
    assert top[0] > 200 and top[2] < 50
    assert bottom[2] > 200 and bottom[0] < 50


def test_tensor_round_trip_and_save_image(tmp_path):
    img = noise(7, 5)
    t = to_tensor(img)
    assert t.shape == (3, 5, 7) and t.dtype == torch.float32 and 0 <= t.min() and t.max() <= 1
    assert np.array_equal(np.asarray(to_pil(t)), np.asarray(img))
    out = save_image(t, tmp_path / "new" / "dir" / "x.png")
    assert np.array_equal(np.asarray(Image.open(out)), np.asarray(img))
    save_image(t.unsqueeze(0), tmp_path / "new" / "dir" / "x.jpg")
    assert sorted(p.name for p in (tmp_path / "new" / "dir").iterdir()) == ["x.jpg", "x.png"]
    odd = torch.tensor([-1.0, 2.0, float("nan")]).view(3, 1, 1)
    assert to_pil(odd).getpixel((0, 0)) == (0, 255, 0)
    with pytest.raises(ImageError, match="extension"):
        save_image(t, tmp_path / "x.unknown")
    with pytest.raises(ImageError, match=r"\[3, H, W\]"):
        to_pil(torch.zeros(4, 2, 2))


def test_load_image_size_and_max_size(tmp_path):
    path = save(noise(40, 20), tmp_path / "wide.png")
    assert load_image(path).shape == (3, 20, 40)
    assert load_image(path, size=10).shape == (3, 10, 20)
    assert load_image(path, size=30).shape == (3, 30, 60)  # size may enlarge
    with pytest.warns(UserWarning, match="max_size=16"):
        assert load_image(path, max_size=16).shape == (3, 8, 16)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_image(path, max_size=100).shape == (3, 20, 40)  # never enlarges, no warning
    for bad in (0, -3, 2.5, True, "8"):
        with pytest.raises(ConfigError, match="size"):
            load_image(path, size=bad)
        with pytest.raises(ConfigError, match="max_size"):
            load_image(path, max_size=bad)


# ---------------------------------------------------------------- errors

@pytest.mark.parametrize("case", ["missing", "directory", "empty", "text", "trunc_jpg", "trunc_png", "bomb",
                                  "limit"])
def test_bad_files_give_one_line_image_error(tmp_path, case):
    good = tmp_path / "good"
    save(noise(64, 64), good / "a.jpg", quality=90)
    save(noise(64, 64), good / "a.png")
    path = tmp_path / f"{case}.png"
    kw = {}
    if case == "directory":
        path.mkdir()
    elif case == "empty":
        path.write_bytes(b"")
    elif case == "text":
        path = tmp_path / "notes.jpg"
        path.write_text("this is not an image\n")
    elif case.startswith("trunc"):
        data = (good / f"a.{case[-3:]}").read_bytes()
        path = tmp_path / f"{case}.{case[-3:]}"
        path.write_bytes(data[: len(data) // 2])
    elif case == "bomb":
        path.write_bytes(png_declaring(100_000, 100_000))
    elif case == "limit":
        path = good / "a.png"
        kw = {"max_pixels": 1000}
    with pytest.raises(ImageError) as info:
        open_image(path, **kw)
    message = str(info.value)
    assert path.name in message and "\n" not in message
    expected = {"missing": "not found", "directory": "directory", "empty": "empty", "text": "not a recognised",
                "trunc_jpg": "truncated", "trunc_png": "truncated", "bomb": "bomb", "limit": "bomb"}[case]
    assert expected in message


def test_permission_denied(tmp_path, monkeypatch):
    path = save(noise(4, 4), tmp_path / "secret.png")
    if os.geteuid() == 0:  # root reads any file: simulate the refusal
        def refuse(*args, **kwargs):
            raise PermissionError(13, "Permission denied", str(path))
        monkeypatch.setattr("rastlib.data.images.open", refuse, raising=False)
    path.chmod(0)
    try:
        with pytest.raises(ImageError, match="permission denied.*secret.png"):
            open_image(path)
    finally:
        path.chmod(0o644)


# ---------------------------------------------------------------- listing

def test_list_images(tmp_path):
    save(noise(4, 4), tmp_path / "b.PNG")
    save(noise(4, 4), tmp_path / "a.jpg")
    save(noise(4, 4), tmp_path / "sub" / "deeper" / "c.jpeg")
    (tmp_path / "readme.txt").write_text("x")
    (tmp_path / "sub" / "loop").symlink_to(tmp_path, target_is_directory=True)  # a symlink loop
    odd_name = os.fsdecode(b"caf\xe9.png")  # not valid UTF-8
    save(noise(4, 4), tmp_path / odd_name)
    names = [p.relative_to(tmp_path).as_posix() for p in list_images(tmp_path)]
    assert names == sorted(names) and len(names) == 4
    assert set(names) == {"a.jpg", "b.PNG", "sub/deeper/c.jpeg", odd_name}
    assert len(list_images(tmp_path, recursive=False)) == 3
    assert open_image(tmp_path / odd_name).size == (4, 4)


def test_list_images_errors(tmp_path):
    with pytest.raises(DataError, match="nowhere"):
        list_images(tmp_path / "nowhere")
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "notes.txt").write_text("x")
    with pytest.raises(DataError) as info:
        list_images(tmp_path / "empty")
    assert "empty" in str(info.value) and ".jpg" in str(info.value)
    with pytest.raises(DataError, match="notes.txt"):
        list_images(tmp_path / "empty" / "notes.txt")
    assert set(IMAGE_EXTENSIONS) >= {".jpg", ".png", ".webp"}


def test_demo_paths():
    assert demo_root().name == "demo" and demo_root().parent.name == "data"
    assert demo_content_dir() == demo_root() / "content" and demo_style_dir() == demo_root() / "style"


# ---------------------------------------------------------------- ImageFolder

def test_image_folder_crop_matches_resize_then_crop(tmp_path):
    save(noise(45, 30), tmp_path / "a.png")
    ds = ImageFolder(tmp_path, load_size=16, crop_size=8)
    img = open_image(tmp_path / "a.png").resize((16, 16), Image.Resampling.BILINEAR)
    rng = random.Random(1234)
    top, left = rng.randint(0, 8), rng.randint(0, 8)
    expected = to_tensor(img.crop((left, top, left + 8, top + 8)))
    assert torch.allclose(ds[(0, 1234)], expected, atol=1.5 / 255)


def test_image_folder_determinism_and_keys(tmp_path):
    for i in range(3):
        save(noise(50, 40, seed=i), tmp_path / f"{i}.png")
    ds = ImageFolder(tmp_path, load_size=32, crop_size=16)
    assert len(ds) == 3
    a = ds[(1, 99)]
    assert a.shape == (3, 16, 16)
    assert torch.equal(a, ds[(1, 99)])
    assert torch.equal(a, ImageFolder(tmp_path, load_size=32, crop_size=16)[(1, 99)])
    assert torch.equal(ds[2], ds[(2, 2)])
    assert torch.equal(ds[-1], ds[(2, 2)])
    assert not torch.equal(ds[(1, 99)], ds[(1, 100)])
    random.seed(0)
    torch.manual_seed(0)
    b = ds[(1, 99)]
    random.seed(1)
    torch.manual_seed(1)
    assert torch.equal(b, ds[(1, 99)])  # global RNG state plays no part
    with pytest.raises(IndexError):
        ds[3]


@pytest.mark.parametrize("square", [True, False])
def test_image_folder_upscales_tiny_images(tmp_path, square):
    save(noise(1, 1), tmp_path / "dot.png")
    save(noise(1, 500), tmp_path / "line.png")
    save(noise(500, 1), tmp_path / "row.png")
    ds = ImageFolder(tmp_path, load_size=8, crop_size=6, square=square)
    for i in range(len(ds)):
        assert ds[(i, 7)].shape == (3, 6, 6)
    assert ds.n_skipped == 0


def test_image_folder_config_errors(tmp_path):
    save(noise(4, 4), tmp_path / "a.png")
    with pytest.raises(ConfigError, match="load_size"):
        ImageFolder(tmp_path, load_size=8, crop_size=16)
    with pytest.raises(ConfigError, match="crop_size"):
        ImageFolder(tmp_path, load_size=8, crop_size=0)
    with pytest.raises(DataError):
        ImageFolder(tmp_path / "missing")


def test_image_folder_skips_bad_files(tmp_path):
    save(noise(20, 20, seed=1), tmp_path / "a.png")
    (tmp_path / "b.jpg").write_text("not an image")
    save(noise(20, 20, seed=2), tmp_path / "c.png")
    ds = ImageFolder(tmp_path, load_size=16, crop_size=8)
    with pytest.warns(UserWarning, match="b.jpg"):
        got = ds[(1, 5)]
    assert torch.equal(got, ds[(2, 5)])  # the next readable file, same crop seed
    assert ds.n_skipped == 1 and tmp_path / "b.jpg" in ds.skipped
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # warned once only
        assert torch.equal(ds[(1, 5)], got)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.png").write_bytes(b"")
    (bad / "y.jpg").write_text("nope")
    with pytest.warns(UserWarning), pytest.raises(DataError, match="none of the 2"):
        ImageFolder(bad, load_size=8, crop_size=4)[0]


def _gradient(w=200, h=200):
    """An image whose red channel rises left to right (0 → 1) and green top to bottom: a crop's red slope per
    pixel says the scale it was loaded at (1/load), its sign whether it was flipped."""
    x = np.linspace(0, 1, w)[None, :].repeat(h, 0)
    y = np.linspace(0, 1, h)[:, None].repeat(w, 1)
    return Image.fromarray((np.stack([x, y, np.zeros_like(x)], -1) * 255).round().astype(np.uint8))


def _red_slope(crop):
    return (crop[0, :, -4:].mean() - crop[0, :, :4].mean()).item() / (crop.shape[-1] - 4)


def test_scale_jitter_draws_each_samples_load_size_and_flips_only_mirror(tmp_path):
    _gradient().save(tmp_path / "g.png")
    plain = ImageFolder(tmp_path, load_size=64, crop_size=32)
    jitter = ImageFolder(tmp_path, load_size=64, load_size_max=160, crop_size=32)
    flips = ImageFolder(tmp_path, load_size=64, crop_size=32, flips=True)
    keys = [(0, seed) for seed in range(40)]
    plain_slopes = [_red_slope(plain[k]) for k in keys]
    # no jitter: every crop at load 64 (slope 1/64); jitter: loads spread over [64, 160] (slopes 1/160 … 1/64)
    assert max(plain_slopes) - min(plain_slopes) < 0.1 / 64 and min(plain_slopes) > 0.8 / 64
    jitter_slopes = [_red_slope(jitter[k]) for k in keys]
    assert min(jitter_slopes) < 0.5 / 64 and max(jitter_slopes) > 0.8 / 64 and min(jitter_slopes) > 0.8 / 160
    # flips: each crop is the unflipped one (the same window) under one of the square's 8 symmetries (mirror,
    # quarter turns), and the samples use most of them
    dihedral = [lambda x, r=r, f=f: (x.flip(-1) if f else x).rot90(r, dims=(-2, -1))
                for f in (0, 1) for r in range(4)]
    used = set()
    for k in keys:
        hits = [i for i, t in enumerate(dihedral) if torch.equal(flips[k], t(plain[k]))]
        assert hits, k
        used.add(hits[0])
    assert len(used) >= 6 and 0 in used and any(i >= 4 for i in used)


def test_trainer_flips_and_jitters_what_the_config_says(tmp_path):
    from rastlib.train import Trainer
    from rastlib.train.config import make_config
    cfg = make_config("smoke", out_dir=str(tmp_path / "run"), style_flips=True, load_size_max=96)
    trainer = Trainer(cfg)
    content, style = trainer.datasets
    assert (content.flips, style.flips) == (False, True)
    assert content.load_size_max == style.load_size_max == 96


# ---------------------------------------------------------------- InfiniteSampler

def test_infinite_sampler_resume_is_tail_of_stream():
    n, seed = 5, 3
    stream = list(itertools.islice(iter(InfiniteSampler(n, seed=seed)), 60))
    for epoch in range(12):
        assert sorted(i for i, _ in stream[epoch * n:(epoch + 1) * n]) == list(range(n))
    assert all(0 <= s < 2**31 for _, s in stream)
    assert len({s for _, s in stream}) == len(stream)
    for k in (0, 1, 4, 5, 7, 13, 31):
        tail = list(itertools.islice(iter(InfiniteSampler(n, seed=seed, start=k)), 20))
        assert tail == stream[k:k + 20]
    other = list(itertools.islice(iter(InfiniteSampler(n, seed=seed + 1)), 60))
    assert other != stream
    with pytest.raises(ConfigError):
        InfiniteSampler(0)
    with pytest.raises(ConfigError):
        InfiniteSampler(3, start=-1)


def test_sampler_with_dataloader(tmp_path):
    for i in range(3):
        save(noise(12, 12, seed=i), tmp_path / f"{i}.png")
    ds = ImageFolder(tmp_path, load_size=8, crop_size=4)
    loader = torch.utils.data.DataLoader(ds, batch_size=2, sampler=InfiniteSampler(len(ds), seed=1))
    first = [b for b, _ in zip(loader, range(3))]
    resumed = torch.utils.data.DataLoader(ds, batch_size=2, sampler=InfiniteSampler(len(ds), seed=1, start=2))
    assert torch.equal(next(iter(resumed)), first[1])


def test_shard_sampler_resumes_and_splits_the_stream_as_training_uses_it():
    stream = InfiniteSampler(7, seed=2)
    whole = list(itertools.islice(iter(ShardSampler(stream, 4, range(4))), 40))
    assert whole == [stream.at(p) for p in range(40)]  # one process: the stream itself
    # two processes: each takes its offsets of every step, and together they are the stream
    ranks = [list(itertools.islice(iter(ShardSampler(stream, 4, offsets)), 20)) for offsets in ((0, 1), (2, 3))]
    rebuilt = [x for step in range(10) for rank in ranks for x in rank[2 * step:2 * step + 2]]
    assert rebuilt == whole
    # resumed at step k, a process yields the tail of what it would have from step 0 (Trainer.batches)
    for k in (1, 3, 6):
        tail = list(itertools.islice(iter(ShardSampler(stream, 4, (2, 3), start_step=k)), 8))
        assert tail == ranks[1][2 * k:2 * k + 8]
    with pytest.raises(ConfigError, match="offsets"):
        ShardSampler(stream, 4, (4,))


# ---------------------------------------------------------------- download

class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves files, honouring single "bytes=N-" Range requests unless the server says not to."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        path = Path(self.directory) / self.path.lstrip("/")
        if not path.is_file():
            self.send_error(404, "Not Found")
            return
        data = path.read_bytes()
        rng = self.headers.get("Range")
        self.server.ranges.append(rng)
        if rng and self.server.honour_range:
            start = int(rng.split("=")[1].split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            data = data[start:]
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def server(tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Handler, directory=str(served)))
    httpd.ranges, httpd.honour_range = [], True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    httpd.dir = served
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def make_zip(path: Path, names: list[str]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for i, name in enumerate(names):
            buf = Path(path.parent / f".tmp{i}.png")
            noise(3, 3, seed=i).save(buf)
            zf.write(buf, name)
            buf.unlink()
    return path


def test_download_and_checksum(server, tmp_path):
    payload = os.urandom(50_000)
    (server.dir / "blob.bin").write_bytes(payload)
    calls = []
    dest = download(f"{server.url}/blob.bin", tmp_path / "out" / "blob.bin", progress=lambda d, t: calls.append((d, t)))
    assert dest.read_bytes() == payload and not (tmp_path / "out" / "blob.bin.part").exists()
    assert calls[-1] == (50_000, 50_000)
    good = hashlib.sha256(payload).hexdigest()
    assert download(f"{server.url}/blob.bin", tmp_path / "b2", sha256=good, progress=False).read_bytes() == payload
    with pytest.raises(DataError, match="sha256"):
        download(f"{server.url}/blob.bin", tmp_path / "b3", sha256="0" * 64, progress=False)
    assert not (tmp_path / "b3").exists() and not (tmp_path / "b3.part").exists()


@pytest.mark.parametrize("honour_range", [True, False])
def test_download_resumes_partial_file(server, tmp_path, honour_range):
    payload = os.urandom(30_000)
    (server.dir / "blob.bin").write_bytes(payload)
    server.honour_range = honour_range
    dest = tmp_path / "blob.bin"
    (tmp_path / "blob.bin.part").write_bytes(payload[:12_345])
    assert download(f"{server.url}/blob.bin", dest, progress=False).read_bytes() == payload
    assert server.ranges == ["bytes=12345-"]


def test_download_complete_part_and_http_errors(server, tmp_path):
    payload = os.urandom(1000)
    (server.dir / "blob.bin").write_bytes(payload)
    (tmp_path / "done.bin.part").write_bytes(payload)  # complete but not yet renamed: server answers 416
    assert download(f"{server.url}/blob.bin", tmp_path / "done.bin", progress=False).read_bytes() == payload
    with pytest.raises(DataError, match="404"):
        download(f"{server.url}/missing.zip", tmp_path / "missing.zip", progress=False)
    assert not (tmp_path / "missing.zip").exists()


def test_download_timeout(tmp_path):
    with socket.socket() as silent:  # accepts connections (backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/x.zip"
        with pytest.raises(DataError, match="timed out"):
            download(url, tmp_path / "x.zip", progress=False, timeout=0.3)


def test_prepare_dataset_from_local_server(server, tmp_path):
    make_zip(server.dir / "wikiart.zip", ["wikiart/Impressionism/a.png", "wikiart/Impressionism/b.png",
                                          "wikiart/Ukiyo_e/c.png"])
    make_zip(server.dir / "train2014.zip", ["train2014/COCO_1.png", "train2014/COCO_2.png", "train2014/COCO_3.png"])
    root = tmp_path / "data"
    folder = prepare_dataset("wikiart", root, url=f"{server.url}/wikiart.zip", progress=False)
    assert folder == root / "wikiart"
    assert [p.relative_to(folder).as_posix() for p in list_images(folder)] == [
        "Impressionism/a.png", "Impressionism/b.png", "Ukiyo_e/c.png"]
    assert sorted(p.name for p in root.iterdir()) == ["wikiart"]  # archive and staging folder removed
    # already present: no download (the URL is not even valid)
    assert prepare_dataset("wikiart", root, url="http://127.0.0.1:9/none.zip", progress=False) == folder
    coco = prepare_dataset("coco_train2014", root, url=f"{server.url}/train2014.zip", progress=False)
    assert coco == root / "coco" / "train2014" and len(list_images(coco)) == 3
    assert {"coco_train2014", "coco_val2014", "wikiart"} <= set(DATASETS)
    with pytest.raises(DataError, match="unknown data set"):
        prepare_dataset("imagenet", root)


def test_extract_zip_refuses_zip_slip(tmp_path):
    for i, evil in enumerate(["../evil.txt", "/tmp/rast_evil.txt", "ok/../../evil.txt"]):
        archive = tmp_path / f"evil{i}.zip"
        with zipfile.ZipFile(archive, "w") as zf:
            zf.writestr("good.txt", "fine")
            zf.writestr(evil, "bad")
        with pytest.raises(DataError, match="refusing"):
            extract_zip(archive, tmp_path / f"out{i}")
        assert not (tmp_path / "evil.txt").exists() and not (tmp_path / f"out{i}" / "good.txt").exists()
    (tmp_path / "broken.zip").write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(DataError, match="broken.zip"):
        extract_zip(tmp_path / "broken.zip", tmp_path / "out")
