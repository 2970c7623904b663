"""Training and evaluating the runs of a comparison, cached (`cache`), with their speed measurements."""
import json
import shutil
import statistics
import time
from dataclasses import replace
from pathlib import Path

import torch

from ..data import demo_eval_content_dir, demo_eval_style_dir, first_readable, list_images
from ..errors import RastError
from ..eval.metrics import evaluate_pair, load_square, restoration_score, summarise
from ..progress import progress as show_progress
from ..train.checkpoint import load_model
from .cache import EVAL_CODE, TRAIN_CODE, code_digest, file_digest, run_key
from .variants import variant_config


def code_digests():
    """(training code digest, evaluation code digest) as the files stand now."""
    return code_digest(TRAIN_CODE), code_digest(EVAL_CODE, EVAL_FUNCTIONS)


def train_variant(budget, variant, seed, progress=False, log=print):
    """Train (or resume, or reuse) one run; returns its checkpoint path. A cached run whose key (`run_key`)
    differs from the present one is deleted and trained again (saying why)."""
    from ..train.loop import Trainer
    cfg = variant_config(budget, variant, seed)
    out, key = Path(cfg.out_dir), run_key(cfg)
    key_file = out / "run_key.json"
    if out.is_dir() and any(out.iterdir()):
        saved = json.loads(key_file.read_text()) if key_file.is_file() else {}
        stale = [k for k in key if saved.get(k) != key[k]]
        if stale:
            log(f"{out}: its {', '.join(stale)} changed since it was trained: training it again")
            shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    key_file.write_text(json.dumps(key, indent=1))
    trainer = Trainer(cfg)
    if trainer.step < cfg.iterations:
        trainer.fit(progress=progress)
    return trainer.ckpt_path


def eval_pairs(budget):
    """The evaluation pairs of the held-out split (or the budget's eval folders): photo i with painting
    i mod (number of paintings), so every photo appears once and the paintings evenly.

    An unreadable file is skipped with a warning (the next readable one in its folder takes its place)."""
    content_root = budget.eval_content_dir or demo_eval_content_dir()
    style_root = budget.eval_style_dir or demo_eval_style_dir()
    contents, styles, skipped = list_images(content_root), list_images(style_root), {}
    return [(first_readable(contents, i, skipped, "evaluation", content_root)[0],
             first_readable(styles, i, skipped, "evaluation", style_root)[0])
            for i in range(budget.eval_pairs)]


def evaluation_nets():
    """The networks of the metrics that training never uses: LPIPS and the second-network style statistics by
    AlexNet (training's LPIPS loss is VGG16's, its Dc/Ds VGG19's)."""
    from ..model.perceptual import load_lpips
    return load_lpips("auto", net="alex")


def eval_key(budget, perceptual):
    """What an evaluation is a function of besides the checkpoint: the pairs' image bytes, the sizes and
    scales, the LPIPS backend and the evaluation code."""
    return {"pairs": [[file_digest(c), file_digest(s)] for c, s in eval_pairs(budget)],
            "eval_size": budget.eval_size, "scales": list(budget.restoration_scales), "lpips": perceptual.backend,
            "code": code_digest(EVAL_CODE, EVAL_FUNCTIONS)}


def evaluate_run(budget, ckpt_path, perceptual, device=None):
    """Mean metrics of a checkpoint over the budget's held-out pairs (`metrics.evaluate_pair`, with `perceptual`
    for LPIPS and the second-network style distance), restoration SSIM at each of `budget.restoration_scales`
    (Table 2) and timing. Cached in eval.json beside the checkpoint, keyed by `eval_key` and the checkpoint's
    bytes."""
    ckpt_path, scales = Path(ckpt_path), budget.restoration_scales
    cache = ckpt_path.parent / "eval.json"
    key = {**eval_key(budget, perceptual), "checkpoint": file_digest(ckpt_path)}
    if cache.is_file():
        saved = json.loads(cache.read_text())
        if saved.get("key") == key:
            return saved["metrics"]
    device = device or _device(budget)
    model = load_model(ckpt_path, device=device)
    rows = []
    for cp, sp in eval_pairs(budget):
        c = load_square(cp, budget.eval_size).unsqueeze(0).to(device)
        s = load_square(sp, budget.eval_size).unsqueeze(0).to(device)
        row, _ = evaluate_pair(model, c, s, perceptual, style_net=perceptual)
        for r in scales:
            row[f"restoration_ssim_{r}"] = restoration_score(model, c, s, r)
        rows.append(row)
    metrics = {k: v["mean"] for k, v in summarise(rows).items()}
    metrics.update(_timing(model, budget.eval_size, device))
    cache.write_text(json.dumps({"key": key, "metrics": metrics}, indent=1))
    return metrics


def _device(budget):
    from ..train.loop import resolve_device
    return resolve_device(budget.device)


def _timing(model, size, device):
    """Parameters of T and inference seconds at size² (training step times: `speed_rows`)."""
    return {"parameters_M": parameters_m(model), "inference_seconds": inference_seconds(model, size, device)}


def train_step_seconds(budget, variant, steps=2, warmup=True):
    """Median seconds of `steps` training steps of a variant under `budget`, after one untimed warm-up step if
    `warmup`."""
    import tempfile

    from ..train.loop import Trainer, read_log
    with tempfile.TemporaryDirectory() as tmp:
        cfg = replace(variant_config(budget, variant, budget.seeds[0]), out_dir=tmp, iterations=steps + warmup,
                      save_every=steps + warmup)
        trainer = Trainer(cfg, resume=False)
        trainer.fit(progress=False)
        return statistics.median(r["seconds"] for r in read_log(Path(tmp) / "log.jsonl")[int(warmup):])


def parameters_m(model):
    """Trained parameters (transform + decoder) in millions."""
    return sum(p.numel() for m in (model.transform, model.decoder) for p in m.parameters()) / 1e6


@torch.no_grad()
def inference_seconds(model, size, device="cpu", repeats=3):
    """Median wall time of one T(c, s) at size² (after one warm-up call)."""
    x = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(0)).to(device)
    model.T(x, x)
    times = []
    for _ in range(repeats):
        if x.is_cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        model.T(x, x)
        if x.is_cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


# The functions of this module an evaluation runs (part of its cache key, with EVAL_CODE).
EVAL_FUNCTIONS = (eval_key, evaluate_run, eval_pairs, evaluation_nets, _timing, parameters_m,
                  inference_seconds)


def _job_label(job):
    return f"({job[0]}, seed {job[1]})"


def run_comparison(budget, variants, progress=True):
    """Train and evaluate every (variant, seed); returns rows [{variant, seed, **metrics}]. A run whose record
    (`read_record`) still holds is not redone; otherwise its cached checkpoint is reused where its key holds."""
    device = _device(budget)
    perceptual = evaluation_nets().to(device)
    rows = []
    jobs = [(v, s) for s in budget.seeds for v in variants]  # seed-major: a cut-off run still has whole seeds
    loaded = code_digests()
    for variant, seed in show_progress(jobs, "variants × seeds", progress, _job_label):
        if code_digests() != loaded:
            raise RastError("rastlib's training or evaluation code changed on disk while these runs were made: "
                            "the next ones would be labelled with code this process did not load. Start again "
                            "(finished runs are reused where their code is unchanged).")
        record = read_record(budget, variant, seed, perceptual)
        if record is None:
            ckpt = train_variant(budget, variant, seed)
            record = write_record(budget, variant, seed, ckpt, evaluate_run(budget, ckpt, perceptual, device),
                                  perceptual)
        rows.append({"variant": variant, "seed": seed, **record["metrics"], "lpips_backend": perceptual.backend})
    return rows


# --- records: what a finished run leaves in the repository -------------------------------------------------------
# A run's checkpoint (~300 MB with its optimiser) stays in runs/ (not committed); its record, a small JSON with
# its keys, metrics and training log, and for the figure seed the images of `viz.VIEWS` as JPEGs, is committed
# in results/runs/, so a grid that takes longer than one machine's life goes on on the next, and the notebooks
# build every table and figure from the records alone.


FIGURE_PAIRS = 3  # held-out pairs in the notebooks' figures


def record_path(budget, variant, seed):
    """`<records_dir>/<profile>/<variant>/seed<k>.json`, or None where the budget keeps no records (smoke)."""
    return Path(budget.records_dir) / budget.profile / variant / f"seed{seed}.json" if budget.records_dir else None


def read_record(budget, variant, seed, perceptual):
    """A run's record if it still holds: its training key (`run_key`) and evaluation key (`eval_key`) are those
    of the code, weights, data and settings here now; else None."""
    path = record_path(budget, variant, seed)
    if path is None or not path.is_file():
        return None
    record = json.loads(path.read_text())
    fresh = (record.get("run_key") == run_key(variant_config(budget, variant, seed))
             and record.get("eval_key") == eval_key(budget, perceptual))
    return record if fresh else None


def write_record(budget, variant, seed, ckpt_path, metrics, perceptual):
    """Write (atomically) and return the record of a trained and evaluated run; for the budget's first seed
    also its `viz.VIEWS` images on the `figure_pairs`."""
    from ..atomic import atomic_write
    from ..eval.viz import save_views
    from ..train.loop import read_log
    path, ckpt_path = record_path(budget, variant, seed), Path(ckpt_path)
    if path is None:
        return {"metrics": metrics}
    record = {"variant": variant, "seed": seed, "budget": budget.what, "hardware": _hardware(budget),
              "torch": torch.__version__, "date": time.strftime("%Y-%m-%d"),
              "run_key": run_key(variant_config(budget, variant, seed)), "eval_key": eval_key(budget, perceptual),
              "checkpoint_sha256": file_digest(ckpt_path), "metrics": metrics,
              "log": read_log(ckpt_path.parent / "log.jsonl"), "views": {}}
    if seed == budget.seeds[0]:
        pairs = [(c, s) for _, c, s in figure_pairs(budget, FIGURE_PAIRS)]
        record["views"] = save_views(load_model(ckpt_path), pairs, path.parent / f"seed{seed}")
    with atomic_write(path) as f:
        f.write(json.dumps(record, indent=1).encode())
    return record


def _hardware(budget):
    if budget.device in ("auto", "cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"CPU, {torch.get_num_threads()} threads"


def figure_pairs(budget, n=FIGURE_PAIRS):
    """n (name, content, style) held-out pairs of [1,3,H,W] tensors at the evaluation size (centre squares, as
    measured), for figures and the slider."""
    return [(f"{c.stem[:16]} × {s.stem[:16]}", load_square(c, budget.eval_size).unsqueeze(0),
             load_square(s, budget.eval_size).unsqueeze(0)) for c, s in eval_pairs(replace(budget, eval_pairs=n))]
