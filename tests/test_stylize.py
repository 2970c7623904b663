"""Colour preservation (CORAL, luminance-only) and style interpolation: API and CLI."""
import pytest
import torch
from PIL import Image
from test_cli import CONTENT, STYLE, assert_one_line_error, run_cli

from rastlib.data import demo_style_dir, list_images
from rastlib.errors import ConfigError
from rastlib.model.stylize import coral, from_yiq, stylize, to_yiq

STYLE_B = list_images(demo_style_dir())[1]


def _mean_cov(x):
    flat = x.flatten(2)[0]
    centred = flat - flat.mean(1, keepdim=True)
    return flat.mean(1), centred @ centred.T / flat.shape[1]


def test_coral_gives_the_source_the_targets_colour_statistics():
    torch.manual_seed(0)
    target = torch.rand(1, 3, 40, 40) * torch.tensor([0.3, 0.6, 0.2]).view(1, 3, 1, 1) + 0.2
    source = torch.rand(1, 3, 32, 48) * 0.5 + 0.25
    out = coral(source, target)
    (m_out, c_out), (m_t, c_t) = _mean_cov(out), _mean_cov(target)
    assert torch.allclose(m_out, m_t, atol=1e-4) and torch.allclose(c_out, c_t, atol=1e-4)
    assert out.shape == source.shape


def test_yiq_round_trip():
    x = torch.rand(2, 3, 8, 8)
    assert torch.allclose(from_yiq(to_yiq(x)), x, atol=1e-5)


def test_luminance_mode_keeps_the_content_chrominance():
    from rastlib import load_image, load_model
    model = load_model()  # the demo checkpoint: its outputs are mostly inside [0, 1], unlike a random model's
    content, style = load_image(CONTENT, size=64).unsqueeze(0), load_image(STYLE, size=64).unsqueeze(0)
    out = stylize(model, content, style, preserve_color="luminance")
    inside = ((out > 0) & (out < 1)).all(1, keepdim=True).expand(-1, 2, -1, -1)  # clamping may move IQ
    assert inside.float().mean() > 0.5
    assert torch.allclose(to_yiq(out)[:, 1:][inside], to_yiq(content)[:, 1:][inside], atol=1e-4)
    plain = stylize(model, content, style)
    assert (to_yiq(plain)[:, 1:] - to_yiq(content)[:, 1:]).abs().mean() > 0.02  # without it, colours change


def test_interpolation_blends_styles_in_feature_space(random_rast):
    torch.manual_seed(0)
    content, a, b = torch.rand(1, 3, 48, 48), torch.rand(1, 3, 64, 48), torch.rand(1, 3, 48, 80)
    with torch.no_grad():
        only_a = random_rast.T(content, a)
        assert torch.allclose(stylize(random_rast, content, [a, b], weights=[1, 0]), only_a.clamp(0, 1), atol=1e-5)
        feats = [random_rast.encode(x) for x in (content, a, b)]
        t = [random_rast.transform(f[3], g[3], f[4], g[4]) for f, g in ((feats[0], feats[1]), (feats[0], feats[2]))]
        expected = random_rast.decoder(0.7 * t[0] + 0.3 * t[1])
    got = random_rast.T(content, [a, b], weights=[7, 3])  # normalised to 0.7 / 0.3
    assert torch.allclose(got, expected, atol=1e-5)
    for bad in ([1], [1, -1], [0, 0]):
        with pytest.raises(ConfigError, match="weights"):
            random_rast.T(content, [a, b], weights=bad)
    with pytest.raises(ConfigError, match="preserve_color"):
        stylize(random_rast, content, a, preserve_color="sepia")


def test_cli_interpolates_two_styles_and_preserves_colour(tmp_path, capsys):
    out = tmp_path / "o.png"
    code, _, err = run_cli(capsys, "stylize", CONTENT, STYLE, STYLE_B, "--weights", 0.7, 0.3,
                           "--preserve-color", "coral", "--size", 64, "-o", out)
    assert code == 0, err
    assert min(Image.open(out).size) == 64
    lum = tmp_path / "l.png"
    code, _, err = run_cli(capsys, "stylize", CONTENT, STYLE, "--preserve-color", "luminance", "--size", 64,
                           "-o", lum)
    assert code == 0, err
    assert Image.open(lum).size == Image.open(out).size
    code, _, err = run_cli(capsys, "stylize", CONTENT, STYLE, STYLE_B, "--weights", 1, "-o", out)
    assert_one_line_error(code, err, "2 styles", "1 weights")


def test_batch_stylises_every_pair_resumes_and_skips_bad_images(tmp_path, capsys):
    contents, styles = tmp_path / "contents", tmp_path / "styles"
    for folder, sources in ((contents, [CONTENT, STYLE_B]), (styles, [STYLE, STYLE_B])):
        folder.mkdir()
        for i, src in enumerate(sources):
            Image.open(src).convert("RGB").resize((48, 40)).save(folder / f"img{i}.png")
    (contents / "broken.jpg").write_bytes(b"")
    out = tmp_path / "out"
    with pytest.warns(UserWarning, match="broken.jpg"):
        code, printed, err = run_cli(capsys, "batch", contents, styles, "-o", out, "--size", 32)
    assert code == 0, err
    names = sorted(p.name for p in out.glob("*__*.png"))
    assert names == ["img0__img0.png", "img0__img1.png", "img1__img0.png", "img1__img1.png"]
    assert "4 written, 0 already there, 1 unreadable" in printed
    sheet = Image.open(out / "contact_sheet.png")
    assert sheet.size == (3 * 128, 3 * 128)  # styles + 1 columns, readable contents + 1 rows
    (out / "img1__img1.png").unlink()
    with pytest.warns(UserWarning, match="broken.jpg"):
        code, printed, _ = run_cli(capsys, "batch", contents, styles, "-o", out, "--size", 32)
    assert "1 written, 3 already there" in printed


@pytest.mark.parametrize("mode", [None, "luminance", "coral"])
def test_alpha_blend_equals_a_full_stylisation_at_every_alpha(mode):
    """The slider's one-encoding path gives what `stylize` gives from scratch (odd sizes: padding and crop)."""
    from rastlib import load_image, load_model
    from rastlib.model.stylize import AlphaBlend
    model = load_model()
    c = load_image(list_images(demo_style_dir())[0], size=50)
    s = load_image(list_images(demo_style_dir())[1], size=40)
    blend = AlphaBlend(model, c, s, mode)
    for alpha in (0.0, 0.35, 1.0):
        assert torch.allclose(blend(alpha), stylize(model, c, s, alpha=alpha, preserve_color=mode), atol=1e-5)
    with pytest.raises(ValueError, match="alpha"):
        blend(1.5)


def test_imports_run_one_way_and_images_get_the_usual_mode(tmp_path):
    """stylize never imports viz (viz draws stylisations; batch uses both); written images are not mkstemp's 0600."""
    import ast
    import os
    from pathlib import Path

    import rastlib.model.stylize
    from rastlib.data import save_image
    tree = ast.parse(Path(rastlib.model.stylize.__file__).read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not {m for m in imported if m and m.split(".")[-1] in ("viz", "batch")}
    umask = os.umask(0o022)
    try:
        path = save_image(torch.rand(3, 8, 8), tmp_path / "x.png")
    finally:
        os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o644


def test_bf16_inference_matches_fp32_and_auto_follows_the_hardware(monkeypatch):
    """precision="bf16" runs T and the slider under bf16 autocast with the weights still fp32: the image is the
    fp32 one within 30 dB PSNR; "auto" is bf16 exactly where the CPU names a bf16 unit; anything else is refused."""
    from rastlib.data import load_image
    from rastlib.model.stylize import AlphaBlend
    from rastlib.train import checkpoint as C
    from rastlib.train import probe
    c, s = load_image(CONTENT, size=96), load_image(STYLE, size=96)
    fp32, bf16 = C.load_model(precision="fp32"), C.load_model(precision="bf16")
    assert all(p.dtype == torch.float32 for p in bf16.parameters())
    a, b = fp32.T(c, s), bf16.T(c, s)
    assert b.dtype == torch.float32 and b.shape == a.shape
    mse = float(((a.clamp(0, 1) - b.clamp(0, 1)) ** 2).mean())
    assert 0 < mse and 10 * torch.log10(torch.tensor(1 / mse)) > 30
    blend = AlphaBlend(bf16, c, s)
    assert float((blend(1.0) - stylize(bf16, c, s)).abs().max()) < 0.05
    for flags, want in (([], "fp32"), (["amx_bf16"], "bf16")):
        monkeypatch.setattr(probe, "cpu_flags", lambda flags=flags: {"cpu": "x", "bf16_units": flags})
        assert C.resolve_precision("auto") == want
    assert C.resolve_precision("fp32") == "fp32"
    with pytest.raises(ConfigError, match="precision must be one of"):
        C.load_model(precision="half")
