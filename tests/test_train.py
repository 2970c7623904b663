"""Training: exact resume, atomic checkpoints, safe loading, the NaN guard, the schedule, and real learning."""
import json
import os

import pytest
import torch

from rastlib.errors import CheckpointError
from rastlib.model.encoder import VGGEncoder
from rastlib.train import Trainer, TrainingError
from rastlib.train import checkpoint as C
from rastlib.train import losses as L
from rastlib.train import read_log
from rastlib.train.config import make_config


def random_encoder():
    torch.manual_seed(123)
    return VGGEncoder("random")


def smoke(tmp_path, name, **kw):
    return make_config("smoke", out_dir=str(tmp_path / name), **kw)


def losses_of(path):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in read_log(path)]


def test_resume_equals_an_uninterrupted_run(tmp_path):
    """2 steps in one go vs 1 + 1 with a new Trainer: same losses (rel. 1e-5), same weights (CPU, same seed); the
    resumed step uses the Adam moments and discriminators the checkpoint restored."""
    full = Trainer(smoke(tmp_path, "full", iterations=2, save_every=1), encoder=random_encoder())
    full.fit(progress=False)
    part = Trainer(smoke(tmp_path, "part", iterations=2, save_every=1), encoder=random_encoder())
    part.fit(steps=1, progress=False)
    del part
    resumed = Trainer(smoke(tmp_path, "part", iterations=2, save_every=1), encoder=random_encoder())
    assert resumed.step == 1
    resumed.fit(progress=False)
    a, b = losses_of(tmp_path / "full" / "log.jsonl"), losses_of(tmp_path / "part" / "log.jsonl")
    assert [r["step"] for r in b] == [0, 1]
    for ra, rb in zip(a, b):
        for k in ra:
            assert rb[k] == pytest.approx(ra[k], rel=1e-5), (ra["step"], k)
    for (k, va), vb in zip(full.model.generator_state()["decoder"].items(),
                           resumed.model.generator_state()["decoder"].values()):
        assert torch.allclose(va, vb, rtol=1e-5, atol=1e-7), k


def test_a_log_torn_by_a_kill_is_cut_back_to_the_checkpoint(tmp_path):
    cfg = smoke(tmp_path, "torn", iterations=3, save_every=2, loss_preset="sanet")
    Trainer(cfg, encoder=random_encoder()).fit(steps=3, progress=False)  # checkpoint at 2 and 3
    ckpt = C.load_checkpoint(tmp_path / "torn" / "checkpoint.pt")
    C.save_atomic({**ckpt, "step": 2}, tmp_path / "torn" / "checkpoint.pt")  # as if killed before the 3rd save
    with open(tmp_path / "torn" / "log.jsonl", "a") as f:
        f.write('{"step": 3, "total": 1.')  # a half-written line
    t = Trainer(cfg, encoder=random_encoder())
    t.fit(progress=False)
    assert [r["step"] for r in read_log(tmp_path / "torn" / "log.jsonl")] == [0, 1, 2]


def test_save_atomic_keeps_the_old_file_when_a_write_crashes(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.pt"
    C.save_atomic({"a": torch.ones(3)}, path)
    real_save = torch.save

    def crash(obj, f, *args, **kw):
        f.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        C.save_atomic({"a": torch.zeros(3)}, path)
    monkeypatch.setattr(torch, "save", real_save)
    assert torch.equal(torch.load(path, weights_only=True)["a"], torch.ones(3))
    assert os.listdir(tmp_path) == ["ckpt.pt"]  # no temporary file left behind
    assert oct(path.stat().st_mode & 0o777) != oct(0o600)  # normal permissions, not mkstemp's 0600


def test_truncated_and_pickled_checkpoints_are_refused(tmp_path):
    cfg = smoke(tmp_path, "run", iterations=1, save_every=1, loss_preset="sanet")
    Trainer(cfg, encoder=random_encoder()).fit(progress=False)
    good = (tmp_path / "run" / "checkpoint.pt").read_bytes()
    (tmp_path / "torn.pt").write_bytes(good[: len(good) // 2])
    with pytest.raises(CheckpointError, match="not a complete checkpoint"):
        C.load_checkpoint(tmp_path / "torn.pt")
    torch.save({"format": C.FORMAT, "version": C.VERSION, "x": PickledPayload()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="pickled Python objects"):
        C.load_checkpoint(tmp_path / "evil.pt")
    torch.save({"format": C.FORMAT, "version": 99}, tmp_path / "future.pt")
    with pytest.raises(CheckpointError, match="version 99"):
        C.load_checkpoint(tmp_path / "future.pt")


class PickledPayload:
    """Stands for arbitrary code in a pickle."""


def test_resuming_with_another_configuration_names_the_difference(tmp_path):
    Trainer(smoke(tmp_path, "run", iterations=1, loss_preset="sanet"), encoder=random_encoder()).fit(progress=False)
    with pytest.raises(CheckpointError, match="loss_preset"):
        Trainer(smoke(tmp_path, "run", iterations=2, loss_preset="rast_wacv"), encoder=random_encoder())


def test_nan_steps_are_skipped_and_stop_training(tmp_path, monkeypatch):
    cfg = smoke(tmp_path, "nan", iterations=10, save_every=1, loss_preset="sanet", max_bad_steps=3)
    t = Trainer(cfg, encoder=random_encoder())
    t.fit(steps=1, progress=False)
    before = {k: v.clone() for k, v in t.model.decoder.state_dict().items()}
    saved = C.load_checkpoint(tmp_path / "nan" / "checkpoint.pt")["step"]
    monkeypatch.setitem(L.LOSS_TERMS, "identity_pixel", lambda g: torch.tensor(float("nan")))
    with pytest.raises(TrainingError, match="3 steps in a row"):
        t.fit(progress=False)
    log = read_log(tmp_path / "nan" / "log.jsonl")
    assert [r["skipped"] for r in log] == [False, True, True, True]
    assert all(torch.equal(before[k], v) for k, v in t.model.decoder.state_dict().items())
    assert C.load_checkpoint(tmp_path / "nan" / "checkpoint.pt")["step"] == saved  # nothing bad was saved


def test_a_finite_loss_with_a_nan_gradient_is_skipped(tmp_path, monkeypatch):
    t = Trainer(smoke(tmp_path, "nangrad", loss_preset="sanet"), encoder=random_encoder())
    before = {k: v.clone() for k, v in t.model.decoder.state_dict().items()}
    # value 0, but d sqrt(|x|)/dx at 0 is inf · 0 = NaN for every pixel of I_o
    monkeypatch.setitem(L.LOSS_TERMS, "identity_pixel", lambda g: (g["I_o"] * 0).abs().sqrt().sum())
    c, s = next(t.batches())
    record = t.train_step(c, s)
    assert record["skipped"] and record["total"] == record["total"]  # the total itself was finite
    assert all(torch.equal(before[k], v) for k, v in t.model.decoder.state_dict().items())


def test_lr_schedule_is_set_every_step(tmp_path):
    t = Trainer(smoke(tmp_path, "lr", iterations=3, loss_preset="rast_wacv"), encoder=random_encoder())
    assert t.lr_at(0) == 1e-4 and t.lr_at(1000) == pytest.approx(1e-4 / 1.05)
    t.fit(progress=False)
    log = read_log(tmp_path / "lr" / "log.jsonl")
    assert [r["lr"] for r in log] == [pytest.approx(1e-4 / (1 + 5e-5 * i)) for i in range(3)]
    assert t.opt_g.param_groups[0]["lr"] == t.opt_d.param_groups[0]["lr"] == pytest.approx(1e-4 / (1 + 1e-4))
    assert t.opt_d.param_groups[0]["betas"] == (0.5, 0.999)


def test_training_really_reduces_the_loss(tmp_path):
    """SANet's loss on one fixed batch, 12 steps at lr 1e-4: the total falls at every step, to under 0.65 of where
    it began (26.2 -> 14.3 on a Zen 3). At lr 1e-3 it spikes (576 at step 2), which hid a weak criterion."""
    t = Trainer(smoke(tmp_path, "learn", loss_preset="sanet", lr=1e-4), encoder=random_encoder())
    c, s = next(t.batches())
    totals = []
    for _ in range(12):
        totals.append(t.train_step(c, s)["total"])
        t.step += 1
    assert all(b < a for a, b in zip(totals, totals[1:])), totals
    assert totals[-1] < 0.65 * totals[0], totals


def test_missing_data_dir_fails_before_building_the_model(tmp_path):
    from rastlib.errors import DataError
    with pytest.raises(DataError, match="nowhere"):
        Trainer(smoke(tmp_path, "x", content_dir=str(tmp_path / "nowhere")))


def test_export_writes_a_small_fp16_inference_checkpoint(tmp_path):
    Trainer(smoke(tmp_path, "exp", iterations=1, loss_preset="sanet"), encoder=random_encoder()).fit(progress=False)
    C.export_inference(C.load_checkpoint(tmp_path / "exp" / "checkpoint.pt"), tmp_path / "small.pt", {"note": "x"})
    small = C.load_checkpoint(tmp_path / "small.pt")
    assert small["kind"] == "inference" and small["record"] == {"note": "x"}
    assert all(v.dtype == torch.float16 for part in small["generator"].values() for v in part.values())
    assert json.loads(json.dumps(small["config"]))["loss_preset"] == "sanet"


def test_export_keeps_the_contrastive_heads_and_training_from_it_starts_with_them(tmp_path):
    """The rast table's run: its export carries the projection heads (fp16), not the discriminators; a run
    initialised from the export starts with those heads, one from a heads-less export with fresh ones."""
    Trainer(smoke(tmp_path, "src", iterations=1), encoder=random_encoder()).fit(progress=False)
    src = C.load_checkpoint(tmp_path / "src" / "checkpoint.pt")
    C.export_inference(src, tmp_path / "small.pt")
    small = C.load_checkpoint(tmp_path / "small.pt")
    assert "discriminators" not in small and small["heads"].keys() == src["heads"].keys()
    assert all(v.dtype == torch.float16 for v in small["heads"].values())
    torch.manual_seed(7)  # another seed: fresh heads would differ
    t = Trainer(smoke(tmp_path, "from", init_from=str(tmp_path / "small.pt"), seed=7), encoder=random_encoder())
    for k, v in t.heads.state_dict().items():
        torch.testing.assert_close(v, src["heads"][k].half().float())
    C.save_atomic({**small, "heads": None}, tmp_path / "headless.pt")
    fresh = Trainer(smoke(tmp_path, "fresh", init_from=str(tmp_path / "headless.pt"), seed=7),
                    encoder=random_encoder())
    assert any(not torch.equal(v, t.heads.state_dict()[k]) for k, v in fresh.heads.state_dict().items())


def test_warmup_holds_the_generator_while_heads_and_discriminators_train(tmp_path):
    """`warmup_steps=2`: after steps 0 and 1 the generator's weights are those it started with, bit for bit,
    while the heads and both discriminators moved; step 2 moves the generator."""
    t = Trainer(smoke(tmp_path, "warm", iterations=3, warmup_steps=2), encoder=random_encoder())

    def snapshot():
        return {name: {k: v.clone() for k, v in m.state_dict().items()}
                for name, m in (("generator", t.model.decoder), ("transform", t.model.transform),
                                ("heads", t.heads), ("d_style", t.d_style), ("d_content", t.d_content))}

    def moved(a, b):
        return {name for name in a if any(not torch.equal(a[name][k], b[name][k]) for k in a[name])}
    start = snapshot()
    t.fit(steps=2, progress=False)
    after_warmup = snapshot()
    assert moved(start, after_warmup) == {"heads", "d_style", "d_content"}
    t.fit(steps=1, progress=False)
    assert {"generator", "transform"} <= moved(after_warmup, snapshot())
    with pytest.raises(Exception, match="warmup_steps must be an integer ≥ 0"):
        smoke(tmp_path, "bad", warmup_steps=-1)


def test_channels_last_trains_like_the_default_layout(tmp_path):
    """A step of the full RAST table (discriminators, projection heads) in NHWC (`channels_last`, a GPU option)
    gives the losses and the gradient of the default layout (CPU, same seed; rel. 1e-4 and 1e-3, as summation
    order differs between layouts): only the memory layout differs."""
    runs = {}
    for nhwc in (False, True):
        t = Trainer(smoke(tmp_path, f"nhwc{nhwc}", iterations=1, channels_last=nhwc), encoder=random_encoder())
        t.fit(progress=False)
        grads = {name: p.grad for name, p in t.model.named_parameters() if p.grad is not None}
        runs[nhwc] = (losses_of(tmp_path / f"nhwc{nhwc}" / "log.jsonl"), grads)
    assert t.model.decoder[1].weight.is_contiguous(memory_format=torch.channels_last)  # the last run was NHWC
    (a, ga), (b, gb) = runs[False], runs[True]
    for ra, rb in zip(a, b, strict=True):
        assert ra.keys() == rb.keys()
        assert all(ra[k] == pytest.approx(rb[k], rel=1e-4, abs=1e-6) for k in ra)
    assert ga.keys() == gb.keys() and len(ga) > 10
    flat_a, flat_b = (torch.cat([g[name].flatten() for name in ga]) for g in (ga, gb))
    assert float((flat_a - flat_b).norm()) < 1e-3 * float(flat_a.norm())  # some tensors' gradients are ~1e-12


def test_channels_last_must_be_a_boolean():
    from rastlib.errors import ConfigError
    with pytest.raises(ConfigError, match="channels_last must be true or false"):
        make_config("smoke", channels_last="yes")


def test_the_training_system_alone_gives_and_takes_its_state():
    """`TrainingSystem` (what is trained) without the loop: built in a fixed order from the seed, its state moves
    whole into another system, the frozen part is out of the generator's parameters, and the generator step's
    hold on the discriminators is released after it."""
    from rastlib.train.system import TrainingSystem
    cfg = make_config("smoke", freeze=("transform",))

    def build(seed):
        encoder = random_encoder()  # (it seeds torch itself)
        torch.manual_seed(seed)
        return TrainingSystem(cfg, torch.device("cpu"), encoder=encoder).finish()

    a, b, again = build(0), build(1), build(0)
    da, db = a.d_style.state_dict(), b.d_style.state_dict()
    assert not all(torch.equal(da[k], db[k]) for k in da)  # another seed, other starting weights
    assert all(torch.equal(v, again.d_style.state_dict()[k]) for k, v in da.items())  # the same seed, the same
    assert set(a.state()) == {"generator", "heads", "discriminators", "opt_g", "opt_d", "ema"}
    b.restore(a.state())
    for part in ("decoder", "transform"):
        sa, sb = a.model.generator_state()[part], b.model.generator_state()[part]
        assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert all(torch.equal(v, b.d_content.state_dict()[k]) for k, v in a.d_content.state_dict().items())
    frozen = {id(p) for p in a.model.transform.parameters()}
    assert a.generator_params and not frozen & {id(p) for p in a.generator_params}
    with a.discriminators_held():
        assert not any(p.requires_grad for d in (a.d_style, a.d_content) for p in d.parameters())
    assert all(p.requires_grad for d in (a.d_style, a.d_content) for p in d.parameters())


def test_training_checkpoint_keeps_its_layout(tmp_path):
    """The trainer's checkpoint has the fields checkpoints had before the system was split from the loop, so
    earlier training checkpoints resume and export as before."""
    t = Trainer(smoke(tmp_path, "run", iterations=1, loss_preset="rast_wacv"), encoder=random_encoder())
    t.fit(progress=False)
    ckpt = C.load_checkpoint(t.ckpt_path)
    assert list(ckpt) == ["format", "version", "kind", "config", "step", "generator", "heads", "discriminators",
                          "opt_g", "opt_d", "ema", "rng"]
    assert ckpt["kind"] == "train" and ckpt["step"] == 1 and set(ckpt["discriminators"]) == {"style", "content"}
    assert t.model is t.system.model and t.opt_d is t.system.opt_d  # the system's parts read through the trainer


def test_generator_lr_ramps_up_after_the_warmup_and_older_checkpoints_still_resume(tmp_path):
    t = Trainer(smoke(tmp_path, "ramp", iterations=6, warmup_steps=2, lr_ramp_steps=3, loss_preset="rast_wacv"),
                encoder=random_encoder())
    assert [t.generator_lr_at(i) / t.lr_at(i) for i in range(7)] == pytest.approx([1, 1, 1 / 3, 2 / 3, 1, 1, 1])
    t.fit(steps=4, progress=False)
    assert t.opt_g.param_groups[0]["lr"] == pytest.approx(t.lr_at(3) * 2 / 3)  # step 3's, the discriminators' not
    assert t.opt_d.param_groups[0]["lr"] == pytest.approx(t.lr_at(3))
    assert [r["lr"] for r in read_log(tmp_path / "ramp" / "log.jsonl")] == \
        [pytest.approx(t.generator_lr_at(i)) for i in range(4)]
    # a checkpoint written before lr_ramp_steps existed ran without a ramp: it resumes as that, not as another
    old = Trainer(smoke(tmp_path, "old", iterations=2, loss_preset="sanet"), encoder=random_encoder())
    old.fit(steps=1, progress=False)
    ckpt = C.load_checkpoint(old.ckpt_path)
    del ckpt["config"]["lr_ramp_steps"]
    C.save_atomic(ckpt, old.ckpt_path)
    assert Trainer(smoke(tmp_path, "old", iterations=2, loss_preset="sanet"), encoder=random_encoder()).step == 1
    with pytest.raises(CheckpointError, match="lr_ramp_steps"):
        Trainer(smoke(tmp_path, "old", iterations=2, loss_preset="sanet", lr_ramp_steps=5), encoder=random_encoder())
