"""The networks: shapes, alpha, the SANet formula, and loading the official RAST files (fakes with their keys)."""
import pytest
import torch
import torch.nn.functional as F

from rastlib.errors import CheckpointError, ImageError
from rastlib.model import RAST, ProjectionHeads
from rastlib.model.encoder import VGGEncoder
from rastlib.model.ops import mean_variance_norm
from rastlib.model.sanet import SANet, Transform, uniform_attention_init


def test_output_has_the_input_size_for_odd_sizes(random_rast):
    with torch.no_grad():
        out = random_rast.T(torch.rand(1, 3, 70, 93), torch.rand(1, 3, 64, 80))
        single = random_rast.T(torch.rand(3, 45, 37), torch.rand(3, 50, 50))
    assert out.shape == (1, 3, 70, 93)
    assert single.shape == (3, 45, 37)


def test_alpha_blends_the_identity_and_the_stylised_features(random_rast):
    c, s = torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 64)
    m = random_rast
    with torch.no_grad():
        fc, fs = m.encode(c), m.encode(s)
        t = m.transform(fc[3], fs[3], fc[4], fs[4])
        ident = m.transform(fc[3], fc[3], fc[4], fc[4])
        assert torch.allclose(m.T(c, s, alpha=0.0), m.T(c, c), atol=1e-5)
        assert torch.allclose(m.T(c, s, alpha=1.0), m.decoder(t), atol=1e-5)
        assert torch.allclose(m.T(c, s, alpha=0.3), m.decoder(0.3 * t + 0.7 * ident), atol=1e-5)


@pytest.mark.parametrize("bad, error", [
    (dict(alpha=1.5), ValueError), (dict(alpha=-0.1), ValueError),
    (dict(content=torch.rand(1, 3, 20, 64)), ImageError), (dict(content=torch.rand(1, 1, 64, 64)), ImageError),
    (dict(style=torch.rand(2, 3, 64, 64)), ValueError),
])
def test_bad_inputs_raise_clear_errors(random_rast, bad, error):
    args = dict(content=torch.rand(3, 3, 64, 64), style=torch.rand(1, 3, 64, 64), alpha=1.0) | bad
    with pytest.raises(error):
        random_rast.T(args["content"], args["style"], alpha=args["alpha"])


def test_sanet_equals_the_official_formula():
    """O = out_conv(H · softmax(Fᵀ G)ᵀ) + Fc, written with bmm as in net_v19.py (no 1/√d)."""
    torch.manual_seed(0)
    sa = SANet(16)
    c, s = torch.randn(2, 16, 5, 7), torch.randn(2, 16, 4, 6)
    f = sa.f(mean_variance_norm(c)).flatten(2).permute(0, 2, 1)
    g = sa.g(mean_variance_norm(s)).flatten(2)
    attn = torch.softmax(torch.bmm(f, g), dim=-1)
    h = sa.h(s).flatten(2)
    expected = sa.out_conv(torch.bmm(h, attn.permute(0, 2, 1)).view(2, 16, 5, 7)) + c
    assert torch.allclose(sa(c, s), expected, atol=1e-5)


def test_uniform_attention_init_gives_a_clean_content_path():
    torch.manual_seed(0)
    t = Transform(8)
    uniform_attention_init(t)
    c4, s4, c5, s5 = torch.rand(1, 8, 6, 6), torch.rand(1, 8, 5, 5), torch.rand(1, 8, 3, 3), torch.rand(1, 8, 2, 2)
    shift4 = t.sanet4_1.out_conv(t.sanet4_1.h(s4).mean(dim=(2, 3), keepdim=True))
    shift5 = t.sanet5_1.out_conv(t.sanet5_1.h(s5).mean(dim=(2, 3), keepdim=True))
    expected = c4 + shift4 + F.interpolate(c5 + shift5, size=(6, 6), mode="nearest")
    assert torch.allclose(t(c4, s4, c5, s5), expected, atol=1e-5)


OFFICIAL_DECODER_CONVS = (1, 5, 8, 11, 14, 18, 21, 25, 28)


def test_state_dict_keys_are_the_official_ones(random_rast):
    dec = random_rast.decoder.state_dict()
    assert sorted(dec) == sorted(f"{i}.{p}" for i in OFFICIAL_DECODER_CONVS for p in ("weight", "bias"))
    tr = random_rast.transform.state_dict()
    expected = {f"sanet{l}_1.{m}.{p}" for l in (4, 5) for m in ("f", "g", "h", "out_conv") for p in ("weight", "bias")}
    assert set(tr) == expected | {"merge_conv.weight", "merge_conv.bias"}


def test_load_official_reproduces_the_source_model(tmp_path):
    torch.manual_seed(1)
    enc = VGGEncoder("random")
    source = RAST(enc)
    torch.save({f"module.{k}": v for k, v in source.decoder.state_dict().items()}, tmp_path / "decoder_iter_1.pth")
    torch.save(source.transform.state_dict(), tmp_path / "transformer_iter_1.pth")
    torch.manual_seed(2)
    target = RAST(enc)
    c, s = torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert not torch.allclose(target.T(c, s), source.T(c, s))
        target.load_official(tmp_path / "decoder_iter_1.pth", tmp_path / "transformer_iter_1.pth")
        assert torch.equal(target.T(c, s), source.T(c, s))


def test_load_official_rejects_wrong_keys_and_shapes(tmp_path, random_rast):
    dec = random_rast.decoder.state_dict()
    tr = random_rast.transform.state_dict()
    torch.save(tr, tmp_path / "t.pth")
    torch.save({k.replace("1.", "2."): v for k, v in dec.items()}, tmp_path / "wrong_keys.pth")
    with pytest.raises(CheckpointError, match="keys do not match"):
        random_rast.load_official(tmp_path / "wrong_keys.pth", tmp_path / "t.pth")
    torch.save({**dec, "1.weight": torch.zeros(256, 512, 1, 1)}, tmp_path / "wrong_shape.pth")
    with pytest.raises(CheckpointError, match="shape"):
        random_rast.load_official(tmp_path / "wrong_shape.pth", tmp_path / "t.pth")
    with pytest.raises(CheckpointError, match="not found"):
        random_rast.load_official(tmp_path / "missing.pth", tmp_path / "t.pth")


def test_projection_heads_are_unit_norm():
    heads = ProjectionHeads()
    assert torch.allclose(heads.project_style(torch.rand(3, 256, 4, 4)).norm(dim=1), torch.ones(3), atol=1e-5)
    assert torch.allclose(heads.project_content(torch.rand(3, 512, 2, 2)).norm(dim=1), torch.ones(3), atol=1e-5)


def test_the_old_stage_names_warn_and_give_the_same_result(random_rast):
    """`transformed` and `transfer` (0.1) are thin aliases of `transform_features` and `decode_transfer`."""
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    fc, fs = random_rast.encode(x[:1]), random_rast.encode(x[1:])
    with torch.no_grad():
        with pytest.warns(DeprecationWarning, match="transform_features"):
            assert torch.equal(random_rast.transformed(fc, fs), random_rast.transform_features(fc, fs))
        with pytest.warns(DeprecationWarning, match="decode_transfer"):
            assert torch.equal(random_rast.transfer(fc, fs, 0.5), random_rast.decode_transfer(fc, fs, 0.5))


def test_the_old_module_names_import_the_new_modules_with_a_warning():
    import importlib
    import sys

    from rastlib._moved import MOVED
    for old, new in MOVED.items():
        sys.modules.pop(f"rastlib.{old}", None)
        with pytest.warns(DeprecationWarning, match=f"rastlib.{new}"):
            module = importlib.import_module(f"rastlib.{old}")
        assert module is importlib.import_module(f"rastlib.{new}")
