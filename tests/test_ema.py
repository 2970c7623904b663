"""The generator's weight average (`Config.ema_decay`, rastlib.train.ema): its arithmetic, its exact resume, and
that the checkpoint stands for it (export, load_model, start of another run, averaging, diagnosis)."""
import pytest
import torch

from rastlib.errors import ConfigError
from rastlib.model.encoder import VGGEncoder
from rastlib.train import Trainer
from rastlib.train import checkpoint as C
from rastlib.train.averaging import average_checkpoints
from rastlib.train.config import make_config


def smoke(tmp_path, name, **kw):
    return make_config("smoke", out_dir=str(tmp_path / name), loss_preset="sanet", **kw)


def trainer(cfg):
    torch.manual_seed(0)
    return Trainer(cfg, encoder=VGGEncoder("random"))


def weights(model):
    return {part: {k: v.detach().clone().float() for k, v in sd.items()}
            for part, sd in model.generator_state().items()}


def assert_state_close(a, b, **tol):
    assert a.keys() == b.keys()
    for part in a:
        assert a[part].keys() == b[part].keys()
        for k in a[part]:
            assert torch.allclose(a[part][k].float(), b[part][k].float(), **tol), (part, k)


def test_the_average_follows_its_formula_and_the_checkpoint_stands_for_it(tmp_path):
    """decay 0.5 over two steps from w0: ema = 0.25 w0 + 0.25 w1 + 0.5 w2; the checkpoint keeps the trained w2 as
    its generator and the average beside it; export, load_model and a run started from it take the average."""
    t = trainer(smoke(tmp_path, "ema", iterations=2, ema_decay=0.5))
    seen = [weights(t.model)]
    batch = next(t.batches())
    for _ in range(2):
        assert not t.train_step(*batch)["skipped"]
        t.step += 1
        seen.append(weights(t.model))
    expected = {part: {k: 0.25 * seen[0][part][k] + 0.25 * seen[1][part][k] + 0.5 * seen[2][part][k]
                       for k in seen[0][part]} for part in seen[0]}
    assert_state_close(t.system.ema.state, expected, rtol=1e-5, atol=1e-7)
    moved = sum(float((seen[2][p][k] - seen[0][p][k]).abs().sum()) for p in seen[0] for k in seen[0][p])
    assert moved > 0
    t.save()
    ckpt = C.load_checkpoint(t.ckpt_path)
    assert_state_close(ckpt["generator"], seen[2], rtol=0, atol=0)  # training resumes from the trained weights
    assert_state_close(ckpt["ema"], expected, rtol=1e-5, atol=1e-7)
    assert_state_close(weights(C.model_of(ckpt)), expected, rtol=1e-5, atol=1e-7)
    C.export_inference(ckpt, tmp_path / "small.pt")
    small = C.load_checkpoint(tmp_path / "small.pt")
    assert_state_close(small["generator"], expected, rtol=1e-3, atol=1e-3)  # fp16
    started = trainer(smoke(tmp_path, "from_ema", iterations=1, init_from=str(t.ckpt_path)))
    assert_state_close(weights(started.model), expected, rtol=1e-5, atol=1e-7)
    # averaging a run with another takes the run's average
    mean = average_checkpoints([t.ckpt_path, t.ckpt_path])
    assert_state_close(mean["generator"], expected, rtol=1e-5, atol=1e-7)


def test_the_model_holds_the_average_only_inside_averaged(tmp_path):
    t = trainer(smoke(tmp_path, "swap", iterations=1, ema_decay=0.9))
    t.fit(progress=False)
    trained = weights(t.model)
    with t.system.averaged() as model:
        assert model is t.model
        assert_state_close(weights(model), t.system.ema.state, rtol=0, atol=0)
        with pytest.raises(AssertionError):
            assert_state_close(weights(model), trained, rtol=0, atol=0)
    assert_state_close(weights(t.model), trained, rtol=0, atol=0)
    plain = trainer(smoke(tmp_path, "plain", iterations=1))
    plain.fit(progress=False)
    assert plain.system.ema is None and C.load_checkpoint(plain.ckpt_path)["ema"] is None
    with plain.system.averaged() as model:
        assert model is plain.model


def test_a_resumed_run_keeps_its_average_exactly_and_one_can_start_it_at_a_resume(tmp_path):
    """2 steps in one go vs 1 + 1: the same average; a run resumed with ema_decay newly set (a resumable field)
    starts its average at the resumed weights."""
    straight = trainer(smoke(tmp_path, "straight", iterations=2, ema_decay=0.8))
    straight.fit(progress=False)
    part = trainer(smoke(tmp_path, "part", iterations=2, ema_decay=0.8))
    part.fit(steps=1, progress=False)
    resumed = trainer(smoke(tmp_path, "part", iterations=2, ema_decay=0.8))
    assert resumed.step == 1
    resumed.fit(progress=False)
    assert_state_close(resumed.system.ema.state, straight.system.ema.state, rtol=1e-5, atol=1e-7)

    late = trainer(smoke(tmp_path, "late", iterations=2))
    late.fit(steps=1, progress=False)
    on = trainer(smoke(tmp_path, "late", iterations=2, ema_decay=0.8))
    assert on.step == 1
    assert_state_close(on.system.ema.state, weights(on.model), rtol=0, atol=0)


@pytest.mark.parametrize("bad", [1, 1.5, -0.1, True, "0.99"])
def test_a_bad_decay_is_refused_by_name(bad):
    with pytest.raises(ConfigError, match="ema_decay"):
        make_config("smoke", ema_decay=bad)
