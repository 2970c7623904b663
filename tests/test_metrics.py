"""The optional metrics: colour-histogram distance, grayscale LPIPS, and ArtFID (with fake weights the test writes,
since the real ones are a download), its pairing of files, and its clear skip when files are missing."""
import json

import numpy as np
import pytest
import scipy.linalg
import torch

from rastlib.app.cli import main
from rastlib.data import demo_content_dir, demo_style_dir, list_images, load_image
from rastlib.errors import ConfigError, MetricUnavailable
from rastlib.eval.artfid import (FOLDERS, art_fid, frechet_distance, inception_features, load_art_inception,
                                 try_art_fid, write_pair_folders)
from rastlib.eval.metrics import color_histogram_distance, grayscale_lpips
from rastlib.model.perceptual import load_lpips
from rastlib.model.stylize import luminance_rgb


def test_color_histogram_distance_of_flat_colours_is_their_bin_gap():
    a = torch.zeros(1, 3, 8, 8)
    b = torch.ones(1, 3, 5, 7)  # another size: histograms are normalised
    assert color_histogram_distance(a, b).item() == pytest.approx(63 / 64)
    grey = torch.full((1, 3, 4, 4), 0.5)  # bin 32 of 64, against bin 0 in every channel
    assert color_histogram_distance(a, grey).item() == pytest.approx(32 / 64)
    red = torch.zeros(1, 3, 4, 4)
    red[:, 0] = 1.0  # only the R channel differs, by 63 bins: the mean over channels is a third of it
    assert color_histogram_distance(a, red).item() == pytest.approx(63 / 64 / 3)


def test_color_histogram_distance_ignores_where_the_pixels_are_but_not_their_colours():
    torch.manual_seed(0)
    x = torch.rand(2, 3, 16, 16)
    shuffled = x.flatten(2)[..., torch.randperm(256)].view_as(x)
    assert torch.equal(color_histogram_distance(x, shuffled), torch.zeros(2))
    assert (color_histogram_distance(x, x.flip(1)) > 0.01).all()  # R and B swapped: another colour distribution


def test_grayscale_lpips_ignores_colour_only_changes():
    perceptual = load_lpips("random", "alex")
    x = load_image(list_images(demo_content_dir())[0], size=64).unsqueeze(0)
    grey = luminance_rgb(x)
    assert grayscale_lpips(perceptual, x, grey).item() == pytest.approx(0.0, abs=1e-6)
    assert perceptual(x, grey).item() > 0.01  # the colour LPIPS sees the change
    assert grayscale_lpips(perceptual, x, x.flip(-1)).item() > 0.01  # a structural change is still seen


def scipy_fid(a, b):
    """The art-fid package's formula (scipy sqrtm), as an independent reference."""
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1.dot(s2)).real
    return float((mu1 - mu2) @ (mu1 - mu2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def test_frechet_distance_matches_the_scipy_formula():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(40, 6))
    b = rng.normal(size=(30, 6)) @ rng.normal(size=(6, 6)) + 2.0
    ours = frechet_distance(torch.from_numpy(a), torch.from_numpy(b))
    assert ours == pytest.approx(scipy_fid(a, b), rel=1e-6)
    assert frechet_distance(torch.from_numpy(a), torch.from_numpy(a)) == pytest.approx(0.0, abs=1e-8)
    shift = np.full(6, 0.5)  # same covariance: FID is the squared mean shift
    assert frechet_distance(torch.from_numpy(a), torch.from_numpy(a + shift)) == pytest.approx(6 * 0.25, rel=1e-6)
    with pytest.raises(ConfigError, match="at least 2"):
        frechet_distance(torch.from_numpy(a[:1]), torch.from_numpy(b))


def test_frechet_distance_is_exact_with_fewer_samples_than_dimensions():
    """ArtFID on a small set: 5 samples of 2048 large features, where a square root of singular covariances fails."""
    rng = np.random.default_rng(1)
    a = torch.from_numpy(rng.normal(scale=1e4, size=(5, 2048)))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6 * a.square().sum().item())
    assert frechet_distance(a, a + 3.0) == pytest.approx(2048 * 9.0, rel=1e-6)
    b = torch.from_numpy(rng.normal(scale=1e4, size=(7, 2048)))
    assert frechet_distance(a, b) == pytest.approx(frechet_distance(b, a), rel=1e-9) and frechet_distance(a, b) > 0


@pytest.fixture(scope="module")
def fake_inception(tmp_path_factory):
    """A randomly initialised art_fid Inception3 saved as the weights file (same keys as the real one)."""
    from art_fid.inception import Inception3
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("artfid") / "art_inception.pth"
    torch.save(Inception3().state_dict(), path)
    return path


def pairs(n, size=80):
    """n (name, stylised, content, style) tensors; the names sort in another order than the pairs. Each content is
    its own smooth random pattern and its stylised image a noisy copy, so a wrong pairing changes LPIPS a lot."""
    g = torch.Generator().manual_seed(1)
    out = []
    for i in range(n):
        content = torch.nn.functional.interpolate(torch.rand(1, 3, 4, 4, generator=g), size=(size, size),
                                                  mode="bilinear")[0]
        stylised = (content + 0.1 * torch.rand(3, size, size, generator=g)).clamp(0, 1)
        out.append((f"{'zyxwvutsrqponm'[i]}{i}", stylised, content, torch.rand(3, size + 8 * i, size, generator=g)))
    return out


def test_art_fid_pairs_files_by_order_and_follows_its_formula(tmp_path, fake_inception):
    triples = pairs(12)
    folder = write_pair_folders(triples, tmp_path / "pairs")
    names = [sorted(p.name for p in (folder / sub).iterdir()) for sub in FOLDERS]
    assert names[0] == names[1] == names[2] and names[0][0] == "00000_z0.png" and names[0][11] == "00011_o11.png"
    perceptual = load_lpips("random", "alex")
    inception = load_art_inception(fake_inception)
    result = art_fid(folder, perceptual=perceptual, inception=inception)
    saved = {sub: sorted((folder / sub).iterdir()) for sub in FOLDERS}
    load = [[load_image(p).unsqueeze(0) for p in saved[sub]] for sub in FOLDERS]
    with torch.no_grad():
        paired = torch.cat([perceptual(o, c) for o, c in zip(load[0], load[1])]).mean().item()
        mispaired = torch.cat([perceptual(o, c) for o, c in zip(load[0], load[1][1:] + load[1][:1])]).mean().item()
    fid = frechet_distance(inception_features(inception, saved["stylized"]),
                           inception_features(inception, saved["style"]))
    assert result["lpips"] == pytest.approx(paired, rel=1e-5) and mispaired > 2 * paired
    assert result["fid"] == pytest.approx(fid, rel=1e-6) and fid > 0
    assert result["art_fid"] == pytest.approx((1 + paired) * (1 + fid), rel=1e-5)
    assert result["pairs"] == 12


def test_art_fid_of_the_style_images_themselves_has_no_fid_term(tmp_path, fake_inception):
    triples = [(n, s[:, :80, :80], s[:, :80, :80], s[:, :80, :80]) for n, _, _, s in pairs(4)]
    inception = load_art_inception(fake_inception)
    folder = write_pair_folders(triples, tmp_path)
    result = art_fid(folder, perceptual=load_lpips("random", "alex"), inception=inception)
    spread = torch.cov(inception_features(inception, sorted((folder / "style").iterdir())).T).trace().item()
    assert spread > 1  # the random network's features are large: round-off is relative to them
    assert abs(result["fid"]) < 1e-9 * spread and result["lpips"] == pytest.approx(0.0, abs=1e-6)
    assert result["art_fid"] == pytest.approx(1.0 + result["fid"], rel=1e-9)


def test_art_fid_refuses_misaligned_folders_and_small_inputs(tmp_path, fake_inception):
    folder = write_pair_folders(pairs(3), tmp_path / "a")
    next((folder / "content").iterdir()).rename(folder / "content" / "99999_other.png")
    with pytest.raises(ConfigError, match="same file names"):
        art_fid(folder, perceptual=load_lpips("random", "alex"), inception=load_art_inception(fake_inception))
    with pytest.raises(ConfigError, match="at least 2 pairs"):
        write_pair_folders(pairs(1), tmp_path / "b")
    with pytest.raises(ConfigError, match="differ in size"):
        write_pair_folders([("x", torch.rand(3, 80, 80), torch.rand(3, 80, 96), torch.rand(3, 80, 80))] * 2, tmp_path)
    tiny = write_pair_folders(pairs(2, size=40), tmp_path / "c")
    with pytest.raises(ConfigError, match="at least 75 px"):
        art_fid(tiny, perceptual=load_lpips("random", "alex"), inception=load_art_inception(fake_inception))


def test_missing_or_wrong_weights_are_reported_not_raised_deep(tmp_path, monkeypatch):
    monkeypatch.setenv("RASTLIB_ART_INCEPTION", str(tmp_path / "none.pth"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    result = try_art_fid(pairs(2), tmp_path / "p")
    assert result["art_fid"] is None
    assert "none.pth" in result["skipped"] and "alexnet-owt-7be5be79.pth" in result["skipped"]
    assert "--download-art-fid" in result["skipped"]
    torch.save({"conv.weight": torch.zeros(1)}, tmp_path / "wrong.pth")
    with pytest.raises(MetricUnavailable, match="not the ArtFID Inception"):
        load_art_inception(tmp_path / "wrong.pth")
    one = try_art_fid(pairs(1), tmp_path / "one")  # too few pairs: skipped with the reason, not an error
    assert one["art_fid"] is None and "at least 2 pairs" in one["skipped"]


def test_cli_eval_and_batch_write_pair_folders_and_report_a_skipped_art_fid(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("RASTLIB_ART_INCEPTION", str(tmp_path / "none.pth"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    assert main(["eval", "--pairs", "2", "--size", "64", "--out", str(tmp_path / "ev"), "--art-fid",
                 "--lpips", "random"]) == 0
    out = capsys.readouterr().out
    assert "ArtFID skipped:" in out and "none.pth" in out and "lpips_gray_output_content" in out
    saved = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert saved["art_fid"]["art_fid"] is None and "none.pth" in saved["art_fid"]["skipped"]
    assert {"color_hist_output_content", "color_hist_output_style"} <= set(saved["summary"])
    names = [sorted(p.name for p in (tmp_path / "ev" / "art_fid" / sub).iterdir()) for sub in FOLDERS]
    assert names[0] == names[1] == names[2] and len(names[0]) == saved["pairs"]
    contents, styles = tmp_path / "c", tmp_path / "s"
    for folder, source in ((contents, demo_content_dir()), (styles, demo_style_dir())):
        folder.mkdir()
        for p in list_images(source)[:2]:
            (folder / p.name).write_bytes(p.read_bytes())
    assert main(["batch", str(contents), str(styles), "-o", str(tmp_path / "b"), "--size", "64", "--art-fid"]) == 0
    assert "ArtFID skipped:" in capsys.readouterr().out
    stylised = sorted((tmp_path / "b" / "art_fid" / "stylized").iterdir())
    first = f"00000_{list_images(contents)[0].stem}__{list_images(styles)[0].stem}.png"
    assert len(stylised) == 4 and stylised[0].name == first
    assert torch.equal(load_image(stylised[0]), load_image(tmp_path / "b" / stylised[0].name[6:]))
