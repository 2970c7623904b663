"""Benchmarks: plain (official) and fused attention agree, and `python -m rastlib bench --quick` writes its tables,
with the kit's and the official form's training steps giving the same losses."""
import json

import torch

from rastlib.eval import bench
from rastlib.model.sanet import SANet


def test_plain_attention_equals_the_fused_kernel():
    torch.manual_seed(0)
    sanet = SANet(32)
    c, s = torch.randn(2, 32, 6, 5), torch.randn(2, 32, 4, 7)
    fused = sanet(c, s)
    bench.set_attention(sanet, False)
    assert torch.allclose(sanet(c, s), fused, atol=1e-5)


def test_quick_bench_writes_json_and_markdown(tmp_path):
    report = bench.run(tmp_path, quick=True)
    step = report["training_step"]
    assert step["kit_encoder_passes"] == step["official_encoder_passes"] == 10  # rast_wacv: each image once
    assert step["kit_ms"] > 0 and step["official_ms"] > 0  # (run() raises if their losses differ)
    saved = json.loads((tmp_path / "bench.json").read_text())
    assert saved["machine"]["torch"] == torch.__version__
    table = (tmp_path / "bench.md").read_text()
    assert "| kit (each image encoded once, fused attention) |" in table
    assert "not run: the N×N attention matrix alone needs" in table  # the plain run over the quick limit
    assert {(r["size"], r["attention"]) for r in report["latency"]} == {(64, "fused"), (64, "plain")}


def test_slider_row_is_written(tmp_path):
    r = bench.run_slider(tmp_path, size=64)
    assert 0 < r["seconds_per_move"] and r["full_stylize_seconds"] > 0
    assert "| 64² |" in (tmp_path / "slider.md").read_text()
    assert json.loads((tmp_path / "slider.json").read_text())["moves"] == 10


def test_bench_training_writes_the_probe_table_and_the_stylisation(tmp_path):
    """Where the CPU has a bf16 unit; without one, bf16 is emulated (~10× fp32) and left out unless asked for,
    and the table says so."""
    from rastlib.eval.bench import run_training
    from rastlib.train.probe import cpu_flags
    unit = bool(cpu_flags()["bf16_units"])
    table = run_training(tmp_path, quick=True)
    names = ["fp32", "fp32_channels_last"] + (["bf16_channels_last"] if unit else [])
    assert [r["name"] for r in table["candidates"]] == names
    assert table["chosen"] in {r["name"] for r in table["candidates"] if r["accepted"]}
    st = table["stylisation"]
    assert st["size"] == 64 and set(st["seconds"]) == ({"fp32", "bf16"} if unit else {"fp32"})
    assert st["default"] == ("bf16" if unit else "fp32")
    md = (tmp_path / "training_cpu.md").read_text()
    assert "**(chosen)**" in md and "Stylisation (`RAST.T`, one pair, 64²" in md
    assert ("not timed (emulated)" in md and "--emulated-bf16" in md) != unit
    assert table["machine"]["cpu"] and "bf16_units" in table["hardware"]


def test_the_encoder_itself_counts_one_pass_per_image_of_the_step():
    """The table's "VGG encoder passes" is the restoration graph's own counter, the same code for both forms; the
    encoder's forward calls, counted by a hook, say the same: rast_wacv's ten images (I_c, I_s, I_o, I_o', I_c',
    I_s', I_c'', I_s'', I_cc, I_ss) are each encoded once a step."""
    trainer = bench._trainer(64, 4, "cpu")
    calls = []
    hook = trainer.model.encoder.register_forward_hook(lambda module, args, out: calls.append(args[0].shape))
    try:
        trainer.train_step(*next(trainer.batches()))
    finally:
        hook.remove()
    assert len(calls) == trainer.last_counts["encoder_passes"] == 10
