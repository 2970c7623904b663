"""The CPU step: the probe's choice and its parity rule, bf16 steps on the CPU, the generator step leaving the
discriminators' weights alone, and scripts/exclusive.sh pausing the background training."""
import contextlib
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from rastlib.model.encoder import VGGEncoder
from rastlib.train import Trainer
from rastlib.train import probe as P
from rastlib.train.checkpoint import DEMO_CHECKPOINT
from rastlib.train.config import make_config

ROOT = Path(__file__).resolve().parent.parent


def smoke(tmp_path, name="run", **kw):
    return make_config("smoke", out_dir=str(tmp_path / name), **kw)


def test_the_parity_rule_scales_with_each_terms_own_quantisation_noise():
    ref = {"style": 10.0, "contrastive_content": 0.5}
    noise = {"style": 0.01, "contrastive_content": 0.04}
    assert P.agree(ref, {"style": 10.4, "contrastive_content": 0.5}, noise)[0]  # 4 % of a well-pinned term
    ok, why = P.agree(ref, {"style": 10.6, "contrastive_content": 0.5}, noise)  # 6 %: beyond 5 % + 2 × 0.01
    assert not ok and why.startswith("style 10.6 against fp32's 10")
    assert P.agree(ref, {"style": 10.0, "contrastive_content": 0.6}, noise)[0]  # 20 %, within 5 % + 2 × 0.04
    assert not P.agree(ref, {"style": 10.0, "contrastive_content": 0.65}, noise)[0]
    assert P.agree(ref, {"style": math.nan, "contrastive_content": 0.5}, noise) == (False, "style is nan")
    assert not P.agree(ref, {"contrastive_content": 0.5}, noise)[0]  # a missing term is not agreement


def test_the_probe_times_every_candidate_refuses_one_whose_losses_differ_and_picks_the_fastest(tmp_path, monkeypatch):
    """From the same start on the same batch: fp32, channels_last and bf16 agree (bf16 steps on this CPU are
    finite and within the rule), a candidate that changes the loss (τ 0.05 instead of 0.2) is refused by name,
    and the chosen one is the fastest accepted; the run's own folder is left alone. From the demo checkpoint, as
    training runs start (from a random decoder bf16 moves content_transitive by ~10 % and is refused)."""
    cfg = smoke(tmp_path, batch_size=4, init_from=str(DEMO_CHECKPOINT))
    timed = P.step_seconds  # real steps, without the untimed one each (it steadies a long run's timing, not this)
    monkeypatch.setattr(P, "step_seconds", lambda trainer, batch, steps=2, warmup=True: timed(trainer, batch, steps,
                                                                                            warmup=False))
    wrong = ("wrong_tau", dict(amp="none", channels_last=False, tau=0.05))
    table = P.probe(cfg, steps=1, candidates=(*P.CANDIDATES, wrong), log=lambda *_: None)
    rows = {r["name"]: r for r in table["candidates"]}
    assert list(rows) == ["fp32", "fp32_channels_last", "bf16_channels_last", "wrong_tau"]
    assert all(rows[n]["accepted"] for n in ("fp32", "fp32_channels_last", "bf16_channels_last")), rows
    assert not rows["wrong_tau"]["accepted"] and rows["wrong_tau"]["why"].startswith("contrastive")
    assert all(math.isfinite(v) for v in rows["bf16_channels_last"]["losses"].values())
    accepted = [r for r in table["candidates"] if r["accepted"]]
    assert table["chosen"] == min(accepted, key=lambda r: r["ms_per_step"])["name"]
    assert table["speedup_vs_fp32"] == round(rows["fp32"]["ms_per_step"] / rows[table["chosen"]]["ms_per_step"], 2)
    assert set(table["noise"]) == set(rows["fp32"]["losses"]) and table["noise"]["contrastive_content"] > 0
    assert not (tmp_path / "run").exists()
    P.write(table, tmp_path / "out", "training_cpu")
    md = (tmp_path / "out" / "training_cpu.md").read_text()
    assert f"| {table['chosen']} **(chosen)** |" in md and "| wrong_tau | none | False |" in md
    assert json.loads((tmp_path / "out" / "training_cpu.json").read_text())["chosen"] == table["chosen"]


def test_a_cpu_without_a_bf16_unit_probes_only_the_fp32_candidates_and_says_why(tmp_path, monkeypatch):
    """Emulated bf16 is slower than fp32 (results/demo_checkpoint/lower_lr_256/cpu_probe_q256.md), and each
    candidate costs three steps. (The timing is stubbed: the test above times real steps.)"""
    monkeypatch.setattr(P, "cpu_flags", lambda: {"cpu": "x", "bf16_units": []})
    monkeypatch.setattr(P, "step_seconds", lambda trainer, batch, steps=2, warmup=True: 1.0)
    assert [name for name, _ in P.default_candidates()] == ["fp32", "fp32_channels_last"]
    table = P.probe(smoke(tmp_path, batch_size=4, init_from=str(DEMO_CHECKPOINT)), steps=1, log=lambda *_: None)
    assert [r["name"] for r in table["candidates"]] == ["fp32", "fp32_channels_last"]
    assert table["chosen"] in ("fp32", "fp32_channels_last") and "not probed" in table["note"]
    assert "not probed" in P.markdown(table)
    monkeypatch.setattr(P, "cpu_flags", lambda: {"cpu": "x", "bf16_units": ["avx512_bf16"]})
    assert P.default_candidates() == P.CANDIDATES


def test_amp_auto_runs_the_probe_and_trains_with_its_choice(tmp_path, monkeypatch):
    """The probe itself on two candidates (their losses computed and checked), with stubbed timings that make
    channels_last the faster one (the tests above time real steps): the run trains with it."""
    real = P.probe
    monkeypatch.setattr(P, "probe", lambda cfg, **kw: real(cfg, steps=1, candidates=P.CANDIDATES[:2], **kw))
    monkeypatch.setattr(P, "step_seconds",
                        lambda trainer, batch, steps=2, warmup=True: 0.5 if trainer.cfg.channels_last else 1.0)
    t = Trainer(smoke(tmp_path, amp="auto", iterations=1, init_from=str(DEMO_CHECKPOINT)))
    table = json.loads((tmp_path / "run" / "cpu_probe.json").read_text())
    assert table["chosen"] == "fp32_channels_last" and all(r["accepted"] for r in table["candidates"])
    assert (t.cfg.amp, t.cfg.channels_last) == ("none", True)
    t.fit(progress=False)
    assert json.loads((tmp_path / "run" / "log.jsonl").read_text().splitlines()[0])["step"] == 0


def test_the_generator_step_computes_no_discriminator_gradient_and_the_same_generator_gradient(tmp_path):
    """The discriminators' weights get gradients in their own step, none from the generator's backward (they
    do without the hold); the generator's gradient is what it was when the discriminators' weights took gradients too."""
    grads = {}
    for held in (True, False):
        torch.manual_seed(123)
        t = Trainer(smoke(tmp_path, f"held{held}", iterations=1), encoder=VGGEncoder("random"))
        if not held:
            t.system.discriminators_held = contextlib.nullcontext
        calls, in_g_step = [], []
        for p in [*t.d_style.parameters(), *t.d_content.parameters()]:
            p.register_hook(lambda g, calls=calls: calls.append(1))
        step = t._step_if_finite

        def counted(loss, opt, held=(), step=step, calls=calls, in_g_step=in_g_step, t=t):
            before = len(calls)
            finite = step(loss, opt, held)
            if opt is t.opt_g:
                in_g_step.append(len(calls) - before)
            return finite
        t._step_if_finite = counted
        t.train_step(*next(t.batches()))
        assert len(calls) > 0 and (in_g_step == [0] if held else in_g_step[0] > 0), (held, in_g_step)
        assert all(p.requires_grad for p in t.d_style.parameters())  # given back for the next D step
        grads[held] = torch.cat([p.grad.flatten() for p in t.generator_params if p.grad is not None])
    assert grads[True].numel() > 1000
    torch.testing.assert_close(grads[True], grads[False], rtol=1e-5, atol=1e-7)


def test_bf16_keeps_padding_in_bf16_and_the_encoder_in_a_cached_bf16_copy():
    from rastlib.model.ops import ReflectionPad
    x = torch.randn(1, 4, 8, 8).bfloat16()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert ReflectionPad(1)(x).dtype == torch.bfloat16  # torch.nn.ReflectionPad2d gives float32 here
        assert torch.equal(ReflectionPad(1)(x), torch.nn.functional.pad(x, (1,) * 4, "reflect"))
    enc = VGGEncoder("random")
    img = torch.rand(1, 3, 32, 32)
    fp32 = enc(img)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        taps = enc(img)
        assert enc._slices_for(img) is enc._slices_for(img)  # made once
    assert taps[0].dtype == torch.float32 and taps[4].dtype == torch.bfloat16  # relu1_1's slice stays fp32
    assert all(torch.allclose(a.float(), b, rtol=0.1, atol=0.1 * float(b.abs().max())) for a, b in zip(taps, fp32))
    assert all(p.dtype == torch.float32 for p in enc.parameters())  # the weights a checkpoint holds
    assert not any(k.startswith("_bf16") for k in enc.state_dict())


def test_exclusive_pauses_the_background_training_and_resumes_it(tmp_path):
    """A process that looks like the background training (scripts/train_arm.py) is stopped while the command
    runs and running again afterwards, also when the command fails; a nested call (the tests' own, under
    `make test`'s) leaves an already stopped training for the outer call to resume."""
    fake = tmp_path / "scripts" / "train_arm.py"
    fake.parent.mkdir()
    fake.write_text("import time\nwhile True: time.sleep(0.05)\n")
    trainer = subprocess.Popen([sys.executable, str(fake)])
    try:
        time.sleep(0.5)

        def state():
            return Path(f"/proc/{trainer.pid}/stat").read_text().split(") ")[1][0]
        probe = f"import sys; sys.exit(0 if open('/proc/{trainer.pid}/stat').read().split(') ')[1][0] == 'T' else 3)"
        done = subprocess.run([str(ROOT / "scripts" / "exclusive.sh"), sys.executable, "-c", probe],
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stderr  # the command saw the training stopped
        assert "background training paused" in done.stderr
        time.sleep(0.2)
        assert state() in "RS"
        failed = subprocess.run([str(ROOT / "scripts" / "exclusive.sh"), "false"], capture_output=True)
        assert failed.returncode == 1
        time.sleep(0.2)
        assert state() in "RS"
        os.kill(trainer.pid, 19)  # SIGSTOP, as an outer exclusive.sh does
        nested = subprocess.run([str(ROOT / "scripts" / "exclusive.sh"), "true"], capture_output=True, text=True)
        assert nested.returncode == 0 and str(trainer.pid) not in nested.stderr
        time.sleep(0.2)
        assert state() == "T"  # still stopped: the nested call did not resume it
    finally:
        trainer.kill()
        trainer.wait()
