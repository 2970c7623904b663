"""The official RAST files: the kit writes its model in their format, reads them back to the same model, and
compares two models side by side (CLI `compare-upstream`); fakes stand in for the real 160k-iteration files."""
import json

import pytest
import torch

from rastlib.app.cli import main
from rastlib.app.demo import demo_pairs
from rastlib.data import demo_content_dir, demo_style_dir, list_images, load_image
from rastlib.errors import CheckpointError
from rastlib.eval.upstream import compare, load_upstream, save_official
from rastlib.train.checkpoint import load_model


@pytest.fixture(scope="module")
def official_files(tmp_path_factory):
    """The committed demo model written as decoder_iter_160000.pth, transformer_iter_160000.pth, vgg_normalised.pth."""
    return save_official(load_model(), tmp_path_factory.mktemp("official"))


def test_official_files_have_the_official_names_and_keys(official_files):
    decoder, transformer, vgg = official_files
    assert (decoder.name, transformer.name, vgg.name) == ("decoder_iter_160000.pth", "transformer_iter_160000.pth",
                                                          "vgg_normalised.pth")
    keys = torch.load(vgg, weights_only=True).keys()
    assert len(keys) == 2 * 17 and {"0.weight", "2.weight", "51.bias"} <= set(keys)  # 1×1 conv + 16 VGG convs
    assert "sanet4_1.f.weight" in torch.load(transformer, weights_only=True)


def test_upstream_model_from_the_files_equals_the_source_model(official_files):
    ours, theirs = load_model(), load_upstream(*official_files)
    assert theirs.encoder.source == "vgg_normalised"
    c = load_image(list_images(demo_content_dir())[0], size=96).unsqueeze(0)
    s = load_image(list_images(demo_style_dir())[0], size=96).unsqueeze(0)
    with torch.no_grad():
        assert torch.allclose(ours.T(c, s), theirs.T(c, s), atol=1e-4)


def test_compare_writes_figure_and_tables_and_tells_models_apart(tmp_path, official_files):
    ours = load_model()
    theirs = load_upstream(*official_files)
    pairs = demo_pairs(2)
    same = compare(ours, theirs, pairs, tmp_path / "same", size=64)
    assert same["ours_vs_theirs"]["output_mae"]["mean"] < 1e-3
    assert same["ours"]["restoration_ssim"]["mean"] == pytest.approx(same["theirs"]["restoration_ssim"]["mean"],
                                                                     abs=1e-3)
    for name in ("comparison.png", "metrics.json", "metrics.md"):
        assert (tmp_path / "same" / name).stat().st_size > 0
    with torch.no_grad():  # another generator behind the same files: the comparison must see it
        for p in theirs.decoder.parameters():
            p.add_(0.05 * torch.randn_like(p))
    other = compare(ours, theirs, pairs, tmp_path / "other", size=64)
    assert other["ours_vs_theirs"]["output_mae"]["mean"] > 0.01
    assert other["ours_vs_theirs"]["output_ssim"]["mean"] < same["ours_vs_theirs"]["output_ssim"]["mean"]
    detail = json.loads((tmp_path / "other" / "metrics.json").read_text())["pairs_detail"]
    assert [r["content"] for r in detail["ours"]] == [c.name for c, _ in pairs]


def test_cli_compare_upstream(tmp_path, capsys, official_files):
    decoder, transformer, vgg = official_files
    code = main(["compare-upstream", "--decoder", str(decoder), "--transformer", str(transformer), "--vgg", str(vgg),
                 "--pairs", "2", "--size", "64", "--out", str(tmp_path), "--lpips", "random"])
    out = capsys.readouterr().out
    assert code == 0 and "| restoration_ssim |" in out and "output_mae" in out
    assert (tmp_path / "comparison.png").is_file()


def test_cli_compare_upstream_with_a_wrong_file_is_one_line(tmp_path, capsys, official_files):
    decoder, transformer, _ = official_files
    code = main(["compare-upstream", "--decoder", str(decoder), "--transformer", str(transformer),
                 "--vgg", str(decoder), "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and "not a vgg_normalised state dict" in err
    with pytest.raises(CheckpointError, match="keys do not match"):
        load_upstream(transformer, transformer, official_files[2])
