"""Every loss term: its value against an independent formula or a hand computation, and a gradient through it."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from rastlib.errors import ConfigError
from rastlib.model import ProjectionHeads
from rastlib.model.discriminator import MultiDiscriminator
from rastlib.model.perceptual import load_lpips
from rastlib.train import losses as L
from rastlib.train import pair_trick
from rastlib.train.config import LOSS_PRESETS, ablate, make_config
from rastlib.train.graph import LossSettings, RestorationGraph

# --- independent numpy versions of the distances ----------------------------------------------------------


def np_mean_std(f):
    flat = f.reshape(f.shape[0], f.shape[1], -1)
    return flat.mean(2), np.sqrt(flat.var(2, ddof=1) + 1e-5)


def np_mvn(f):
    m, s = np_mean_std(f)
    return (f - m[..., None, None]) / s[..., None, None]


def np_dc(fa, fb):
    return sum(np.mean((np_mvn(fa[l]) - np_mvn(fb[l])) ** 2) for l in (3, 4))


def np_ds(fa, fb):
    total = 0.0
    for a, b in zip(fa, fb):
        (ma, sa), (mb, sb) = np_mean_std(a), np_mean_std(b)
        total += np.mean((ma - mb) ** 2) + np.mean((sa - sb) ** 2)
    return total


def rand_feats(seed, b=2):
    g = torch.Generator().manual_seed(seed)
    shapes = [(b, 4, 8, 8), (b, 6, 4, 4), (b, 8, 4, 4), (b, 8, 2, 2), (b, 8, 2, 3)]
    return [torch.rand(s, generator=g) * 3 for s in shapes]


def as_np(feats):
    return [f.double().numpy() for f in feats]


def test_distances_match_an_independent_formula():
    fa, fb = rand_feats(1), rand_feats(2)
    assert L.content_distance(fa, fb).item() == pytest.approx(np_dc(as_np(fa), as_np(fb)), rel=1e-5)
    assert L.style_distance(fa, fb).item() == pytest.approx(np_ds(as_np(fa), as_np(fb)), rel=1e-5)


def test_style_distance_by_hand_on_constant_features():
    """Constant channels: μ = the constant, σ = sqrt(0 + 1e-5) for both, so Ds = Σ_l (2 − 5)² = 5 · 9."""
    fa = [torch.full((1, 3, 4, 4), 2.0) for _ in range(5)]
    fb = [torch.full((1, 3, 4, 4), 5.0) for _ in range(5)]
    assert L.style_distance(fa, fb).item() == pytest.approx(45.0, rel=1e-6)
    assert L.content_distance(fa, fa).item() == 0.0


def graph_with(images=None, feats=None, **kw):
    g = RestorationGraph(model=None, content=None, style=None, **kw)
    g.images.update(images or {})
    g._feats.update(feats or {})
    return g


NAMES = ["I_c", "I_s", "I_o", "I_o'", "I_c'", "I_s'", "I_c''", "I_s''", "I_cc", "I_ss", "I_oo"]


@pytest.fixture
def fake_graph():
    feats = {n: rand_feats(10 + i) for i, n in enumerate(NAMES)}
    images = {n: torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(50 + i)) for i, n in enumerate(NAMES)}
    return graph_with(images, feats), {n: as_np(f) for n, f in feats.items()}, images


@pytest.mark.parametrize("term, expected", [
    ("content_transitive", lambda f: np_dc(f["I_c'"], f["I_c"]) + np_dc(f["I_s''"], f["I_s"])),
    ("style_transitive", lambda f: np_ds(f["I_s'"], f["I_s"]) + np_ds(f["I_c''"], f["I_c"])),
    ("content_restoration", lambda f: np_dc(f["I_c'"], f["I_c''"]) + np_dc(f["I_s'"], f["I_s''"])),
    ("style_restoration", lambda f: np_ds(f["I_c'"], f["I_c''"]) + np_ds(f["I_s'"], f["I_s''"])),
    ("direct_content", lambda f: np_dc(f["I_o"], f["I_c"]) + np_dc(f["I_o'"], f["I_s"])),
    ("direct_style", lambda f: np_ds(f["I_o"], f["I_s"]) + np_ds(f["I_o'"], f["I_c"])),
    ("style_difference", lambda f: 1 / (np_ds(f["I_o"], f["I_c"]) + 1e-3) + 1 / (np_ds(f["I_o'"], f["I_s"]) + 1e-3)),
    ("identity_feature", lambda f: sum(np.mean((a - b) ** 2) for x, y in (("I_cc", "I_c"), ("I_ss", "I_s"))
                                       for a, b in zip(f[x], f[y]))),
])
def test_feature_terms_equal_their_formula(fake_graph, term, expected):
    g, f, _ = fake_graph
    assert L.LOSS_TERMS[term](g).item() == pytest.approx(expected(f), rel=1e-5)


def test_pixel_terms_by_hand(fake_graph):
    g, _, im = fake_graph
    ident = ((im["I_cc"] - im["I_c"]) ** 2).mean() + ((im["I_ss"] - im["I_s"]) ** 2).mean()
    assert L.identity_pixel(g).item() == pytest.approx(ident.item(), rel=1e-6)
    assert L.idempotency(g).item() == pytest.approx(((im["I_oo"] - im["I_o"]) ** 2).mean().item(), rel=1e-6)


def test_restoration_ssim_is_one_minus_skimages_ssim_of_the_restoration_in_fp32_under_autocast():
    from skimage.metrics import structural_similarity
    rng = np.random.default_rng(3)
    c = rng.random((2, 24, 20, 3))
    restored = np.clip(c + 0.2 * rng.standard_normal(c.shape), 0, 1)
    restored = torch.from_numpy(restored).bfloat16().double().numpy()  # what a bf16 step hands the term
    expected = 1 - np.mean([structural_similarity(a, b, channel_axis=-1, gaussian_weights=True, sigma=1.5,
                                                  use_sample_covariance=False, data_range=1.0)
                            for a, b in zip(restored, c)])
    as_t = lambda x: torch.from_numpy(x).permute(0, 3, 1, 2).float()  # noqa: E731
    g = graph_with({"I_c": as_t(c), "I_c'": as_t(restored).bfloat16()})
    with torch.autocast("cpu", dtype=torch.bfloat16):
        value = L.restoration_ssim(g)
    assert value.dtype == torch.float32 and value.item() == pytest.approx(expected, rel=1e-4)
    assert L.restoration_ssim(graph_with({"I_c": as_t(c), "I_c'": as_t(c)})).item() == pytest.approx(0, abs=1e-6)


def test_style_difference_is_finite_when_the_style_distance_is_zero():
    same = rand_feats(3)
    g = graph_with(feats={"I_o": same, "I_c": same, "I_o'": same, "I_s": same})
    assert L.style_difference(g).item() == pytest.approx(2 / 1e-3, rel=1e-6)
    g.settings = LossSettings(style_difference_eps=0.5)
    assert L.style_difference(g).item() == pytest.approx(4.0, rel=1e-6)


def test_idempotency_target_is_detached():
    o = torch.rand(1, 3, 8, 8, requires_grad=True)
    oo = torch.rand(1, 3, 8, 8, requires_grad=True)
    L.idempotency(graph_with({"I_o": o, "I_oo": oo})).backward()
    assert o.grad is None
    assert torch.allclose(oo.grad, 2 * (oo - o).detach() / oo.numel())


def test_info_nce_pair_trick_by_hand():
    """h = 2: rows (c0,s0) (c1,s1) (c1,s0) (c0,s1). Style positive of row 0 is row 2, its negative row 1."""
    _, _, cid, sid = pair_trick(torch.zeros(2, 3, 4, 4), torch.zeros(2, 3, 4, 4))
    assert cid.tolist() == [0, 1, 1, 0] and sid.tolist() == [0, 1, 0, 1]
    # a process of a distributed run passes its k + 1 contents and their global ids: the same rows, sliced
    c = torch.arange(3.0).view(3, 1, 1, 1)
    rows, _, shard_cid, shard_sid = pair_trick(c, torch.zeros(2, 1, 1, 1), torch.tensor([2, 3, 0]), torch.tensor([2, 3]))
    assert rows.flatten().tolist() == [0, 1, 1, 2]
    assert shard_cid.tolist() == [2, 3, 3, 0] and shard_sid.tolist() == [2, 3, 2, 3]
    z = F.normalize(torch.randn(4, 5, generator=torch.Generator().manual_seed(0)), dim=1)
    tau = 0.2
    same_c, same_s = cid[:, None] == cid[None], sid[:, None] == sid[None]
    got = L.info_nce(z, same_s & ~same_c, ~same_c & ~same_s, tau).item()
    # positives (same style, other content) and negatives (both differ), written out:
    pos, neg = {0: 2, 1: 3, 2: 0, 3: 1}, {0: 1, 1: 0, 2: 3, 3: 2}
    by_hand = 0.0
    for i in range(4):
        lp, ln = (z[i] @ z[pos[i]]).item() / tau, (z[i] @ z[neg[i]]).item() / tau
        by_hand += -lp + np.log(np.exp(lp) + np.exp(ln))
    assert got == pytest.approx(by_hand, rel=1e-5)


def test_contrastive_needs_the_pair_trick():
    with pytest.raises(ConfigError, match="pair trick"):
        L.info_nce(torch.eye(2), torch.zeros(2, 2, dtype=torch.bool), torch.ones(2, 2, dtype=torch.bool), 0.2)


class FixedD:
    """A discriminator stub whose every output map is the constant `value`."""

    def __init__(self, value, scales=3):
        self.value, self.scales = value, scales

    def __call__(self, x):
        return [torch.full((1,), self.value)] * self.scales


def test_adversarial_terms_by_hand():
    im = {n: torch.zeros(1, 3, 8, 8) for n in ("I_c", "I_s", "I_o", "I_o'")}
    g = graph_with(im, d_style=FixedD(0.25), d_content=FixedD(0.5))
    assert L.adversarial(g).item() == pytest.approx(3 * (0.75 ** 2) + 3 * (0.5 ** 2))
    # D side: real → 1, fake → 0 for both discriminators
    assert L.discriminator_loss(g).item() == pytest.approx(3 * (0.75 ** 2 + 0.25 ** 2) + 3 * (0.5 ** 2 + 0.5 ** 2))


def test_lsgan_loss_of_the_real_discriminator_by_hand():
    d = MultiDiscriminator()
    x = torch.rand(1, 3, 64, 64)
    outs = d(x)
    assert len(outs) == 2  # 64 → 32 px; the 16 px scale is skipped
    assert L.lsgan(d, x, 1.0).item() == pytest.approx(sum(((o - 1) ** 2).mean().item() for o in outs), rel=1e-6)


def test_multirestoration_equals_the_sum_over_scales(random_rast, demo_batch):
    c, s = demo_batch
    g = RestorationGraph(random_rast, c[:2], s[:2], settings=LossSettings(multirestoration_scales=(256, 64, 32)))
    o = g["I_o"]
    expected = 0.0
    for side in (64, 32):  # 256 collapses to the 64 px input, counted once
        cs = F.interpolate(c[:2], size=(side, side), mode="area") if side < 64 else c[:2]
        os_ = F.interpolate(o, size=(side, side), mode="area") if side < 64 else o
        expected += F.mse_loss(random_rast.decode_transfer(random_rast.encode(os_), random_rast.encode(cs)), cs).item()
    assert L.multirestoration(g).item() == pytest.approx(expected, rel=1e-5)


def test_the_full_resolution_restoration_is_the_graphs_I_c_prime(random_rast, demo_batch):
    """At the crop's own size R(I_o) = T(I_o, I_c) = I_c': the term reuses the graph's image (one generator pass
    fewer a step) and gives what computing it again gives; detached, it cannot reuse it and computes it."""
    c, s = demo_batch
    settings = LossSettings(multirestoration_scales=(256, 32))  # 256 collapses to the 64 px input
    g = RestorationGraph(random_rast, c[:2], s[:2], settings=settings)
    L.content_transitive(g)  # makes I_c' (and I_s'')
    before = g.n_transfers
    value = L.multirestoration(g)
    assert g.n_transfers - before == 1  # the 32 px restoration only
    o, c32 = g["I_o"], F.interpolate(c[:2], size=(32, 32), mode="area")
    again = (F.mse_loss(random_rast.decode_transfer(random_rast.encode(o), random_rast.encode(c[:2])), c[:2])
             + F.mse_loss(random_rast.decode_transfer(random_rast.encode(F.interpolate(o, size=(32, 32),
                                                                                      mode="area")),
                                                      random_rast.encode(c32)), c32))
    assert value.item() == pytest.approx(again.item(), rel=1e-5)
    d = RestorationGraph(random_rast, c[:2], s[:2],
                         settings=LossSettings(multirestoration_scales=(256, 32), multirestoration_detach=True))
    L.content_transitive(d)
    before = d.n_transfers
    assert L.multirestoration(d).item() == pytest.approx(value.item(), rel=1e-5)
    assert d.n_transfers - before == 2


def test_a_detached_multirestoration_trains_the_restoring_pass_only(random_rast, demo_batch):
    """`multirestoration_detach`: the same loss value, no gradient into the stylised image I_o (so none into
    the stylising pass), a gradient into the network through the restoring pass; without it, I_o gets one."""
    c, s = demo_batch
    grads = {}
    for detach in (False, True):
        g = RestorationGraph(random_rast, c[:2], s[:2], settings=LossSettings(multirestoration_scales=(64, 32),
                                                                              multirestoration_detach=detach))
        o = g["I_o"].detach().requires_grad_()
        g.images["I_o"] = o  # the stylised image as a leaf: its .grad is what the stylisation would receive
        random_rast.zero_grad()
        loss = L.multirestoration(g)
        loss.backward()
        net = sum(p.grad.abs().sum() for p in random_rast.parameters() if p.grad is not None)
        grads[detach] = (loss.item(), o.grad, float(net))
    assert grads[True][0] == pytest.approx(grads[False][0], rel=1e-6)
    assert grads[False][1] is not None and grads[False][1].abs().sum() > 0
    assert grads[True][1] is None
    assert grads[True][2] > 0 and grads[True][2] == pytest.approx(grads[False][2], rel=1e-5)


def test_lpips_term_is_the_mean_distance_to_the_content_sources(fake_graph):
    g, _, im = fake_graph
    p = load_lpips("random")
    g.perceptual = p
    expected = p(im["I_o"], im["I_c"]).mean() + p(im["I_o'"], im["I_s"]).mean()
    assert L.lpips(g).item() == pytest.approx(expected.item(), rel=1e-6)


def full_graph(model, demo_batch):
    c, s = demo_batch
    c, s, cid, sid = pair_trick(c[:2], s[:2])
    torch.manual_seed(0)
    return RestorationGraph(model, c, s, cid, sid, heads=ProjectionHeads(), d_style=MultiDiscriminator(),
                            d_content=MultiDiscriminator(), perceptual=load_lpips("random"),
                            settings=LossSettings(multirestoration_scales=(64, 32)))


@pytest.mark.parametrize("term", list(L.LOSS_TERMS) + ["discriminator"])
def test_every_term_is_a_finite_scalar_with_a_gradient(random_rast, demo_batch, term):
    g = full_graph(random_rast, demo_batch)
    value = L.discriminator_loss(g) if term == "discriminator" else L.LOSS_TERMS[term](g)
    assert value.dim() == 0 and torch.isfinite(value)
    value.backward()
    if term == "discriminator":
        params = list(g.d_style.parameters())
    elif term.startswith("contrastive"):
        params = list(g.heads.parameters())
    else:
        params = list(random_rast.decoder.parameters())
    grads = [p.grad for p in params if p.grad is not None]
    assert grads and all(torch.isfinite(gr).all() for gr in grads)
    assert sum(gr.abs().sum() for gr in grads) > 0


def test_compute_losses_skips_zero_weights_and_sums_the_rest(random_rast, demo_batch):
    g = full_graph(random_rast, demo_batch)
    weights = {name: 0.0 for name in L.LOSS_TERMS}
    weights.update(identity_pixel=50.0, direct_style=3.0)
    values, total = L.compute_losses(g, weights)
    assert set(values) == {"identity_pixel", "direct_style"}
    assert total.item() == pytest.approx(50 * values["identity_pixel"].item() + 3 * values["direct_style"].item(),
                                         rel=1e-6)
    assert set(g.images) == {"I_c", "I_s", "I_o", "I_o'", "I_cc", "I_ss"}  # no restoration pass was run
    assert g.n_transfers == 4 and g.n_encodes == 4  # I_c, I_s, I_o, I_o': each encoded once, shared


def test_presets_and_ablation():
    wacv = LOSS_PRESETS["rast_wacv"]
    official = {"content_transitive": 2, "style_transitive": 2, "style_difference": 2, "content_restoration": 1,
                "style_restoration": 1, "identity_pixel": 50, "identity_feature": 1, "contrastive_content": 1,
                "contrastive_style": 1, "adversarial": 5}
    assert {k: v for k, v in wacv.items() if v} == official
    seed = LOSS_PRESETS["seed_full"]
    assert seed["idempotency"] and seed["multirestoration"] and seed["lpips"] and seed["direct_content"]
    ablated = ablate(seed, "restoration")
    assert ablated["content_restoration"] == ablated["style_restoration"] == 0
    assert {k for k in seed if seed[k] != ablated[k]} == {"content_restoration", "style_restoration"}
    with pytest.raises(ConfigError, match="group"):
        ablate(seed, "colour")
    cfg = make_config("smoke", weights={"idempotency": 2})
    assert cfg.weights["idempotency"] == 2 and cfg.weights["adversarial"] == 5
    with pytest.raises(ConfigError, match="unknown loss term"):
        make_config("smoke", weights={"beauty": 1})


class _TaggingModel(torch.nn.Module):
    """Images are 1-element tensors; encoding repeats the image as five taps, and T(a, b) = 3a + 7b + ab, a
    function that tells each image pair and its order apart."""

    def encode(self, x):
        return [x] * 5

    def forward(self, content_feats, style_feats):
        a, b = content_feats[0], style_feats[0]
        return 3 * a + 7 * b + a * b


def test_restoration_graph_builds_every_image_by_the_papers_formula():
    def T(a, b):
        return 3 * a + 7 * b + a * b

    c, s = torch.tensor([0.5]), torch.tensor([-1.25])
    o, o2 = T(c, s), T(s, c)
    expected = {"I_o": o, "I_o'": o2, "I_c'": T(o, c), "I_s'": T(s, o), "I_c''": T(c, o2), "I_s''": T(o2, s),
                "I_cc": T(c, c), "I_ss": T(s, s), "I_oo": T(o, s)}
    g = RestorationGraph(_TaggingModel(), c, s)
    got = {name: g[name] for name in expected}
    assert len({round(v.item(), 6) for v in got.values()}) == len(got)  # every formula gives a different image
    for name, value in expected.items():
        assert torch.allclose(got[name], value), name
    assert g.n_transfers == len(expected)  # each image made once, however often it is asked for
    g["I_o"], g.feats("I_c'")
    assert g.n_transfers == len(expected)


def test_info_nce_equals_the_anchor_by_anchor_loop_on_random_masks():
    """The masked form against the loop it replaced (skipping anchors without a positive or a negative)."""
    g = torch.Generator().manual_seed(3)
    for _ in range(20):
        n = int(torch.randint(2, 9, (1,), generator=g))
        z = F.normalize(torch.randn(n, 6, generator=g), dim=1)
        positive, negative = torch.rand(n, n, generator=g) < 0.4, torch.rand(n, n, generator=g) < 0.5
        negative &= ~positive  # disjoint, as the pair trick's are
        positive[0], negative[0] = torch.arange(n) == 1, torch.arange(n) != 1  # at least one anchor counts
        expected = 0.0
        for i in range(n):
            pos, neg = positive[i].nonzero().flatten(), negative[i].nonzero().flatten()
            if len(pos) and len(neg):
                logits = torch.cat([z[i] @ z[pos[:1]].T, z[i] @ z[neg].T]) / 0.2
                expected += float(F.cross_entropy(logits[None], torch.zeros(1, dtype=torch.long)))
        assert float(L.info_nce(z, positive, negative, 0.2)) == pytest.approx(expected, rel=1e-5)


def test_the_loss_terms_ask_the_device_for_no_value(tmp_path):
    """A GPU step runs ahead of Python until something asks for a value; the default preset's loss terms ask
    none (the step's only questions are its finite checks and the one read of the logged values: train.loop).
    Checked on the CPU by watching for the calls that would wait: nonzero, item, tolist, bool of a tensor."""
    from torch.overrides import TorchFunctionMode

    from rastlib.train import Trainer
    from rastlib.train.config import make_config

    class Waits(TorchFunctionMode):
        asked = []

        def __torch_function__(self, func, types, args=(), kwargs=None):
            name = getattr(func, "__name__", str(func))
            if name in ("nonzero", "item", "tolist", "__bool__", "cpu", "numpy"):
                self.asked.append(name)
            return func(*args, **(kwargs or {}))

    trainer = Trainer(make_config("smoke", batch_size=8, out_dir=str(tmp_path)), resume=False)
    graph = trainer.graph(*next(trainer.batches()))
    with Waits():
        values, total = L.compute_losses(graph, trainer.cfg.weights)
    assert {k for k, w in trainer.cfg.weights.items() if w} <= set(values)
    # on the CPU info_nce checks its masks (a bool of a CPU tensor); on a GPU that check is not made
    assert Waits.asked == ["__bool__", "__bool__"], Waits.asked
