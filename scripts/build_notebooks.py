"""Write notebooks/01_baseline … 06_simplified.ipynb (without outputs) from the cell sources below, and the
smoke-profile reference outputs that `make test` checks with nbval.

The notebooks are thin: every cell calls `rastlib`. Edit the cells here, rebuild, then run them with
`make notebooks` (papermill, demo profile) to fill in the committed outputs:

    python scripts/build_notebooks.py [01_baseline …]   # all six, or only those named
    python scripts/build_notebooks.py --references [01_baseline …]  # rerun the smoke profile → tests/nbval/

The references are the notebooks executed in the smoke profile (fixed seeds, CPU): tests/test_notebooks.py
executes them again and nbval compares every checked cell's output (tables, verdicts) with them, through the
sanitisers of tests/nbval_sanitize.cfg (timings, temporary paths, float digits past the second decimal). Any
change to what the notebooks compute (the code, the committed checkpoint) needs `--references` once, and a
look at the diff.
"""
import base64
import io
import os
import sys
import tempfile
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parent.parent

PARAMETERS = '''# Parameters (papermill: -p NAME VALUE). Paths are relative to the repository root.
profile = "demo"             # smoke (CI), demo (CPU: short fine-tunings of the demo checkpoint), paper (GPU)
seeds = None                 # e.g. [0, 1, 2]; None: the seeds of the profile
steps = None                 # training steps per run; None: the default of the profile
image_size = None            # evaluation size in px; None: the default of the profile
content_dir = ""             # training photos; empty: the bundled demo photos
style_dir = ""               # training paintings; empty: the bundled demo paintings
eval_content_dir = ""        # evaluation photos; empty: the held-out split data/demo/eval/content
eval_style_dir = ""          # evaluation paintings; empty: the held-out split data/demo/eval/style
runs_dir = "runs/experiments"  # cached runs, shared by the notebooks (their records: results/runs)
out_dir = "results/{name}"'''

SETUP = '''from IPython.display import Image, Markdown, display

from rastlib import lab as E
from rastlib.eval import viz

E.at_repo_root()
budget = E.check_parameters(profile, seeds=seeds, steps=steps, image_size=image_size, runs_dir=runs_dir,
                            content_dir=content_dir, style_dir=style_dir, eval_content_dir=eval_content_dir,
                            eval_style_dir=eval_style_dir)
display(Markdown(f"**Budget:** {budget.what}"))'''


IGNORE = {"tags": ["nbval-ignore-output"]}  # timings: nbval does not compare this cell's output


def comparison(name, variants, metrics, table, view, intro, extra=()):
    """The cells of a notebook that compares variants: train/evaluate, table, curves, bars, figure, claims, check.

    `metrics` is a list of metric names, or a Python expression (a string) that gives one.
    """
    metrics = metrics if isinstance(metrics, str) else repr(metrics)
    return [
        new_markdown_cell(intro),
        new_code_cell(PARAMETERS.format(name=name), metadata={"tags": ["parameters"]}),
        new_code_cell(SETUP),
        new_markdown_cell("## Train and evaluate every variant × seed\n\nEvery variant of a seed starts from the "
                          "same weights and sees the same batches (a paired design). A run whose record is in "
                          "`results/runs/` (or whose checkpoint is in `runs_dir`) is reused only if its config, "
                          "starting weights, data and code are unchanged."),
        new_code_cell(f"variants = {variants!r}\nmetrics = {metrics}\n"
                      "rows = E.run_comparison(budget, variants)\n"
                      f"display(Markdown(E.write_table(rows, metrics, out_dir, {table!r})))"),
        new_markdown_cell("Training curves of the first seed, every variant overlaid:"),
        new_code_cell(f"viz.variant_loss_curves(E.training_logs(budget, variants), f\"{{out_dir}}/loss_curves.png\")\n"
                      f"display(Image(f\"{{out_dir}}/loss_curves.png\"))"),
        new_code_cell(f"viz.metric_bars(rows, metrics, f\"{{out_dir}}/{table}_bars.png\")\n"
                      f"display(Image(f\"{{out_dir}}/{table}_bars.png\"))"),
        new_markdown_cell("## Qualitative comparison (first seed)"),
        new_code_cell(f"viz.variant_figure(E.figure_views(budget, variants, {view!r}), E.figure_pairs(budget), "
                      f"{view!r},\n"
                      f"                   f\"{{out_dir}}/figure_{view}.png\")\n"
                      f"display(Image(f\"{{out_dir}}/figure_{view}.png\"))"),
        *extra,
        new_markdown_cell("## The seed's claims, tested\n\nA t-test per claim, paired over seeds, against the t "
                          "distribution at its degrees of freedom, Holm-corrected over this notebook's claims "
                          "(`rastlib.lab.verdicts`). \"the seed says\" quotes the seed; the evidence is ours."),
        new_code_cell(f"display(Markdown(E.label_claims({name!r}, rows, budget, out_dir)))",
                      metadata=IGNORE if name == "06_simplified" else {}),
        new_markdown_cell("## Check what this run produced"),
        new_code_cell(f"E.check_outputs(out_dir, [\"{table}.md\", \"{table}.csv\", \"{table}_bars.png\", "
                      f"\"loss_curves.png\", \"figure_{view}.png\", \"claims.json\"],\n"
                      f"                rows, variants, metrics, budget.seeds)"),
    ]


TABLE1 = ["style_distance_2nd_output_style", "restoration_ssim", "lpips_output_content", "Dc_output_content",
          "Ds_output_style", "idempotency_mse"]

BASELINE = [
    new_markdown_cell(
        "# 01 · Baseline: stylise, restore, and blend style strength\n\n"
        "RAST stylises a content image `I_o = T(I_c, I_s)` and restores it with the same network: "
        "`I_c' = T(I_o, I_c)` (content) and `I_s' = T(I_s, I_o)` (style). This notebook loads the committed demo "
        "checkpoint (or trains the baseline with the official `rast_wacv` losses when `train_steps > 0`), shows "
        "a grid of demo pairs with their restorations and metrics, and a live style-strength slider."),
    new_code_cell(PARAMETERS.format(name="01_baseline") + '\n'
                  'checkpoint = ""             # empty: the committed demo checkpoint (or the run of train_steps)\n'
                  'train_steps = 0             # > 0: train the rast_wacv baseline for this many steps first\n'
                  'n_pairs = 6                 # pairs in the grid and the metrics\n'
                  'interactive = True          # show the ipywidgets slider (papermill runs get the static strip)\n'
                  'download_art_fid = False    # True: download ArtFID\'s Inception and LPIPS-alex weights (internet)',
                  metadata={"tags": ["parameters"]}),
    new_code_cell(SETUP + "\nfrom rastlib.train.checkpoint import load_model\nfrom rastlib.app.demo import HEADLINE, "
                  "metrics_table, run_demo\nfrom rastlib.train import read_log"),
    new_markdown_cell("## Stylise and restore"),
    new_code_cell("ckpt = E.baseline_checkpoint(budget, checkpoint, train_steps)\n"
                  "if train_steps and not checkpoint:  # the curves of the run just trained (or reused)\n"
                  "    logs = {\"rast_wacv\": read_log(ckpt.parent / \"log.jsonl\")}\n"
                  "    viz.variant_loss_curves(logs, f\"{out_dir}/loss_curves.png\")\n"
                  "    display(Image(f\"{out_dir}/loss_curves.png\"))\n"
                  "summary = run_demo(out_dir, ckpt, size=budget.eval_size, n_grid=n_pairs, n_metrics=n_pairs)\n"
                  "display(Image(f\"{out_dir}/grid.png\"))\n"
                  "display(Markdown(metrics_table(summary[\"summary\"], HEADLINE)))"),
    new_markdown_cell("## Style strength\n\nalpha blends the transform of (content, style) with the content's "
                      "identity transform T(c, c): 0 reconstructs the content, 1 is full style. The static strip "
                      "is always written; the slider (with a pair menu and a keep-colours checkbox) needs a live kernel "
                      "(JupyterLab)."),
    new_code_cell("display(Image(f\"{out_dir}/alpha_strip.png\"))\n"
                  "pairs = E.figure_pairs(budget, n_pairs)\n"
                  "slider = viz.AlphaSlider(load_model(ckpt), pairs)\n"
                  "display(Image(slider.image.value))  # the slider's image as a PNG: static views show no widget\n"
                  "if interactive:\n"
                  "    display(slider.widget)"),
    new_markdown_cell("## Colour preservation and style interpolation\n\nKeep the content's colours by "
                      "luminance-only transfer or by CORAL recolouring of the style (`rastlib.model.stylize`); blend two "
                      "styles in feature space with weights. From the command line: `python -m rastlib stylize "
                      "c.jpg a.jpg b.jpg --weights 0.7 0.3 --preserve-color luminance -o out.png`."),
    new_code_cell("(_, content, style_a), (_, _, style_b) = pairs[:2]\n"
                  "model = slider.model\n"
                  "viz.colour_strip(model, content, style_a, f\"{out_dir}/colour_preservation.png\")\n"
                  "viz.interpolation_strip(model, content, style_a, style_b, f\"{out_dir}/interpolation.png\")\n"
                  "display(Image(f\"{out_dir}/colour_preservation.png\"), Image(f\"{out_dir}/interpolation.png\"))"),
    new_markdown_cell("What each colour mode does, measured on the pairs above (`metrics.colour_preservation_metrics`): "
                      "the colour-histogram distance (earth mover's, per channel) of the output to the content and to "
                      "the style, and LPIPS to the content on luminance only (structure) and in colour."),
    new_code_cell("display(Markdown(E.colour_preservation(model, pairs, out_dir)))"),
    new_markdown_cell("## ArtFID (optional)\n\nArtFID (Wright & Ommer 2022) = (1 + LPIPS(I_o, I_c)) · (1 + FID(I_o, I_s)) "
                      "on the pairs above, written to `art_fid/{stylized,content,style}/` in pairing order "
                      "(`rastlib.eval.artfid`). It needs the art-trained Inception weights and LPIPS's AlexNet, both "
                      "downloads: offline it says what is missing and is skipped. Set `download_art_fid = True` "
                      "with internet. With a handful of pairs its FID term is strongly biased: compare models on "
                      "the same pairs only."),
    new_code_cell("print(E.art_fid_line(model, pairs, out_dir, download_art_fid))"),
    new_markdown_cell("## Check what this run produced"),
    new_code_cell("E.check_outputs(out_dir, [\"grid.png\", \"alpha_strip.png\", \"metrics.json\", \"metrics.md\", "
                  "\"colour_preservation.png\", \"colour_preservation.md\", \"interpolation.png\", \"art_fid.json\"])"),
]

NOTEBOOKS = {
    "01_baseline": BASELINE,
    "02_ablation": comparison(
        "02_ablation", ["full", "no_content", "no_style", "no_restoration", "no_adversarial", "no_idempotency",
                        "no_lpips"], TABLE1, "table1_ablation", "stylised",
        "# 02 · Loss ablation (the seed's Table 1)\n\nStarting from all of the seed's loss groups (`full` = the "
        "`seed_full` preset), remove one group at a time (`rastlib.train.losses.SEED_GROUPS` lists the terms of each), "
        "train each variant under the same budget and seeds, and test each of the 18 cells of the seed's Table 1, "
        "which it gives in words only: stylisation quality = `style_distance_2nd_output_style` (style statistics "
        "of the output against the painting by AlexNet, a network training never uses; lower is more stylised), "
        "restoration quality = `restoration_ssim`, LPIPS score = `lpips_output_content` (AlexNet LPIPS; training's "
        "LPIPS loss is VGG16's). \"Maintained\" is tested as equivalence within ±5 % of `full`. Evaluated on "
        "the held-out split. Dc/Ds (the training VGG19) and the idempotency gap are shown beside them."),
    "03_idempotency": comparison(
        "03_idempotency", ["full", "no_idempotency"],
        ["idempotency_mse", "idempotency_ssim", "style_distance_2nd_output_style", "Ds_output_style",
         "Dc_output_content"],
        "idempotency", "idempotency",
        "# 03 · Idempotency loss\n\n`L_id = ‖T(T(I_c, I_s), I_s) − T(I_c, I_s)‖²`: stylising an already stylised "
        "image with the same style should change nothing. With vs without it: the idempotency gap, stylisation "
        "(by AlexNet's style statistics, a network training never uses), and whether the seed's \"it hurts "
        "stylisation\" (§4.3) holds here; its Table 1 says the opposite (removing it degrades stylisation), "
        "tested in 02. The figure is the seed's Figure 1 shape: repeated stylisation with the same style."),
    "04_multirestoration": comparison(
        "04_multirestoration", ["full", "no_multirestoration"],
        "E.restoration_metrics(budget)",
        "table2_multirestoration", "restoration_64",
        "# 04 · Multirestoration at low resolution (the seed's Table 2)\n\n`L_mr = Σ_r ‖T(S_r(I_o), "
        "S_r(I_c)) − S_r(I_c)‖²` over scales r relative to the training crop: the crop, its half and its quarter "
        "(the seed's 256/128/64 at a 256 crop; none under 32 px), so every scale is really a lower resolution. "
        "With vs without it: content restoration SSIM of held-out photos loaded at 256 px and downscaled to 128 "
        "and 64 (nothing is upsampled), beside the seed's Table 2."),
    "05_lpips": comparison(
        "05_lpips", ["full", "no_lpips"],
        ["lpips_output_content", "lpips_output_style", "restoration_lpips", "style_distance_2nd_output_style",
         "Dc_output_content"],
        "table3_lpips", "stylised",
        "# 05 · LPIPS loss (the seed's Table 3)\n\n`L_LPIPS = LPIPS(I_o, I_c) + LPIPS(I_o', I_s)`, trained with "
        "VGG16 LPIPS. With vs without it, the LPIPS scores are measured with AlexNet LPIPS (`E.evaluation_nets`), "
        "so the metric is not the network the loss optimises. The seed's Table 3 compares a \"RAST baseline\" "
        "(0.45) with RAST + LPIPS (0.30); ours compares `full` with and without the LPIPS term."),
    "06_simplified": comparison(
        "06_simplified", ["full", "simplified", "simplified_reduced"],
        ["parameters_M", "style_distance_2nd_output_style", "Ds_output_style", "Dc_output_content",
         "restoration_ssim", "lpips_output_content"],
        "simplified", "stylised",
        "# 06 · Simplified architecture\n\nThe seed keeps \"only the essential modules\" without naming them. Our "
        "reading: a single SANet at relu4_1 (no relu5_1 branch; the encoder stops at relu4_1). `simplified` "
        "changes only that (same losses as `full`); `simplified_reduced` also drops the discriminators and "
        "projection heads (no adversarial or contrastive terms). Parameters and quality here, speed below (the "
        "seed's Figure 3 shape).",
        extra=[new_markdown_cell("## Speed at 256² and 512² (first seed, this machine; 64² and 128² in smoke)"),
               new_code_cell("speed = E.speed_rows(budget, variants)\n"
                             "display(Markdown(E.write_table(speed, [k for k in speed[0] if k not in "
                             "(\"variant\", \"seed\")], out_dir, \"speed\")))", metadata=IGNORE)]),
}


REFERENCES = ROOT / "tests" / "nbval"
# The smoke tables hold float noise (after one Adam step, whose size is lr·sign(g) for every gradient g, even
# one at noise level), and its digits follow how the sums are made: the thread count and the CPU's vector code
# paths. So the references are made, and checked, with one torch thread and the AVX2 kernels of ATen, oneDNN and
# MKL, on any x86 machine (the kernels inherit these variables). Measured: the AVX-512 paths of an
# AMD EPYC (family 26) against its AVX2 paths changed a smoke run's idempotency_mse from 6.534e-07 to 6.551e-07,
# and references made on another machine's default paths failed here on such digits and on two verdicts that
# rest on them. One thread also leaves the other core to `make test`'s second worker: with two threads beside
# it (and a niced job), notebook 02 alone took 25 minutes, against 12 for all six with one.
SMOKE_ENV = {"OMP_NUM_THREADS": "1", "ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "AVX2"}


def placeholder_png():
    """A 1×1 grey PNG: what a reference keeps of each image it displayed."""
    from PIL import Image
    buf = io.BytesIO()
    Image.new("L", (1, 1), 128).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def without_images(path):
    """Replace every image a reference notebook displays by `placeholder_png()`, in place.
    nbval does not compare images (only with --nbdime), so they cost the references ~1 MiB for nothing, and every
    committed byte travels with each device call (tests/test_device_script.py). The output stays, so the cells
    keep their shape; the smoke figures are checked as files by tests/test_notebooks.py."""
    nb, png = nbformat.read(path, as_version=4), placeholder_png()
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            for key in ("image/png", "image/jpeg"):
                if key in data:
                    data[key] = png
    nbformat.write(nb, path)


def smoke_parameters(work, name):
    """The papermill parameters of a smoke run under the folder `work` (runs and results in it)."""
    params = {"profile": "smoke", "runs_dir": str(Path(work) / "runs"),
              "out_dir": str(Path(work) / "results" / name)}
    if name == "01_baseline":
        params["interactive"] = False
    return params


def write_references(names=()):
    """Execute the notebooks (all, or those named) in the smoke profile (fresh runs) and save the executed
    notebooks as the nbval references. 02–06 train from scratch in the smoke profile; 01 shows the committed
    checkpoint, so a new checkpoint needs `--references 01_baseline`. Their images are replaced by placeholders
    (`without_images`)."""
    import papermill as pm
    os.environ.update(SMOKE_ENV)
    REFERENCES.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        for name in names or NOTEBOOKS:
            out = REFERENCES / f"{name}.ipynb"
            pm.execute_notebook(str(ROOT / "notebooks" / f"{name}.ipynb"), str(out), kernel_name="python3",
                                parameters=smoke_parameters(work, name), progress_bar=False)
            without_images(out)
            print(out)


def main(names):
    references = names[:1] == ["--references"]
    names = names[1:] if references else names
    unknown = set(names) - set(NOTEBOOKS)
    if unknown:
        sys.exit(f"unknown notebook(s) {sorted(unknown)}; choose from {list(NOTEBOOKS)}")
    if references:
        write_references(names)
        return
    for name, cells in NOTEBOOKS.items():
        if names and name not in names:
            continue
        nb = new_notebook(cells=cells, metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"}})
        path = ROOT / "notebooks" / f"{name}.ipynb"
        path.parent.mkdir(exist_ok=True)
        nbformat.write(nb, path)
        print(path)


if __name__ == "__main__":
    main(sys.argv[1:])
