"""The experiment machinery of the notebooks: parameters, variants, verdicts, tables, the simplified model, the slider."""
import json

import pytest
import torch

from rastlib import experiments as E
from rastlib.config import LOSS_PRESETS
from rastlib.errors import ConfigError
from rastlib.losses import SEED_GROUPS
from rastlib.model import RAST
from rastlib.sanet import SingleLevelTransform, Transform


@pytest.mark.parametrize("kwargs, needle", [
    ({"profile": "fast"}, "'profile'"),
    ({"profile": "smoke", "seeds": []}, "'seeds'"),
    ({"profile": "smoke", "seeds": 3}, "'seeds'"),
    ({"profile": "smoke", "seeds": [0, -1]}, "'seeds'"),
    ({"profile": "smoke", "steps": 0}, "'steps'"),
    ({"profile": "smoke", "steps": 2.5}, "'steps'"),
    ({"profile": "smoke", "image_size": -64}, "'image_size'"),
    ({"profile": "smoke", "content_dir": "/no/such/folder"}, "'content_dir'"),
    ({"profile": "smoke", "style_dir": "/no/such/folder"}, "'style_dir'"),
])
def test_bad_notebook_parameters_name_the_parameter(kwargs, needle):
    with pytest.raises(ConfigError, match=needle):
        E.check_parameters(**kwargs)


def test_parameters_override_the_profile(tmp_path):
    b = E.check_parameters("demo", seeds=[4, 5, 6], steps=3, image_size=96, runs_dir=tmp_path)
    assert (b.seeds, b.steps, b.eval_size, b.runs_dir) == ((4, 5, 6), 3, 96, str(tmp_path))
    assert "3 steps" in b.what and "seeds [4, 5, 6]" in b.what


def test_each_ablation_variant_removes_exactly_its_group():
    full = E.VARIANTS["full"]["weights"]
    assert full == LOSS_PRESETS["seed_full"]
    for group, terms in SEED_GROUPS.items():
        w = E.VARIANTS[f"no_{group}"]["weights"]
        assert all(w[t] == 0 for t in terms)
        assert {k for k in full if full[k] != w[k]} == {t for t in terms if full[t]}


def test_variant_config_is_the_same_budget_for_every_variant(tmp_path):
    b = E.check_parameters("smoke", runs_dir=tmp_path)
    a, s = E.variant_config(b, "full", 1), E.variant_config(b, "simplified", 1)
    same = ("iterations", "crop_size", "batch_size", "seed", "lr", "init_from", "content_dir", "style_dir")
    assert all(getattr(a, k) == getattr(s, k) for k in same)
    assert (a.architecture, s.architecture) == ("full", "single_level")
    assert s.weights["adversarial"] == 0 and a.weights["adversarial"] > 0
    assert a.out_dir != s.out_dir
    with pytest.raises(ConfigError, match="variant"):
        E.variant_config(b, "no_such_variant", 0)


def _rows(a_values, b_values, metric="m"):
    return ([{"variant": "a", "seed": i, metric: v} for i, v in enumerate(a_values)]
            + [{"variant": "b", "seed": i, metric: v} for i, v in enumerate(b_values)])


def test_verdict_needs_a_difference_beyond_two_standard_errors():
    clear = _rows([1.0, 1.1, 0.9], [2.0, 2.1, 1.9])
    assert E.verdict(clear, "m", "a", "b", "lower")[0] == "reproduced"
    assert E.verdict(clear, "m", "a", "b", "higher")[0] == "not reproduced"
    assert E.verdict(clear, "m", "b", "a", "higher")[0] == "reproduced"
    noisy = _rows([1.0, 3.0, 0.5], [2.0, 1.0, 2.5])
    label, evidence = E.verdict(noisy, "m", "a", "b", "lower")
    assert label == "not testable at this scale" and "2·SE" in evidence
    assert E.verdict(_rows([1.0], [2.0]), "m", "a", "b", "lower")[0] == "not testable at this scale"


def test_tables_give_mean_and_sample_std_per_variant(tmp_path):
    rows = _rows([1.0, 2.0, 3.0], [5.0, 5.0, 5.0], metric="Ds")
    md = E.write_table(rows, ["Ds"], tmp_path, "t")
    assert "| a | 2 ± 1 |" in md and "| b | 5 ± 0 |" in md and "3 seeds" in md
    assert (tmp_path / "t.csv").read_text().splitlines()[1] == "a,0,1.0"


def test_claims_and_summary(tmp_path):
    b = E.check_parameters("smoke")
    metrics = {m for nb in ("02_ablation", "03_idempotency", "04_multirestoration", "05_lpips", "06_simplified")
               for _, m, _, _, _ in E.claims_for(nb, b)}
    rows = [{"variant": v, "seed": s, **{m: float(s + (v == "full")) for m in metrics}}
            for v in ("full", "no_idempotency") for s in range(3)]
    E.label_claims("03_idempotency", rows, b, tmp_path / "03_idempotency")
    saved = json.loads((tmp_path / "03_idempotency" / "claims.json").read_text())
    assert [c["verdict"] for c in saved["claims"]] == ["not testable at this scale"] * 2
    summary = (tmp_path / "summary.md").read_text()
    assert "## 03_idempotency" in summary and "smoke profile" in summary


def test_check_outputs_names_what_is_missing(tmp_path):
    (tmp_path / "a.png").write_bytes(b"x")
    with pytest.raises(AssertionError, match="b.png"):
        E.check_outputs(tmp_path, ["a.png", "b.png"])
    rows = [{"variant": "full", "seed": 0, "m": float("nan")}]
    with pytest.raises(AssertionError, match="metric m"):
        E.check_outputs(tmp_path, ["a.png"], rows, ["full"], ["m"])
    with pytest.raises(AssertionError, match="no_lpips"):
        E.check_outputs(tmp_path, ["a.png"], rows, ["no_lpips"], [])


def test_simplified_model_starts_from_a_full_one_and_skips_relu5_1():
    torch.manual_seed(0)
    full = RAST("random")
    simple = RAST(full.encoder, architecture="single_level")
    assert set(simple.transform.state_dict()) < set(full.transform.state_dict())
    simple.load_generator_state(full.generator_state(), partial=True)
    assert torch.equal(simple.transform.sanet4_1.f.weight, full.transform.sanet4_1.f.weight)
    calls = []
    hook = full.encoder.slices[4].register_forward_hook(lambda *a: calls.append(1))
    x = torch.rand(1, 3, 48, 80)
    assert simple.T(x, x).shape == x.shape and not calls  # relu5_1 never computed
    full.T(x, x)
    assert calls
    hook.remove()
    with pytest.raises(Exception, match="keys do not match"):
        RAST(full.encoder, architecture="single_level").load_generator_state(full.generator_state())
    assert isinstance(full.transform, Transform) and isinstance(simple.transform, SingleLevelTransform)


def test_slider_callback_redraws_the_image():
    from rastlib import load_model
    from rastlib.viz import AlphaSlider
    b = E.check_parameters("smoke", image_size=48)
    slider = AlphaSlider(load_model(), E.figure_pairs(b, 2))
    first = bytes(slider.image.value)
    assert first.startswith(b"\x89PNG")
    slider.slider.value = 0.0
    at_zero = bytes(slider.image.value)
    assert at_zero != first
    slider.pair.value = 1
    assert bytes(slider.image.value) not in (first, at_zero)
