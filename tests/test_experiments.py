"""The experiment machinery of the notebooks: parameters, variants, verdicts, tables, the simplified model, the slider."""
import json
from dataclasses import replace

import pytest
import torch

from rastlib import lab as E
from rastlib.errors import ConfigError
from rastlib.lab import cache, runs
from rastlib.model import RAST
from rastlib.model.sanet import SingleLevelTransform, Transform
from rastlib.paths import REPO_ROOT
from rastlib.train.config import LOSS_PRESETS
from rastlib.train.losses import SEED_GROUPS


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
    assert b.records_dir == str(tmp_path / "records")  # one's own runs keep their records with them
    assert E.check_parameters("demo", runs_dir="runs/experiments").records_dir == "results/runs"
    assert E.check_parameters("smoke", runs_dir=tmp_path).records_dir == ""  # smoke keeps none


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
    assert s.weights == a.weights  # the architecture alone changes
    reduced = E.variant_config(b, "simplified_reduced", 1)
    assert reduced.architecture == "single_level" and reduced.weights["adversarial"] == 0 < a.weights["adversarial"]
    assert a.out_dir != s.out_dir
    with pytest.raises(ConfigError, match="variant"):
        E.variant_config(b, "no_such_variant", 0)


def _rows(a_values, b_values, metric="m"):
    return ([{"variant": "a", "seed": i, metric: v} for i, v in enumerate(a_values)]
            + [{"variant": "b", "seed": i, metric: v} for i, v in enumerate(b_values)])


def test_tables_give_mean_and_sample_std_per_variant(tmp_path):
    rows = _rows([1.0, 2.0, 3.0], [5.0, 5.0, 5.0], metric="Ds")
    md = E.write_table(rows, ["Ds"], tmp_path, "t")
    assert "| a | 2 ± 1 |" in md and "| b | 5 ± 0 |" in md and "3 seeds" in md
    assert (tmp_path / "t.csv").read_text().splitlines()[1] == "a,0,1.0"


def test_every_cell_of_table1_and_every_seed_number_is_a_claim():
    b = E.check_parameters("demo")
    t1 = E.seed_claims("02_ablation", b)
    assert len(t1) == 18 and len({(c.metric, c.variant) for c in t1}) == 18  # 6 rows × 3 columns, no duplicate
    assert {c.variant for c in t1} == {f"no_{g}" for g in ("content", "style", "restoration", "adversarial",
                                                           "idempotency", "lpips")}
    assert sum(c.expect == "same" for c in t1) == 6 and all(c.margin > 0 for c in t1 if c.expect == "same")
    t2 = E.seed_claims("04_multirestoration", b)
    assert [c.seed_says for c in t2] == ["0.85 with vs 0.78 without", "0.80 with vs 0.70 without",
                                         "0.75 with vs 0.65 without"]
    assert "0.30" in E.seed_claims("05_lpips", b)[0].seed_says
    for nb in ("02_ablation", "03_idempotency", "04_multirestoration", "05_lpips", "06_simplified"):
        claims = E.seed_claims(nb, b)
        assert len({(c.metric, c.variant, c.reference) for c in claims}) == len(claims), nb
        assert all(c.variant in E.VARIANTS and c.reference in E.VARIANTS for c in claims)


def test_claims_and_summary(tmp_path):
    """The summary gathers the notebooks' claims; a folder judged by an earlier rule (older claims.json, without
    the fields of today's verdicts) is listed as not rerun, not mixed in, and does not stop the summary."""
    earlier = tmp_path / "05_lpips"
    earlier.mkdir()
    (earlier / "claims.json").write_text(json.dumps({
        "notebook": "05_lpips", "budget_what": "demo profile: 16 steps", "hardware": "CPU", "torch": "2.13",
        "date": "2026-11-25", "claims": [{"claim": "LPIPS loss lowers LPIPS", "verdict": "reproduced",
                                          "evidence": "2 standard errors"}]}))
    b = E.check_parameters("smoke")
    metrics = {c.metric for c in E.seed_claims("03_idempotency", b)}
    # idempotency_mse clearly lower with the loss (every seed), stylisation indistinguishable
    rows = [{"variant": v, "seed": s, **{m: (1.0 + 0.01 * s if m != "idempotency_mse" else
                                            (0.5 if v == "full" else 1.0) + 0.001 * s ** 2) for m in metrics}}
            for v in ("full", "no_idempotency") for s in range(3)]
    md = E.label_claims("03_idempotency", rows, b, tmp_path / "03_idempotency")
    saved = json.loads((tmp_path / "03_idempotency" / "claims.json").read_text())
    assert [c["verdict"] for c in saved["claims"]] == ["reproduced", "no support at this budget"]
    assert "paired t, n = 3" in md
    summary = (tmp_path / "summary.md").read_text()
    assert "## 03_idempotency" in summary and "smoke profile" in summary and "Holm" in summary
    assert "## 05_lpips" not in summary and "LPIPS loss lowers LPIPS" not in summary
    assert "## Not rerun under this rule" in summary and "`05_lpips` (2026-11-25): demo profile: 16 steps" in summary


def test_claims_name_the_repository_files_relative_to_it(tmp_path):
    """claims.json is committed: the budget's starting checkpoint is named as in every clone, not by this one's path."""
    record = E.write_claims(tmp_path, "03_idempotency", E.BUDGETS["demo"], [])
    assert record["budget"]["init_from"] == "checkpoints/rast_demo_fp16.pt"
    assert str(REPO_ROOT) not in (tmp_path / "claims.json").read_text()


def test_code_digest_follows_the_code_not_its_comments(tmp_path, monkeypatch):
    import shutil
    copy = tmp_path / "rastlib"
    shutil.copytree(cache.PACKAGE_DIR, copy)
    monkeypatch.setattr(cache, "PACKAGE_DIR", copy)
    before = E.code_digest(E.TRAIN_CODE)
    losses = copy / "train" / "losses.py"
    src = losses.read_text()
    losses.write_text(src.replace('"""Σ_r ‖R(S_r(I_o))', '"""(reworded) Σ_r ‖R(S_r(I_o))') + "\n# a comment\n")
    assert E.code_digest(E.TRAIN_CODE) == before
    losses.write_text(src.replace("total = total + F.mse_loss(g.decode_transfer(g.model.encode(o), fc), c)",
                                  "total = total + 2 * F.mse_loss(g.decode_transfer(g.model.encode(o), fc), c)"))
    assert E.code_digest(E.TRAIN_CODE) != before


def test_the_evaluation_digest_follows_its_functions_not_their_lines(tmp_path, monkeypatch):
    """A grid checks the digest between runs: an edit elsewhere in lab/runs.py that shifts the evaluation
    functions' lines must not stop it (reading them by line number did), an edit to one of them must."""
    import shutil
    copy = tmp_path / "rastlib"
    shutil.copytree(cache.PACKAGE_DIR, copy)
    monkeypatch.setattr(cache, "PACKAGE_DIR", copy)
    before = E.code_digest(E.EVAL_CODE, E.EVAL_FUNCTIONS)
    module = copy / "lab" / "runs.py"
    src = module.read_text()
    first = '"""Training and evaluating the runs'
    module.write_text(src.replace(first, '"""(a new first line)\n\n' + first[3:], 1)
                      + "\n\ndef added_later():\n    return 1\n")
    assert E.code_digest(E.EVAL_CODE, E.EVAL_FUNCTIONS) == before
    module.write_text(src.replace("for r in scales:", "for r in scales[:1]:"))
    assert E.code_digest(E.EVAL_CODE, E.EVAL_FUNCTIONS) != before


def test_a_cached_run_is_reused_until_a_loss_term_changes(tmp_path, monkeypatch):
    import shutil
    copy = tmp_path / "rastlib"
    shutil.copytree(cache.PACKAGE_DIR, copy)
    monkeypatch.setattr(cache, "PACKAGE_DIR", copy)
    b = E.check_parameters("smoke", runs_dir=tmp_path / "runs")
    said = []
    ckpt = E.train_variant(b, "no_lpips", 0, log=said.append)
    first = ckpt.stat().st_mtime_ns
    assert E.train_variant(b, "no_lpips", 0, log=said.append).stat().st_mtime_ns == first and not said
    losses = copy / "train" / "losses.py"
    losses.write_text(losses.read_text().replace("F.mse_loss(g.decode_transfer(g.model.encode(o), fc), c)",
                                                 "F.l1_loss(g.decode_transfer(g.model.encode(o), fc), c)"))
    E.train_variant(b, "no_lpips", 0, log=said.append)
    assert said and "code changed" in said[0] and ckpt.stat().st_mtime_ns != first
    said.clear()
    E.train_variant(replace(b, lr=b.lr * 2), "no_lpips", 0, log=said.append)  # another config: trained again
    assert said and "config changed" in said[0]


def _run_grid_script():
    import importlib.util

    from rastlib.train.checkpoint import REPO_ROOT
    spec = importlib.util.spec_from_file_location("run_grid", REPO_ROOT / "scripts" / "run_grid.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_finished_run_is_kept_as_a_record_that_outlives_its_checkpoint(tmp_path, monkeypatch):
    """The grid outlasts a machine: a run's record (keys, metrics, log, figure images) is what the notebooks read,
    with no checkpoint left, until the code that made it changes."""
    import shutil
    copy = tmp_path / "rastlib"
    shutil.copytree(cache.PACKAGE_DIR, copy)
    monkeypatch.setattr(cache, "PACKAGE_DIR", copy)
    b = replace(E.check_parameters("smoke", seeds=[0, 1], runs_dir=tmp_path / "runs"),
                records_dir=str(tmp_path / "rec"))
    rows = E.run_comparison(b, ["no_lpips"], progress=False)
    folder = tmp_path / "rec" / "smoke" / "no_lpips"
    assert sorted(p.name for p in folder.iterdir()) == [
        "seed0.json", "seed0_idempotency.jpg", "seed0_restoration_64.jpg", "seed0_stylised.jpg", "seed1.json"]
    record = json.loads((folder / "seed0.json").read_text())
    assert record["log"][0]["step"] == 0 and record["metrics"]["restoration_ssim"] == rows[0]["restoration_ssim"]

    shutil.rmtree(tmp_path / "runs")  # a fresh machine: records only

    def no_training(*a, **k):
        raise AssertionError("a run with a valid record was trained again")

    monkeypatch.setattr(runs, "train_variant", no_training)
    assert E.run_comparison(b, ["no_lpips"], progress=False) == rows
    views = E.figure_views(b, ["no_lpips"], "idempotency")["no_lpips"]
    assert len(views) == E.FIGURE_PAIRS and [tuple(v.shape) for v in views[0]] == [(3, 64, 64)] * 3
    assert E.training_logs(b, ["no_lpips"])["no_lpips"] == record["log"]
    grid = _run_grid_script()
    assert "| no_lpips | done | done |" in grid.status(b, ["no_lpips"])
    assert "| full | to do | to do |" in grid.status(b, ["full"])

    losses = copy / "train" / "losses.py"
    losses.write_text(losses.read_text().replace("F.mse_loss(g.decode_transfer(g.model.encode(o), fc), c)",
                                                 "F.l1_loss(g.decode_transfer(g.model.encode(o), fc), c)"))
    assert E.read_record(b, "no_lpips", 0, E.evaluation_nets()) is None  # other code: the record no longer holds
    assert "| no_lpips | stale | stale |" in grid.status(b, ["no_lpips"])
    with pytest.raises(AssertionError, match="trained again"):
        E.run_comparison(b, ["no_lpips"], progress=False)


def test_a_run_key_is_the_same_in_every_clone(tmp_path):
    """Records are committed, so their keys cannot hold where the repository is or where the run was written."""
    from rastlib.paths import portable
    from rastlib.train.checkpoint import REPO_ROOT
    b = E.BUDGETS["demo"]
    cfg = E.variant_config(b, "full", 0)
    assert portable(str(REPO_ROOT / "data" / "demo")) == "data/demo" and portable("/elsewhere") == "/elsewhere"
    moved = replace(cfg, out_dir=str(tmp_path / "x"), content_dir=portable(cfg.content_dir))
    assert E.run_key(moved) == E.run_key(cfg)
    assert E.run_key(replace(cfg, seed=1)) != E.run_key(cfg)


def test_a_grid_stops_when_its_code_is_edited_while_it_runs(tmp_path, monkeypatch):
    """Runs are keyed by the code on disk; a running process keeps the code it loaded. So an edit between two runs
    stops the grid instead of labelling the next run with code that did not make it."""
    import shutil
    from types import SimpleNamespace

    from rastlib.errors import RastError
    copy = tmp_path / "rastlib"
    shutil.copytree(cache.PACKAGE_DIR, copy)
    monkeypatch.setattr(cache, "PACKAGE_DIR", copy)
    nets = SimpleNamespace(backend="stub")
    nets.to = lambda device: nets
    monkeypatch.setattr(runs, "evaluation_nets", lambda: nets)
    monkeypatch.setattr(runs, "evaluate_run", lambda *a, **k: {})
    trained = []

    def train_and_edit(budget, variant, seed):
        trained.append(variant)
        losses = copy / "train" / "losses.py"
        losses.write_text(losses.read_text().replace("F.mse_loss(g.decode_transfer(g.model.encode(o), fc), c)",
                                                     "F.l1_loss(g.decode_transfer(g.model.encode(o), fc), c)"))
        return tmp_path / "checkpoint.pt"

    monkeypatch.setattr(runs, "train_variant", train_and_edit)
    b = E.check_parameters("smoke", runs_dir=tmp_path / "runs")
    with pytest.raises(RastError, match="code changed on disk while these runs were made"):
        E.run_comparison(b, ["full", "no_lpips"], progress=False)
    assert trained == ["full"]


def test_variants_of_one_seed_see_the_same_batches_from_the_same_weights(tmp_path):
    from rastlib.train import Trainer
    b = E.check_parameters("smoke", runs_dir=tmp_path)
    batches = []
    for variant in ("full", "no_adversarial", "simplified"):
        trainer = Trainer(E.variant_config(b, variant, 3), resume=False)
        it = trainer.batches()
        batches.append([torch.cat(next(it)) for _ in range(2)])
        if variant != "simplified":  # same architecture: the same starting weights (a seeded start in smoke)
            weights = {f"{part}.{k}": v for part, sd in trainer.model.generator_state().items() for k, v in sd.items()}
            reference = weights if variant == "full" else reference
            assert weights.keys() == reference.keys() and all(torch.equal(weights[k], reference[k]) for k in reference)
    assert all(torch.equal(x, y) for other in batches[1:] for x, y in zip(batches[0], other))
    other_seed = Trainer(E.variant_config(b, "full", 4), resume=False).batches()
    assert not torch.equal(torch.cat(next(other_seed)), batches[0][0])


def test_gradient_norms_scale_with_each_weight_and_skip_terms_switched_off(tmp_path):
    from rastlib.train.config import make_config
    base = dict(out_dir=str(tmp_path / "run"), loss_preset="sanet", batch_size=2,
                encoder="random")
    cfg_one = make_config("smoke", **base, weights={"multirestoration": 1.0})
    one = E.config_gradient_norms(cfg_one, batches=1)
    three = E.config_gradient_norms(make_config("smoke", **base, weights={"multirestoration": 3.0,
                                                                         "direct_style": 0.0}), batches=1)
    assert set(one) == {k for k, w in cfg_one.weights.items() if w} and "multirestoration" in one
    assert set(three) == set(one) - {"direct_style"}
    assert all(v > 0 for v in one.values())
    assert three["multirestoration"] == pytest.approx(3 * one["multirestoration"], rel=1e-4)
    assert three["direct_content"] == pytest.approx(one["direct_content"], rel=1e-4)  # same start, same batch


def test_training_multirestoration_scales_are_below_the_crop():
    b = E.check_parameters("demo")
    assert E.variant_config(replace(b, crop_size=128), "full", 0).multirestoration_scales == (128, 64, 32)
    assert replace(b, crop_size=256).train_scales == (256, 128, 64)  # the seed's scales at its crop
    assert E.check_parameters("smoke").train_scales == (64, 32)      # none under 32 px
    assert E.restoration_metrics(b) == ["restoration_ssim_256", "restoration_ssim_128", "restoration_ssim_64",
                                        "restoration_ssim"]


def test_check_outputs_names_what_is_missing(tmp_path):
    (tmp_path / "a.png").write_bytes(b"x")
    with pytest.raises(AssertionError, match="b.png"):
        E.check_outputs(tmp_path, ["a.png", "b.png"])
    rows = [{"variant": "full", "seed": 0, "m": float("nan")}]
    with pytest.raises(AssertionError, match="metric m"):
        E.check_outputs(tmp_path, ["a.png"], rows, ["full"], ["m"])
    with pytest.raises(AssertionError, match="no_lpips"):
        E.check_outputs(tmp_path, ["a.png"], rows, ["no_lpips"], [])
    two = [{"variant": "full", "seed": 0}, {"variant": "full", "seed": 0}]  # a seed twice, seed 1 missing
    with pytest.raises(AssertionError, match="one row per seed"):
        E.check_outputs(tmp_path, ["a.png"], two, ["full"], [], seeds=(0, 1))
    assert "2 runs" in E.check_outputs(tmp_path, ["a.png"], two[:1] + [{"variant": "full", "seed": 1}], ["full"],
                                       [], seeds=(0, 1))


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
    from rastlib.eval.viz import AlphaSlider
    b = E.check_parameters("smoke", image_size=48)
    slider = AlphaSlider(load_model(), E.figure_pairs(b, 2))
    first = bytes(slider.image.value)
    assert first.startswith(b"\x89PNG")
    slider.slider.value = 0.0
    at_zero = bytes(slider.image.value)
    assert at_zero != first
    slider.pair.value = 1
    assert bytes(slider.image.value) not in (first, at_zero)


def test_saved_views_come_back_as_the_images_the_model_made(tmp_path):
    """A record's figure images (JPEG) are the model's `viz.VIEWS` images, pair by pair and column by column."""
    from rastlib.eval.viz import VIEWS, load_views, save_views
    torch.manual_seed(0)
    model = RAST("random").eval()
    pairs = [(torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 64)) for _ in range(2)]
    names = save_views(model, pairs, tmp_path / "seed0")
    assert set(names) == set(VIEWS)
    for view, (titles, fn) in VIEWS.items():
        back = load_views(tmp_path / names[view], len(pairs))
        for (c, s), row in zip(pairs, back):
            made = [img[0].clamp(0, 1) for img in fn(model, c, s)]
            assert len(row) == len(titles) == len(made)
            for a, b in zip(row, made):
                assert a.shape == b.shape and (a - b).abs().mean() < 0.03, view


def test_the_records_folder_is_committed_not_ignored():
    """Records are what a fresh machine goes on from: git must not ignore them (as a bare `runs/` pattern did)."""
    import shutil
    import subprocess

    from rastlib.train.checkpoint import REPO_ROOT
    if shutil.which("git") is None or not (REPO_ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    for path in ("results/runs/demo/full/seed0.json", "results/runs/demo/full/seed0_stylised.jpg"):
        ignored = subprocess.run(["git", "check-ignore", "-q", "--no-index", path], cwd=REPO_ROOT).returncode == 0
        assert not ignored, f"{path} is ignored by .gitignore"
    checkpoint = "runs/experiments/demo/full/seed0/checkpoint.pt"  # the checkpoints stay out
    assert subprocess.run(["git", "check-ignore", "-q", "--no-index", checkpoint], cwd=REPO_ROOT).returncode == 0


def test_run_key_names_what_the_config_leaves_to_the_machine(tmp_path, monkeypatch):
    """The LPIPS backend "auto" resolves to, and for amp "auto" the CPU's bf16 units, are part of a run's key: a run
    trained with the real LPIPS is stale where only ST-LPIPS is at hand, and one probed on another CPU too."""
    from rastlib.model import perceptual
    from rastlib.train import probe
    b = E.check_parameters("smoke", runs_dir=tmp_path / "runs")
    cfg = E.variant_config(b, "full", 0)
    assert cfg.weights["lpips"] and cfg.lpips_backend == "auto"
    monkeypatch.setattr(perceptual, "backbone_path", lambda net="vgg": str(tmp_path / "absent.pth"))
    with_stlpips = E.run_key(cfg)["config"]
    (tmp_path / "vgg16.pth").write_bytes(b"weights")
    monkeypatch.setattr(perceptual, "backbone_path", lambda net="vgg": str(tmp_path / "vgg16.pth"))
    assert E.run_key(cfg)["config"] != with_stlpips
    no_lpips = E.variant_config(b, "no_lpips", 0)  # no LPIPS term: the backend does not matter
    key = E.run_key(no_lpips)["config"]
    monkeypatch.setattr(perceptual, "backbone_path", lambda net="vgg": str(tmp_path / "absent.pth"))
    assert E.run_key(no_lpips)["config"] == key
    auto = replace(cfg, amp="auto")
    monkeypatch.setattr(probe, "cpu_flags", lambda: {"cpu": "x", "bf16_units": ["amx_bf16"]})
    amx = E.run_key(auto)["config"]
    monkeypatch.setattr(probe, "cpu_flags", lambda: {"cpu": "x", "bf16_units": []})
    assert E.run_key(auto)["config"] != amx and E.run_key(cfg)["config"] == with_stlpips
