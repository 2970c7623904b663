"""The bad-input corpus: messy files as scraped folders hold them, made here, tried on every loader.

Each case is either readable (converted to RGB: the loaders must give a sane image) or unreadable (the image
loader gives a one-line ImageError naming the file; the training dataset and the notebooks' evaluation pairs
skip it with a counted warning; the CLI exits with status 2 and one line on stderr). Never a crash or a hang.
"""
import dataclasses
import io
import os
import struct
import warnings
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from rastlib import lab as E
from rastlib.app.cli import main, printable
from rastlib.data import ImageFolder, list_images, load_image, open_image
from rastlib.errors import ConfigError, DataError, ImageError


def photo(w=40, h=30, mode="RGB"):
    """A smooth colour gradient (a bright red-to-blue ramp), converted to `mode`."""
    x = np.linspace(0, 1, w)[None, :, None]
    y = np.linspace(0, 1, h)[:, None, None]
    rgb = np.concatenate([np.broadcast_to(x, (h, w, 1)), np.broadcast_to(y, (h, w, 1)),
                          np.broadcast_to(1 - x, (h, w, 1))], axis=2)
    return Image.fromarray((rgb * 255).astype(np.uint8)).convert(mode)


def encoded(img, fmt, **kw):
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def png_declaring(width, height):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16))
            + chunk(b"IEND", b""))


def exif_rotated():
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise to display
    return encoded(photo(40, 30), "JPEG", exif=exif)


def sixteen_bit():
    arr = (np.linspace(0, 65535, 40 * 30).reshape(30, 40)).astype(np.uint16)
    return encoded(Image.frombytes("I;16", (40, 30), arr.astype("<u2").tobytes()), "PNG")


def animated_gif():
    frames = [photo(), photo().transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    return encoded(frames[0], "GIF", save_all=True, append_images=frames[1:])


JPEG = encoded(photo(), "JPEG", quality=90)
PNG = encoded(photo(), "PNG")

# name -> bytes of a file that must load as an RGB image (with the size it must have)
READABLE = {
    "gray.png": (encoded(photo(mode="L"), "PNG"), (30, 40)),
    "bilevel.png": (encoded(photo(mode="1"), "PNG"), (30, 40)),
    "rgba.png": (encoded(photo(mode="RGBA"), "PNG"), (30, 40)),
    "gray_alpha.png": (encoded(photo(mode="LA"), "PNG"), (30, 40)),
    "palette.png": (encoded(photo(mode="P"), "PNG"), (30, 40)),
    "palette_transparent.png": (encoded(photo(mode="P"), "PNG", transparency=0), (30, 40)),
    "sixteen_bit.png": (sixteen_bit(), (30, 40)),
    "int32.tif": (encoded(photo(mode="I"), "TIFF"), (30, 40)),
    "float.tif": (encoded(photo(mode="F"), "TIFF"), (30, 40)),
    "cmyk.jpg": (encoded(photo(mode="CMYK"), "JPEG"), (30, 40)),
    "exif_rotated.jpg": (exif_rotated(), (40, 30)),  # shown upright: 30 wide, 40 high
    "progressive.jpg": (encoded(photo(), "JPEG", progressive=True), (30, 40)),
    "animated.gif": (animated_gif(), (30, 40)),
    "image.webp": (encoded(photo(), "WEBP"), (30, 40)),
    "image.bmp": (encoded(photo(), "BMP"), (30, 40)),
    "one_pixel.png": (encoded(photo(1, 1), "PNG"), (1, 1)),
    "one_by_5000.png": (encoded(photo(1, 5000), "PNG"), (5000, 1)),
    "UPPER_CASE.JPG": (JPEG, (30, 40)),
    "png_named.jpg": (PNG, (30, 40)),  # the extension lies, the content is sniffed
    "caf\udce9_latin1.jpg": (JPEG, (30, 40)),  # a file name that is not UTF-8 (b"caf\xe9")
}

# name -> (bytes, or a special kind, and the words its one-line error must hold)
UNREADABLE = {
    "empty.jpg": (b"", "empty"),
    "empty.png": (b"", "empty"),
    "truncated.jpg": (JPEG[: len(JPEG) // 2], "truncated"),
    "truncated.png": (PNG[: len(PNG) // 2], "truncated"),
    "header_only.jpg": (JPEG[:20], "not a recognised"),
    "text.jpg": (b"this is not an image\n" * 10, "not a recognised"),
    "error_page.png": (b"<html><body>403 Forbidden</body></html>", "not a recognised"),
    "random_bytes.jpg": (bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8)), "not a recognised"),
    "bomb.png": (png_declaring(100_000, 100_000), "bomb"),
    "bomb.gif": (b"GIF89a" + struct.pack("<HH", 65535, 65535) + b"\x00\x00\x00;", "bomb"),
    "zeros.png": (b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "not a recognised"),
    "a_folder.jpg": ("directory", "directory"),
    "dangling_link.jpg": ("dangling", "not found"),
    "link_loop.jpg": ("loop", "cannot access"),
    "caf\udce9_broken.png": (b"", "empty"),  # a bad file whose name is not UTF-8 either
}


def write_corpus(root):
    """Write every case into `root`; returns (readable paths → expected (H, W), unreadable paths → words)."""
    root.mkdir(parents=True, exist_ok=True)
    readable, unreadable = {}, {}
    for name, (data, shape) in READABLE.items():
        path = root / name
        path.write_bytes(data)
        readable[path] = shape
    for name, (data, words) in UNREADABLE.items():
        path = root / name
        if data == "directory":
            path.mkdir()
        elif data == "dangling":
            path.symlink_to(root / "no_such_file.jpg")
        elif data == "loop":
            path.symlink_to(root / "link_loop_b.jpg")
            (root / "link_loop_b.jpg").symlink_to(path)
        else:
            path.write_bytes(data)
        unreadable[path] = words
    (root / "loop_dir").symlink_to(root, target_is_directory=True)  # a folder link loop: never followed
    return readable, unreadable


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    return root, *write_corpus(root)


def test_the_corpus_has_at_least_30_cases(corpus):
    _, readable, unreadable = corpus
    assert len(readable) + len(unreadable) >= 30


def test_image_loader_converts_or_names_the_file_in_one_line(corpus):
    _, readable, unreadable = corpus
    for path, (h, w) in readable.items():
        x = load_image(path)
        assert x.shape == (3, h, w) and x.dtype == torch.float32, path.name
        assert 0.0 <= x.min() and x.max() <= 1.0 and x.std() > 0 or (h, w) == (1, 1), path.name
    for path, words in unreadable.items():
        with pytest.raises(ImageError) as info:
            open_image(path)
        message = str(info.value)
        assert "\n" not in message and path.name in message and words in message, (path.name, message)


def test_exif_orientation_and_16_bit_values_are_right(corpus):
    root, _, _ = corpus
    rotated = load_image(root / "exif_rotated.jpg")
    assert rotated[0, 0, :].mean() < rotated[0, -1, :].mean()  # turned 90° clockwise: the red ramp runs downwards
    deep = load_image(root / "sixteen_bit.png")
    assert deep.max() > 0.95 and deep.min() < 0.05  # scaled from 0…65535, not clipped at 255


def test_extreme_aspect_ratio_loads_without_a_huge_intermediate(corpus):
    root, _, _ = corpus
    with pytest.warns(UserWarning, match="max_size"):
        x = load_image(root / "one_by_5000.png", size=512, max_size=2048)
    assert x.shape == (3, 2048, 1)


def test_training_dataset_skips_and_counts_every_unreadable_file(corpus):
    root, readable, unreadable = corpus
    ds = ImageFolder(root, load_size=72, crop_size=64)
    files = set(ds.files)
    assert set(readable) <= files and not any(p.is_dir() for p in files)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        crops = [ds[(i, i)] for i in range(len(ds))]
    assert all(c.shape == (3, 64, 64) and torch.isfinite(c).all() for c in crops)
    bad = files - set(readable)
    assert set(ds.skipped) == bad and ds.n_skipped == len(bad) >= 14
    assert len([w for w in caught if "skipping unreadable" in str(w.message)]) == len(bad)  # once each


def test_a_folder_with_no_images_or_only_bad_ones_is_a_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no image files"):
        ImageFolder(tmp_path / "empty", load_size=72, crop_size=64)
    bad = tmp_path / "bad"
    bad.mkdir()
    for name in ("a.jpg", "b.png"):
        (bad / name).write_bytes(b"")
    with pytest.warns(UserWarning), pytest.raises(DataError, match="none of the 2"):
        ImageFolder(bad, load_size=72, crop_size=64)[0]
    (tmp_path / "loop").mkdir()
    (tmp_path / "loop" / "self").symlink_to(tmp_path / "loop", target_is_directory=True)
    with pytest.raises(DataError, match="no image files"):  # the link loop is not followed: no hang
        list_images(tmp_path / "loop")


def test_notebook_loaders_skip_unreadable_files_and_name_bad_folders(corpus, tmp_path):
    root, readable, _ = corpus
    budget = E.check_parameters("smoke", eval_content_dir=str(root), eval_style_dir=str(root))
    budget = dataclasses.replace(budget, eval_pairs=12)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pairs = E.eval_pairs(budget)
    assert all(c in readable and s in readable for c, s in pairs)
    assert any("skipping unreadable evaluation image" in str(w.message) for w in caught)
    (tmp_path / "empty").mkdir()
    for name, value in (("content_dir", tmp_path / "empty"), ("style_dir", tmp_path / "missing"),
                        ("eval_content_dir", tmp_path / "empty"), ("eval_style_dir", tmp_path / "missing")):
        with pytest.raises(ConfigError, match=f"parameter '{name}'"):
            E.check_parameters("smoke", **{name: str(value)})


def test_cli_stylize_exits_2_with_one_line_or_writes_an_image(corpus, tmp_path, capsys):
    root, readable, unreadable = corpus
    style = root / "gray.png"
    for path in [*readable, *unreadable]:
        out = tmp_path / "out.png"
        out.unlink(missing_ok=True)
        code = main(["stylize", os.fspath(path), os.fspath(style), "--size", "32", "--max-size", "256",
                     "-o", os.fspath(out)])
        err = capsys.readouterr().err.strip()
        if path.name == "one_by_5000.png":  # 256 × 1 px once within --max-size: too thin for the network
            assert code == 2 and err == "error: content image is 256×1 px; RAST needs at least 32 px per side"
        elif path in readable:
            assert code == 0 and out.is_file(), (path.name, err)
        else:
            assert code == 2 and not out.exists(), path.name
            assert err.startswith("error: ") and len(err.splitlines()) == 1 and printable(path.name) in err, err
