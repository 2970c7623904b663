"""Offline LPIPS: the shipped ST-LPIPS is really pretrained, backends resolve and fail as documented."""
import functools
import os

import numpy as np
import pytest
import torch
from skimage import data, transform

from rastlib._compat import import_torchvision
from rastlib.errors import ConfigError, RastError
from rastlib.model import perceptual
from rastlib.model.perceptual import load_lpips


@functools.lru_cache(maxsize=None)
def photo(name, size=64):
    """A bundled skimage photo as a [1,3,size,size] tensor in [0, 1]."""
    x = transform.resize(getattr(data, name)(), (size, size), anti_aliasing=True)
    return torch.from_numpy(np.ascontiguousarray(x)).permute(2, 0, 1).unsqueeze(0).float()


@pytest.fixture(scope="module")
def st():
    return load_lpips("stlpips")


@pytest.fixture
def empty_hub(tmp_path, monkeypatch):
    """A torch hub cache with no backbone file in it."""
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path))
    return tmp_path


def test_stlpips_is_offline_frozen_and_cached(st):
    assert st.backend == "stlpips-vgg (shift-tolerant, offline)"
    assert load_lpips("stlpips") is st
    assert not any(p.requires_grad for p in st.parameters())
    st.train()
    assert not st.training and not st.net.training


def test_stlpips_ranks_real_photos(st):
    x = torch.cat([photo("astronaut"), photo("coffee")])
    g = torch.Generator().manual_seed(0)
    noisy = (x + 0.03 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    other = torch.cat([photo("chelsea"), photo("chelsea")])
    with torch.no_grad():
        same, near, far = st(torch.cat([x, x, x]), torch.cat([x, noisy, other])).split(2)
    assert same.shape == (2,) and same.abs().max() < 1e-6
    assert (near > 0).all() and (near * 3 < far).all()


def test_stlpips_backbone_is_pretrained_not_random(st):
    tv = import_torchvision()
    fresh = [m for m in tv.models.vgg16().features if isinstance(m, torch.nn.Conv2d)]
    shipped = [m for m in st.net.net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(shipped) == len(fresh) == 13
    for a, b in zip(shipped, fresh):
        assert a.weight.shape == b.weight.shape and not torch.allclose(a.weight, b.weight)
        assert a.bias.abs().min() > 0  # VGG init zeroes every bias; trained ones are not
    # Every tensor of the shipped file is in the module (the package loads it with strict=False).
    import stlpips_pytorch
    path = os.path.join(os.path.dirname(stlpips_pytorch.__file__), "weights", "vST0.0", "vgg_shift_tolerant.pth")
    state = st.net.state_dict()
    for k, v in torch.load(path, map_location="cpu").items():
        assert torch.equal(state[k], v), k


def test_inputs_are_0_1_and_mapped_to_minus1_1(st):
    a, b = photo("astronaut", 40), photo("coffee", 40)
    with torch.no_grad():
        assert torch.allclose(st(a, b), st.net(2 * a - 1, 2 * b - 1).reshape(1))


def test_gradient_reaches_input(st):
    x = photo("astronaut", 48).clone().requires_grad_(True)
    d = st(x, photo("coffee", 48))
    d.sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_tiny_and_3d_inputs(st):
    a, b = torch.rand(3, 8, 8), torch.rand(3, 8, 8)
    d = st(a, b)
    assert d.shape == (1,) and torch.isfinite(d).all()
    assert torch.isfinite(st(torch.rand(1, 3, 6, 20), torch.rand(1, 3, 6, 20))).all()
    with pytest.raises(ValueError, match="differ in shape"):
        st(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 9))


def test_auto_falls_back_to_stlpips(st, empty_hub):
    m = load_lpips("auto")
    assert m is st and m.backend.startswith("stlpips")


def test_lpips_without_backbone_raises(empty_hub, monkeypatch):
    monkeypatch.setattr(perceptual, "_CACHE", {})
    with pytest.raises(RastError, match="vgg16-397923af.pth") as e:
        load_lpips("lpips")
    assert str(empty_hub) in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(RastError, match="alexnet-owt-7be5be79.pth"):
        load_lpips("lpips", net="alex")
    assert not os.listdir(empty_hub)  # nothing was downloaded or created


def test_random_backend_is_explicit():
    m = load_lpips("random")
    assert "RANDOM" in m.backend
    x = photo("astronaut", 32)
    with torch.no_grad():
        assert m(x, x).item() == 0 and m(x, photo("coffee", 32)).item() > 0


@pytest.mark.parametrize("kw", [{"backend": "dists"}, {"net": "squeeze"}, {"backend": "LPIPS"}])
def test_unknown_backend_or_net(kw):
    with pytest.raises(ConfigError):
        load_lpips(**kw)
