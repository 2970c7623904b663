"""Command line: `python -m rastlib stylize|batch|restore|train|eval|demo|export|bench|download|compare-upstream`.

Every error a user can cause is printed as one line `error: …` with exit status 2 (no torch traceback).
"""
import argparse
import json
import os
import sys
from pathlib import Path

from ..errors import ConfigError, RastError, TrainingStopped


def _positive_int(name):
    def parse(text):
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a positive integer, got {text!r}") from None
        if v <= 0:
            raise argparse.ArgumentTypeError(f"{name} must be a positive integer, got {v}")
        return v
    return parse


def _alpha(text):
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"alpha must be a number in [0, 1], got {text!r}") from None
    if not 0.0 <= v <= 1.0:
        raise argparse.ArgumentTypeError(f"alpha must be in [0, 1], got {v}")
    return v


def _value(text):
    """Parse a --set value as JSON when possible (numbers, lists, booleans), else keep the string."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def build_parser():
    p = argparse.ArgumentParser(prog="rastlib", description="Restorable arbitrary style transfer (RAST) kit")
    sub = p.add_subparsers(dest="command", required=True)

    def model_args(sp):
        sp.add_argument("--checkpoint", help="rastlib checkpoint (default: the committed demo checkpoint)")
        sp.add_argument("--size", type=_positive_int("--size"), default=512,
                        help="resize inputs so their shorter side is SIZE px (default 512)")
        sp.add_argument("--max-size", type=_positive_int("--max-size"), default=2048,
                        help="downsize inputs whose longer side exceeds this (default 2048)")
        sp.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, … (default cpu)")
        sp.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto",
                        help="auto (default): bf16 autocast on a GPU or a CPU with a bf16 unit, else fp32")

    def art_fid_args(sp):
        sp.add_argument("--art-fid", action="store_true",
                        help="also compute ArtFID (needs the art-fid package, its Inception weights, LPIPS-alex)")
        sp.add_argument("--download-art-fid", action="store_true",
                        help="download ArtFID's Inception and LPIPS-alex weights if missing (needs internet)")

    s = sub.add_parser("stylize", help="stylise CONTENT with STYLE: I_o = T(I_c, I_s)")
    s.add_argument("content")
    s.add_argument("style", nargs="+", help="one style image, or several to interpolate (see --weights)")
    s.add_argument("-o", "--output", required=True)
    s.add_argument("--alpha", type=_alpha, default=1.0, help="style strength in [0, 1] (default 1)")
    s.add_argument("--weights", type=float, nargs="+", help="one weight per style (normalised; default equal)")
    s.add_argument("--preserve-color", choices=["luminance", "coral"],
                   help="keep the content's colours: luminance-only transfer, or CORAL recolouring of the style")
    model_args(s)

    bt = sub.add_parser("batch", help="every content × every style of two folders → OUT/<content>__<style>.png")
    bt.add_argument("content_dir")
    bt.add_argument("style_dir")
    bt.add_argument("-o", "--output", required=True, help="output folder (a rerun skips the pairs already done)")
    bt.add_argument("--alpha", type=_alpha, default=1.0, help="style strength in [0, 1] (default 1)")
    bt.add_argument("--preserve-color", choices=["luminance", "coral"], help="keep the content's colours")
    model_args(bt)
    art_fid_args(bt)

    r = sub.add_parser("restore", help="restore the content (T(I_o, I_c)) or the style (T(I_s, I_o))")
    r.add_argument("stylised", help="the stylised image I_o")
    r.add_argument("source", help="the original content image (default) or style image (--what style)")
    r.add_argument("-o", "--output", required=True)
    r.add_argument("--what", choices=["content", "style"], default="content")
    model_args(r)

    t = sub.add_parser("train", help="train a model (resumes from OUT/checkpoint.pt)", epilog=config_keys(),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    t.add_argument("--profile", default="demo", help="smoke, demo or paper")
    t.add_argument("--preset", dest="loss_preset", help="loss preset: rast_wacv, rast_combined, sanet, seed_full")
    t.add_argument("--iterations", type=_positive_int("--iterations"))
    t.add_argument("--out", dest="out_dir", help="run folder (checkpoint.pt, log.jsonl)")
    t.add_argument("--content-dir")
    t.add_argument("--style-dir")
    t.add_argument("--weight", action="append", default=[], metavar="TERM=W",
                   help="override one loss weight, e.g. --weight idempotency=1 (repeatable)")
    t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override any config field, e.g. --set lr=2e-4 --set amp=bf16 (repeatable)")
    t.add_argument("--no-resume", action="store_true", help="refuse to reuse an existing checkpoint")
    t.add_argument("--allocator", default="auto", help="memory allocator of a CPU run: auto (tcmalloc where "
                   "installed), glibc, jemalloc or tcmalloc (results/bench/allocator_cpu.md)")

    e = sub.add_parser("eval", help="metrics of a checkpoint on demo pairs (or your folders)")
    e.add_argument("--checkpoint")
    e.add_argument("--out", default="results/eval")
    e.add_argument("--size", type=_positive_int("--size"), default=256)
    e.add_argument("--pairs", type=_positive_int("--pairs"), default=12)
    e.add_argument("--device", default="cpu")
    e.add_argument("--lpips", default="auto", help="auto, lpips, stlpips or random")
    art_fid_args(e)

    d = sub.add_parser("demo", help="the main job: grid + metrics of the committed checkpoint")
    d.add_argument("--out", default="results/demo")
    d.add_argument("--checkpoint")
    d.add_argument("--size", type=_positive_int("--size"), default=256)
    d.add_argument("--device", default="cpu")

    g = sub.add_parser("diagnose", help="collapse diagnostics of a checkpoint on the evaluation split + a sheet")
    g.add_argument("--checkpoint", help="rastlib checkpoint (default: the committed demo checkpoint)")
    g.add_argument("--out", default="results/demo")
    g.add_argument("--size", type=_positive_int("--size"), default=256)
    g.add_argument("--device", default="cpu")
    g.add_argument("--content-dir", help="evaluation photos (default: data/demo/eval/content)")
    g.add_argument("--style-dir", help="evaluation paintings (default: data/demo/eval/style)")
    g.add_argument("--precision", choices=("fp32", "bf16", "auto"), default="fp32",
                   help="of the model's passes (the measures are fp32 either way): fp32 (default, the bar's), "
                        "bf16 autocast (~1.5x faster on a CPU with a bf16 unit), auto")

    dl = sub.add_parser("download", help="download and unpack MS-COCO / WikiArt into --root (needs internet)")
    dl.add_argument("dataset", help="coco_train2014, coco_val2014 or wikiart")
    dl.add_argument("--root", default="data")
    dl.add_argument("--url", help="a mirror of the archive")

    b = sub.add_parser("bench", help="training step vs the official structure, latency, memory (GPU: MFU)")
    b.add_argument("--out", default="results/bench")
    b.add_argument("--quick", action="store_true", help="tiny sizes (what the tests run)")
    b.add_argument("--gpu-only", action="store_true", help="only the GPU training steps (about a minute)")
    b.add_argument("--slider", action="store_true", help="only the notebook slider's latency per move")
    b.add_argument("--allocators", action="store_true",
                   help="only the CPU arms' training step (256², batch 4, bf16) under glibc's malloc and each "
                        "installed jemalloc / tcmalloc, side by side → allocator_cpu.json/.md")
    b.add_argument("--training", action="store_true",
                   help="only the CPU step probe: fp32, channels_last and bf16 training steps side by side "
                        "(rast_wacv, batch 4, 128², from the demo checkpoint) → training_cpu.json/.md")
    b.add_argument("--emulated-bf16", action="store_true",
                   help="with --training on a CPU without a bf16 unit: time the emulated bf16 step and "
                        "stylisation too (~10x slower than fp32: results/bench/emulated_bf16_profile.md)")

    u = sub.add_parser("compare-upstream", help="the kit's model and the official RAST weights on the same pairs")
    u.add_argument("--decoder", required=True, help="official decoder_iter_160000.pth")
    u.add_argument("--transformer", required=True, help="official transformer_iter_160000.pth")
    u.add_argument("--vgg", required=True, help="vgg_normalised.pth (the official encoder)")
    u.add_argument("--checkpoint", help="the kit's checkpoint (default: the committed demo checkpoint)")
    u.add_argument("--content-dir", help="content images (default: the bundled demo set)")
    u.add_argument("--style-dir", help="style images (default: the bundled demo set)")
    u.add_argument("--pairs", type=_positive_int("--pairs"), default=6)
    u.add_argument("--size", type=_positive_int("--size"), default=256)
    u.add_argument("--out", default="results/upstream")
    u.add_argument("--device", default="cpu")
    u.add_argument("--lpips", default="auto", help="auto, lpips, stlpips or random")

    x = sub.add_parser("export", help="write a training checkpoint's generator as an fp16 inference file")
    x.add_argument("checkpoint")
    x.add_argument("output")

    v = sub.add_parser("average", help="average the generators of several checkpoints of one architecture into an "
                                       "fp16 inference file (weight averaging: docs/training.md)")
    v.add_argument("checkpoints", nargs="+", help="two or more checkpoints (training or inference files)")
    v.add_argument("-o", "--output", required=True)
    v.add_argument("--weights", type=float, nargs="+", help="one weight ≥ 0 per checkpoint (default: equal)")
    return p


def _load_inputs(args, first, second):
    from ..data import load_image
    a = load_image(first, size=args.size, max_size=args.max_size)
    b = load_image(second, size=args.size, max_size=args.max_size)
    return a, b


def config_keys():
    """The config keys `--set` takes, each with its default and meaning (`train --help`'s epilog)."""
    from dataclasses import fields

    from ..train.config import CONFIG_HELP, Config
    keys = [f"  {f.name} = {getattr(Config(), f.name)!r}: {CONFIG_HELP[f.name]}" for f in fields(Config)
            if f.name != "weights"]
    return ("config keys for --set KEY=VALUE (defaults before the profile's; weights go by --weight TERM=W):\n"
            + "\n".join(keys))


def cmd_stylize(args):
    from ..data import load_image, save_image
    from ..model.stylize import stylize
    from ..train.checkpoint import load_model
    c = load_image(args.content, size=args.size, max_size=args.max_size)
    styles = [load_image(p, size=args.size, max_size=args.max_size).to(args.device) for p in args.style]
    model = load_model(args.checkpoint, device=args.device, precision=args.precision)
    out = stylize(model, c.to(args.device), styles, weights=args.weights, alpha=args.alpha,
                  preserve_color=args.preserve_color)
    print(save_image(out.cpu(), args.output))


def cmd_restore(args):
    import torch

    from ..data import save_image
    from ..train.checkpoint import load_model
    o, src = _load_inputs(args, args.stylised, args.source)
    model = load_model(args.checkpoint, device=args.device, precision=args.precision)
    o, src = o.to(args.device), src.to(args.device)
    with torch.no_grad():
        out = model.restore_content(o, src) if args.what == "content" else model.restore_style(src, o)
    print(save_image(out.cpu(), args.output))


def _parse_pairs(items, what):
    out = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"{what} expects NAME=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        out[k.strip()] = _value(v)
    return out


def cmd_train(args):
    from ..train import allocator, distributed
    from ..train.config import make_config
    from ..train.loop import Trainer, resolve_device
    overrides = _parse_pairs(args.set, "--set")
    for key in ("loss_preset", "iterations", "out_dir", "content_dir", "style_dir"):
        if getattr(args, key) is not None:
            overrides[key] = getattr(args, key)
    weights = _parse_pairs(args.weight, "--weight")
    if weights:
        overrides["weights"] = {**overrides.get("weights", {}), **weights}
    cfg = make_config(args.profile, **overrides)
    chosen = allocator.resolve(args.allocator)  # refuses an unknown or missing one here too
    if args.own_process and resolve_device(cfg.device).type == "cpu" and "LOCAL_RANK" not in os.environ:
        allocator.reexec(chosen)
    if args.no_resume and (Path(cfg.out_dir) / "checkpoint.pt").exists():
        raise ConfigError(f"{cfg.out_dir}/checkpoint.pt exists and --no-resume was given; choose another --out")
    try:
        trainer = Trainer(cfg)
        trainer.fit()
        if trainer.rank == 0:
            print(trainer.ckpt_path)
    finally:
        distributed.cleanup()


def cmd_batch(args):
    from ..train.checkpoint import load_model
    from .batch import stylize_folder
    model = load_model(args.checkpoint, device=args.device, precision=args.precision)
    counts = stylize_folder(model, args.content_dir, args.style_dir, args.output, size=args.size,
                            max_size=args.max_size, alpha=args.alpha, preserve_color=args.preserve_color)
    print(f"{args.output}: {counts['written']} written, {counts['existing']} already there, "
          f"{counts['unreadable']} unreadable images skipped; contact sheet: {Path(args.output) / 'contact_sheet.png'}")
    if args.art_fid:
        from ..eval.artfid import batch_pairs, describe, try_art_fid
        pairs = batch_pairs(args.content_dir, args.style_dir, args.output, args.size, args.max_size)
        print(describe(try_art_fid(pairs, Path(args.output) / "art_fid", args.download_art_fid, args.device)))


def cmd_bench(args):
    from ..eval.allocator_bench import run_allocators
    from ..eval.bench import run, run_slider, run_training
    if args.training:
        run_training(args.out, quick=args.quick, emulated_bf16=args.emulated_bf16)
        print((Path(args.out) / "training_cpu.md").read_text())
        return
    if args.allocators:
        run_allocators(args.out, size=64 if args.quick else 256, steps=1 if args.quick else 3,
                       rounds=1 if args.quick else 2)
        print((Path(args.out) / "allocator_cpu.md").read_text())
        return
    if args.slider:
        run_slider(args.out)
        print((Path(args.out) / "slider.md").read_text())
        return
    run(args.out, quick=args.quick, gpu_only=args.gpu_only)
    print((Path(args.out) / "bench.md").read_text())


def cmd_eval(args):
    from .demo import run_demo
    summary = run_demo(args.out, args.checkpoint, size=args.size, n_metrics=args.pairs, device=args.device,
                       lpips_backend=args.lpips, art_fid=args.art_fid, download_art_fid=args.download_art_fid)
    print(json.dumps({k: round(v["mean"], 4) for k, v in summary["summary"].items()}, indent=1))
    if args.art_fid:
        from ..eval.artfid import describe
        print(describe(summary["art_fid"]))


def cmd_compare_upstream(args):
    from ..data import list_images
    from ..eval.upstream import compare, load_upstream
    from ..model.perceptual import load_lpips
    from ..train.checkpoint import load_model
    from .demo import demo_pairs
    theirs = load_upstream(args.decoder, args.transformer, args.vgg, device=args.device)
    ours = load_model(args.checkpoint, device=args.device)
    pairs = demo_pairs(args.pairs, list_images(args.content_dir) if args.content_dir else None,
                       list_images(args.style_dir) if args.style_dir else None)
    summary = compare(ours, theirs, pairs, args.out, size=args.size, perceptual=load_lpips(args.lpips),
                      device=args.device)
    print(f"wrote {args.out}/comparison.png, metrics.json, metrics.md ({summary['pairs']} pairs)")
    print((Path(args.out) / "metrics.md").read_text())


def cmd_demo(args):
    from ..eval.metrics import mean_std
    from .demo import HEADLINE, run_demo
    summary = run_demo(args.out, args.checkpoint, size=args.size, device=args.device)
    s = summary["summary"]
    print(f"wrote {args.out}/grid.png, alpha_strip.png, metrics.json ({summary['pairs']} pairs, "
          f"{summary['seconds']} s, LPIPS: {summary['lpips_backend']})")
    for k in HEADLINE:
        if k in s:
            print(f"  {k:24s} {mean_std(s[k])}")


def cmd_diagnose(args):
    from .demo import diagnostics_table, run_diagnose
    r = run_diagnose(args.out, args.checkpoint, args.size, args.device, args.content_dir, args.style_dir,
                     precision=args.precision)
    print(f"{r['checkpoint']} (step {r['step']}) on {r['n_photos']} photos × {r['n_paintings']} paintings, "
          f"{r['size']}, {r['seconds']} s; wrote {args.out}/diagnostics.json, diagnostics.md, sheet.png")
    print(diagnostics_table(r["diagnostics"]))


def cmd_export(args):
    from ..train.checkpoint import export_inference, load_checkpoint
    ckpt = load_checkpoint(args.checkpoint)
    if ckpt.get("kind") != "train":
        raise ConfigError(f"{args.checkpoint} is already an inference checkpoint")
    record = {"exported_from": str(args.checkpoint), "total_steps": ckpt["step"],
              "loss_preset": ckpt["config"].get("loss_preset"), "weights": ckpt["config"].get("weights")}
    export_inference(ckpt, args.output, record=record)
    print(args.output)


def cmd_average(args):
    from ..train.averaging import average_checkpoints
    from ..train.checkpoint import export_inference
    ckpt = average_checkpoints(args.checkpoints, args.weights)
    export_inference(ckpt, args.output, record={"averaged_from": ckpt["averaged_from"]})
    print(args.output)


def cmd_download(args):
    from ..data.download import DATASETS, prepare_dataset
    if args.dataset not in DATASETS:
        raise ConfigError(f"dataset must be one of {sorted(DATASETS)}, got {args.dataset!r}")
    print(prepare_dataset(args.dataset, args.root, url=args.url))


COMMANDS = {"stylize": cmd_stylize, "restore": cmd_restore, "train": cmd_train, "eval": cmd_eval,
            "demo": cmd_demo, "export": cmd_export, "average": cmd_average, "bench": cmd_bench, "batch": cmd_batch,
            "download": cmd_download, "compare-upstream": cmd_compare_upstream, "diagnose": cmd_diagnose}


def printable(text):
    """`text` with file names that are not UTF-8 (surrogate-escaped by Python) shown with � instead."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def main(argv=None):
    args = build_parser().parse_args(argv)
    args.own_process = argv is None  # the command line of this process: it may be restarted (`allocator.reexec`)
    try:
        COMMANDS[args.command](args)
    except TrainingStopped as e:  # asked for (SIGTERM, Ctrl-C): the step under way is saved
        print(printable(f"stopped: {e}"), file=sys.stderr)
        return 130
    except RastError as e:
        print(printable(f"error: {e}"), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted (checkpoints written so far are complete)", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
