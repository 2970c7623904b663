"""ArtFID (Wright & Ommer, GCPR 2022), an optional metric: ArtFID = (1 + LPIPS(I_o, I_c)) · (1 + FID(I_o, I_s)).

- FID between the set of stylised images and the set of style images, on the 2048-d pool features of the
  Inception-v3 that the ArtFID authors trained on art (`art_inception.pth`, from their Hugging Face repository);
- LPIPS (AlexNet, v0.1) between each stylised image and its own content image, averaged over the pairs.

This follows `art_fid.compute_art_fid(mode="art_fid")` of the `art-fid` package and imports its network
definition (`art_fid.inception.Inception3`; the Makefile installs the package without its dependencies, because
it pins numpy < 2 and only this torch-only module is used). Two differences, both to make small sets work: images
go through the network one at a time at their own size (the package batches them, so they must share one size),
and the Fréchet distance's trace term is computed in a form that is exact for few samples (no scipy sqrtm).
ArtFID_∞, the package's default mode, extrapolates from subsets of at least 5000 pairs and is not offered here.
With few pairs the FID term is strongly biased upwards (its covariances have rank < n): compare models only on
the same pairs.

Images are exchanged as three folders, `stylized/`, `content/` and `style/`, holding one file per pair under the
same name (`00000_<content>__<style>.png`, …), so sorted file order pairs them, which is how the package's own
command line reads them: `python -m art_fid --mode art_fid --stylized_images D/stylized --content_images
D/content --style_images D/style` sees the same pairs.

Nothing is downloaded unless asked (`download=True`, CLI `--download-art-fid`: the Inception weights and LPIPS's
AlexNet); a missing package, weights file or backbone raises `MetricUnavailable` naming each missing file.
"""
import math
import os
import tempfile
from pathlib import Path

import torch

from ..data import list_images, load_image, save_image
from ..errors import ConfigError, MetricUnavailable, RastError
from ..paths import home_relative

ART_INCEPTION_URL = "https://huggingface.co/matthias-wright/art_inception/resolve/main/art_inception.pth"
ALEXNET_URL = "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"  # what torchvision fetches for LPIPS
FOLDERS = ("stylized", "content", "style")
INCEPTION_MIN_SIDE = 75  # Inception-v3's stem cannot take smaller images


def weights_path():
    """Where `art_inception.pth` is looked for: $RASTLIB_ART_INCEPTION, else the art-fid package's own download
    cache (<tmp>/art_fid/art_inception.pth), so a file that package fetched is reused."""
    default = Path(tempfile.gettempdir()) / "art_fid" / "art_inception.pth"
    return Path(os.environ.get("RASTLIB_ART_INCEPTION") or default)


def write_pair_folders(triples, out_dir):
    """Write (name, stylised, content, style) image tensors as `out_dir/{stylized,content,style}/NNNNN_name.png`.

    The stylised and content images of a pair must have the same size (LPIPS compares them pixel to pixel).
    Returns out_dir. Existing files of an earlier, longer run are removed so the three folders stay aligned.
    """
    out_dir = Path(out_dir)
    for sub in FOLDERS:
        for old in (out_dir / sub).glob("*.png"):
            old.unlink()
    n = 0
    for n, (name, stylised, content, style) in enumerate(triples, 1):
        if stylised.shape[-2:] != content.shape[-2:]:
            raise ConfigError(f"pair {name}: stylised {tuple(stylised.shape[-2:])} and content "
                              f"{tuple(content.shape[-2:])} differ in size")
        for sub, img in zip(FOLDERS, (stylised, content, style)):
            save_image(img.squeeze(0).cpu(), out_dir / sub / f"{n - 1:05d}_{name}.png")
    if n < 2:
        raise ConfigError(f"ArtFID needs at least 2 pairs (a covariance of the features), got {n}")
    return out_dir


def load_art_inception(path=None, download=False, device="cpu"):
    """The art-trained Inception-v3 of ArtFID with its weights; MetricUnavailable when the package or the file is
    missing (with download=True the file is fetched first)."""
    try:
        from art_fid.inception import Inception3
    except ImportError:
        raise MetricUnavailable("ArtFID needs the package art-fid (pip install --no-deps art-fid==0.0.2)") from None
    path = Path(path) if path else weights_path()
    _fetch(ART_INCEPTION_URL, path, download, "ArtFID needs its Inception weights (or set RASTLIB_ART_INCEPTION)")
    from ..model.encoder import load_weights
    state = load_weights(path)
    model = Inception3()
    missing = model.load_state_dict(state, strict=False).missing_keys
    trunk = [k for k in missing if not k.startswith(("fc", "AuxLogits"))]  # the heads are not used for features
    if trunk:
        raise MetricUnavailable(f"{path} is not the ArtFID Inception (missing {len(trunk)} weights, e.g. {trunk[0]})")
    return model.to(device).eval()


@torch.no_grad()
def inception_features(model, paths, device="cpu"):
    """[N, 2048] float64 pool features, one image at a time in [0, 1] like the package's ToTensor input."""
    feats = []
    for p in paths:
        x = load_image(p)
        if min(x.shape[-2:]) < INCEPTION_MIN_SIDE:
            raise ConfigError(f"{p}: ArtFID's Inception needs images of at least {INCEPTION_MIN_SIDE} px a side, "
                              f"got {x.shape[2]}x{x.shape[1]}")
        feats.append(model(x.unsqueeze(0).to(device), return_features=True).double().cpu())
    return torch.cat(feats)


def frechet_distance(a, b):
    """FID between two feature sets [N, D]: |μa − μb|² + tr Σa + tr Σb − 2 tr (Σa Σb)^½.

    tr (Σa Σb)^½ is the sum of the singular values (nuclear norm) of Σa^½ Σb^½, or, with Σ = XᵀX / (N − 1)
    for the centred features X, of Xa Xbᵀ / √((Na − 1)(Nb − 1)). With fewer samples than dimensions (ArtFID
    on a small set: N ≪ 2048) the covariances are singular, and the square root of their product, as the
    package's scipy sqrtm takes it, adds up round-off from thousands of zero eigenvalues; the sample-space form
    is exact."""
    if a.shape[0] < 2 or b.shape[0] < 2:
        raise ConfigError("the Fréchet distance needs at least 2 feature vectors per set")
    cov_a, cov_b = torch.cov(a.T), torch.cov(b.T)
    if max(len(a), len(b)) <= a.shape[1]:
        product = (a - a.mean(0)) @ (b - b.mean(0)).T / math.sqrt((len(a) - 1) * (len(b) - 1))
    else:
        product = _psd_sqrt(cov_a) @ _psd_sqrt(cov_b)
    tr_covmean = torch.linalg.svdvals(product).sum()
    return ((a.mean(0) - b.mean(0)).square().sum() + cov_a.trace() + cov_b.trace() - 2 * tr_covmean).item()


def _psd_sqrt(cov):
    vals, vecs = torch.linalg.eigh(cov)
    return vecs @ torch.diag(vals.clamp_min(0).sqrt()) @ vecs.T


def art_fid(pair_dir, perceptual=None, inception=None, download=False, device="cpu"):
    """ArtFID of the pairs in `pair_dir` (see `write_pair_folders`): {"art_fid", "fid", "lpips", "pairs", …}.

    `perceptual`: default real LPIPS-alex v0.1 (its torchvision backbone must be in the torch hub cache; the
    offline ST-LPIPS is a different metric and is never substituted). `inception`: default `load_art_inception`.
    """
    files = {sub: list_images(Path(pair_dir) / sub, recursive=False) for sub in FOLDERS}
    names = [[p.name for p in files[sub]] for sub in FOLDERS]
    if not names[0] == names[1] == names[2]:
        raise ConfigError(f"{pair_dir}: the folders {', '.join(FOLDERS)} must hold the same file names")
    missing = []  # report every missing file at once
    if perceptual is None:
        perceptual = _try(lambda: load_lpips_alex(download), missing)
    if inception is None:
        inception = _try(lambda: load_art_inception(download=download, device=device), missing)
    if missing:
        raise MetricUnavailable("; ".join(missing))
    fid = frechet_distance(inception_features(inception, files["stylized"], device),
                           inception_features(inception, files["style"], device))
    perceptual = perceptual.to(device)
    with torch.no_grad():
        lpips = torch.stack([perceptual(load_image(o).unsqueeze(0).to(device), load_image(c).unsqueeze(0).to(device))
                             for o, c in zip(files["stylized"], files["content"])]).mean().item()
    return {"art_fid": (1 + lpips) * (1 + fid), "fid": fid, "lpips": lpips, "pairs": len(names[0]),
            "lpips_backend": perceptual.backend, "pair_dir": str(pair_dir)}


def load_lpips_alex(download=False):
    """Real LPIPS-alex v0.1, ArtFID's content distance; MetricUnavailable when its backbone file is missing (with
    download=True it is fetched first). The offline ST-LPIPS is a different metric and is never substituted."""
    from ..model.perceptual import backbone_path, load_lpips
    _fetch(ALEXNET_URL, Path(backbone_path("alex")), download,
           "ArtFID's LPIPS-alex needs torchvision's AlexNet weights (or set TORCH_HOME)")
    return load_lpips("lpips", "alex")


def _fetch(url, path, download, what):
    """Make sure `path` exists: download `url` to it when allowed, else MetricUnavailable saying `what`."""
    if path.is_file():
        return
    if not download:
        raise MetricUnavailable(f"{what}: missing {home_relative(path)} (from {url}; fetch it with download=True, "
                                f"CLI --download-art-fid)")
    from ..data.download import download as fetch
    try:
        fetch(url, path)
    except RastError as e:
        raise MetricUnavailable(f"{what}: {e}") from None


def _try(load, missing):
    try:
        return load()
    except MetricUnavailable as e:
        missing.append(str(e))


def try_art_fid(triples, out_dir, download=False, device="cpu"):
    """Write the pairs to `out_dir` (`write_pair_folders`) and compute `art_fid`; or {"art_fid": None, "skipped":
    why} when it cannot run: its package, weights or LPIPS backbone is missing, or the pairs do not suit it (too
    small, fewer than 2). What eval, batch and 01 call, so a skipped ArtFID never fails their other work."""
    try:
        return art_fid(write_pair_folders(triples, out_dir), download=download, device=device)
    except (MetricUnavailable, ConfigError) as e:
        return {"art_fid": None, "skipped": str(e), "pair_dir": str(out_dir)}


def batch_pairs(content_dir, style_dir, out_dir, size=512, max_size=2048):
    """(name, stylised, content, style) of every output of `batch.stylize_folder` in `out_dir`, for
    `write_pair_folders`; contents and styles are loaded as the batch loaded them, so the sizes match."""
    from ..model.stylize import output_name
    styles, loaded = list_images(style_dir), {}  # each style loaded once, as the batch kept them
    for c in list_images(content_dir):
        done = [s for s in styles if (Path(out_dir) / output_name(c, s)).is_file()]
        content = load_image(c, size=size, max_size=max_size) if done else None
        for s in done:
            if s not in loaded:
                loaded[s] = load_image(s, size=size, max_size=max_size)
            name = output_name(c, s)
            yield Path(name).stem, load_image(Path(out_dir) / name), content, loaded[s]


def describe(result):
    """One line for a `try_art_fid` result."""
    if result["art_fid"] is None:
        return f"ArtFID skipped: {result['skipped']}"
    return (f"ArtFID {result['art_fid']:.4g} (FID {result['fid']:.4g}, LPIPS {result['lpips']:.4g}, "
            f"{result['pairs']} pairs; images in {result['pair_dir']})")
