"""Benchmarks: the reference step really is the official structure (same values, more encoder passes), plain and
fused attention agree, and `python -m rastlib bench --quick` writes its tables."""
import json

import torch

from rastlib import bench
from rastlib.config import LOSS_PRESETS
from rastlib.graph import RestorationGraph
from rastlib.losses import LOSS_TERMS, compute_losses
from rastlib.model import ProjectionHeads
from rastlib.sanet import SANet
from rastlib.train import pair_trick


def test_plain_attention_equals_the_fused_kernel():
    torch.manual_seed(0)
    sanet = SANet(32)
    c, s = torch.randn(2, 32, 6, 5), torch.randn(2, 32, 4, 7)
    fused = sanet(c, s)
    bench.set_attention(sanet, False)
    assert torch.allclose(sanet(c, s), fused, atol=1e-5)


def test_reference_graph_gives_every_kit_loss_with_more_encoder_passes(random_rast, demo_batch):
    from rastlib.discriminator import MultiDiscriminator
    from rastlib.perceptual import load_lpips
    torch.manual_seed(0)
    c, s, cid, sid = pair_trick(*(x[:2] for x in demo_batch))
    extras = dict(heads=ProjectionHeads(), d_style=MultiDiscriminator(), d_content=MultiDiscriminator(),
                  perceptual=load_lpips("auto"))
    weights = {name: 1.0 for name in LOSS_TERMS}
    assert set(weights) >= set(LOSS_PRESETS["seed_full"])
    with torch.no_grad():
        kit = RestorationGraph(random_rast, c, s, cid, sid, **extras)
        kit_values, kit_total = compute_losses(kit, weights)
        bench.set_attention(random_rast, False)
        ref = bench.ReferenceGraph(random_rast, c, s, cid, sid, **extras)
        ref_values, ref_total = compute_losses(ref, weights)
    for name in kit_values:
        assert torch.allclose(ref_values[name], kit_values[name], rtol=1e-4, atol=1e-6), name
    assert kit.n_encodes == 10  # I_c, I_s and 8 generated images, each once (I_oo is compared in pixels only)
    assert ref.n_encodes > 3 * kit.n_encodes


def test_quick_bench_writes_json_and_markdown(tmp_path):
    report = bench.run(tmp_path, quick=True)
    step = report["training_step"]
    assert step["kit_encoder_passes"] == 10 and step["reference_encoder_passes"] > 30  # rast_wacv
    assert step["kit_ms"] > 0 and step["reference_ms"] > step["kit_ms"]
    saved = json.loads((tmp_path / "bench.json").read_text())
    assert saved["machine"]["torch"] == torch.__version__
    table = (tmp_path / "bench.md").read_text()
    assert "| kit (each image encoded once, fused attention) |" in table
    assert "not run: the N×N attention matrix alone needs" in table  # the plain run over the quick limit
    assert {(r["size"], r["attention"]) for r in report["latency"]} == {(64, "fused"), (64, "plain")}
