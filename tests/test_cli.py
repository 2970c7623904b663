"""The command line: real runs on the committed checkpoint, and one clear line for every bad input."""
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from rastlib.app.cli import main
from rastlib.data import demo_content_dir, demo_style_dir, list_images
from rastlib.train.checkpoint import DEMO_CHECKPOINT

CONTENT = list_images(demo_content_dir())[0]
STYLE = list_images(demo_style_dir())[0]


def run_cli(capsys, *argv):
    """Run the CLI in-process; returns (exit status, stdout, stderr)."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as e:  # argparse errors
        code = e.code
    out = capsys.readouterr()
    return code, out.out, out.err


def assert_one_line_error(code, err, *needles):
    assert code == 2
    lines = [l for l in err.strip().splitlines() if l.strip()]
    assert "Traceback" not in err
    assert any(all(n in l for n in needles) for l in lines), err


def test_stylize_and_restore_write_images_of_the_input_size(tmp_path, capsys):
    out = tmp_path / "sub" / "o.png"
    code, stdout, err = run_cli(capsys, "stylize", CONTENT, STYLE, "-o", out, "--size", 72, "--alpha", 0.7)
    assert code == 0, err
    c = Image.open(CONTENT)
    w, h = c.size
    o = Image.open(out)
    assert min(o.size) == 72 and abs(o.size[0] / o.size[1] - w / h) < 0.05
    restored = tmp_path / "r.png"
    code, _, err = run_cli(capsys, "restore", out, CONTENT, "-o", restored, "--size", 72)
    assert code == 0, err
    assert Image.open(restored).size == o.size


def test_module_entry_point_runs_as_a_subprocess(tmp_path):
    out = tmp_path / "o.jpg"
    r = subprocess.run([sys.executable, "-m", "rastlib", "stylize", str(CONTENT), str(STYLE), "-o", str(out),
                        "--size", "64"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert out.is_file() and Image.open(out).mode == "RGB"


@pytest.mark.parametrize("argv, needles", [
    (["stylize", "missing.jpg", STYLE, "-o", "x.png"], ["error:", "missing.jpg"]),
    (["stylize", CONTENT, "nope/style.png", "-o", "x.png"], ["error:", "style.png"]),
    (["stylize", CONTENT, STYLE, "-o", "x.png", "--size", "0"], ["--size", "positive integer"]),
    (["stylize", CONTENT, STYLE, "-o", "x.png", "--size", "-5"], ["--size", "positive integer"]),
    (["stylize", CONTENT, STYLE, "-o", "x.png", "--size", "big"], ["--size", "positive integer"]),
    (["stylize", CONTENT, STYLE, "-o", "x.png", "--alpha", "1.5"], ["alpha", "[0, 1]"]),
    (["stylize", CONTENT, STYLE, "-o", "x.png", "--size", "16"], ["error:", "at least 32 px"]),
    (["stylize", CONTENT, STYLE, "-o", "x.png", "--checkpoint", "no.pt"], ["error:", "checkpoint not found"]),
    (["train", "--profile", "huge"], ["error:", "profile", "huge"]),
    (["train", "--profile", "smoke", "--set", "colour=1"], ["error:", "unknown config parameter", "colour"]),
    (["train", "--profile", "smoke", "--weight", "beauty=1"], ["error:", "unknown loss term", "beauty"]),
    (["train", "--profile", "smoke", "--set", "crop_size=-3"], ["error:", "crop_size"]),
    (["train", "--profile", "smoke", "--content-dir", "no/such/dir"], ["error:", "no/such/dir"]),
    (["train", "--profile", "smoke", "--set", "lr"], ["error:", "NAME=VALUE"]),
    (["train", "--profile", "smoke", "--allocator", "hoard"], ["error:", "allocator must be one of"]),
])
def test_bad_inputs_give_one_clear_line(tmp_path, capsys, monkeypatch, argv, needles):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(capsys, *argv)
    assert_one_line_error(code, err, *needles)


def test_unreadable_image_is_a_clear_error(tmp_path, capsys):
    fake = tmp_path / "photo.jpg"
    fake.write_text("this is not a JPEG")
    code, _, err = run_cli(capsys, "stylize", fake, STYLE, "-o", tmp_path / "o.png")
    assert_one_line_error(code, err, "error:", "photo.jpg")
    assert not (tmp_path / "o.png").exists()


class Payload:
    """A class whose pickled instance a weights_only load must refuse."""


def test_pickled_checkpoint_is_refused(tmp_path, capsys):
    bad = tmp_path / "evil.pt"
    torch.save({"format": "rastlib-checkpoint", "payload": Payload()}, bad)
    code, _, err = run_cli(capsys, "stylize", CONTENT, STYLE, "-o", tmp_path / "o.png", "--checkpoint", bad)
    assert_one_line_error(code, err, "error:", "weights_only")


def test_foreign_checkpoint_is_refused(tmp_path, capsys):
    other = tmp_path / "decoder_iter_160000.pth"
    torch.save({"0.weight": torch.zeros(1)}, other)
    code, _, err = run_cli(capsys, "stylize", CONTENT, STYLE, "-o", tmp_path / "o.png", "--checkpoint", other)
    assert_one_line_error(code, err, "error:", "not a rastlib checkpoint", "load_official")


def test_committed_checkpoint_is_small_fp16():
    assert DEMO_CHECKPOINT.is_file()
    assert DEMO_CHECKPOINT.stat().st_size <= 20 * 2**20
    ckpt = torch.load(DEMO_CHECKPOINT, weights_only=True)
    assert ckpt["kind"] == "inference"
    assert all(v.dtype == torch.float16 for part in ckpt["generator"].values() for v in part.values())
    assert ckpt["record"]["total_steps"] > 0


def test_train_help_lists_every_config_key_that_set_takes():
    from dataclasses import fields

    from rastlib.train.config import Config
    r = subprocess.run([sys.executable, "-m", "rastlib", "train", "--help"], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    from rastlib.train.config import CONFIG_HELP
    text = " ".join(r.stdout.split())  # argparse wraps the epilog
    for f in fields(Config):
        if f.name != "weights":  # each key with its default and its meaning
            assert f"{f.name} = {getattr(Config(), f.name)!r}: {' '.join(CONFIG_HELP[f.name].split())}" in text, f.name
    assert "amp = 'none'" in text and "--weight TERM=W" in text


def test_train_no_resume_export_and_diagnose(tmp_path, capsys):
    """A one-step CLI run, then the paths that use its checkpoint: --no-resume refuses the folder, export writes
    an fp16 generator that stylises, diagnose writes its three files with the bar."""
    import json

    from rastlib.data import demo_eval_content_dir, demo_eval_style_dir
    from rastlib.train.checkpoint import load_checkpoint, load_model
    run = tmp_path / "run"
    code, _, err = run_cli(capsys, "train", "--profile", "smoke", "--preset", "sanet", "--iterations", 1,
                           "--out", run)
    assert code == 0, err
    ckpt_path = run / "checkpoint.pt"
    before = ckpt_path.read_bytes()
    code, _, err = run_cli(capsys, "train", "--profile", "smoke", "--iterations", 2, "--out", run, "--no-resume")
    assert_one_line_error(code, err, "--no-resume")
    assert ckpt_path.read_bytes() == before  # refused before anything was trained or written

    exported = tmp_path / "model.pt"
    code, _, err = run_cli(capsys, "export", ckpt_path, exported)
    assert code == 0, err
    ckpt = load_checkpoint(exported)
    assert ckpt["kind"] == "inference" and ckpt["record"]["total_steps"] == 1
    assert ckpt["record"]["loss_preset"] == "sanet"
    tensors = [v for sd in ckpt["generator"].values() for v in sd.values() if v.is_floating_point()]
    assert tensors and all(v.dtype == torch.float16 for v in tensors)
    trained = load_checkpoint(ckpt_path)["generator"]
    some = next(iter(trained["decoder"]))
    assert torch.allclose(ckpt["generator"]["decoder"][some].float(), trained["decoder"][some], atol=1e-2)
    out_img = load_model(exported).T(torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 64))
    assert out_img.shape == (1, 3, 64, 64) and torch.isfinite(out_img).all()
    code, _, err = run_cli(capsys, "export", exported, tmp_path / "again.pt")
    assert_one_line_error(code, err, "already an inference checkpoint")

    photos, paintings = tmp_path / "photos", tmp_path / "paintings"
    for src, dst in ((demo_eval_content_dir(), photos), (demo_eval_style_dir(), paintings)):
        dst.mkdir()
        for p in list_images(src)[:3]:
            Image.open(p).save(dst / p.name)
    out = tmp_path / "diag"
    code, stdout, err = run_cli(capsys, "diagnose", "--checkpoint", exported, "--size", 64, "--out", out,
                                "--content-dir", photos, "--style-dir", paintings)
    assert code == 0, err
    d = json.loads((out / "diagnostics.json").read_text())
    assert d["n_photos"] == 3 and d["n_paintings"] == 3 and d["step"] == 1
    assert 0 <= d["diagnostics"]["content_retrieval_2nd"] <= 1 and d["diagnostics"]["chance"] == pytest.approx(1 / 3)
    assert "≥ 0.75" in (out / "diagnostics.md").read_text() and (out / "sheet.png").is_file()
    assert "content_retrieval_2nd" in stdout
