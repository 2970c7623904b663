"""The six notebooks, with the smoke parameters papermill injects (as `make notebooks` does), executed once by
nbval (not lax), which compares every cell's output with the committed smoke references (tests/nbval/, written by
`scripts/build_notebooks.py --references`); the other tests read what that one execution wrote.

All notebooks share one runs folder, as they do in `make notebooks`, so a variant trained for 02 is reused by 03–05.
"""
import importlib.util
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import nbformat
import papermill as pm
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("0*.ipynb"))
NAMES = [p.stem for p in NOTEBOOKS]
_spec = importlib.util.spec_from_file_location("build_notebooks", ROOT / "scripts" / "build_notebooks.py")
build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build)
_parameters = build.smoke_parameters


def nbval(paths, cwd, *options, timeout=300):
    """pytest --nbval (not lax) on the notebooks `paths`, with the sanitisers and the references' thread count and
    code paths (`SMOKE_ENV`).
    The root is `cwd`: otherwise the sanitisers' path moves it, and the cells lose their notebook's name."""
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "--nbval", "-p", "no:cacheprovider", "--color=no",
                           "-p", "nbval_tolerance",
                           f"--rootdir={cwd}", "--nbval-sanitize-with", str(ROOT / "tests" / "nbval_sanitize.cfg"),
                           *options, *map(str, paths)], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **build.SMOKE_ENV,
                               "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "tests"),
                                                                           os.environ.get("PYTHONPATH")]))})


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """Each smoke reference with the smoke parameters injected by papermill, executed by one nbval run:
    (work folder, the nbval run, {notebook name: [(cell, failure text or None)]} from its JUnit report)."""
    work = tmp_path_factory.mktemp("notebooks")
    prepared = [work / nb.name for nb in NOTEBOOKS]
    for nb, path in zip(NOTEBOOKS, prepared):
        pm.execute_notebook(str(build.REFERENCES / nb.name), str(path), parameters=_parameters(work, nb.stem),
                            prepare_only=True)
    run = nbval(prepared, work, f"--junitxml={work / 'nbval.xml'}", timeout=2400)
    assert (work / "nbval.xml").is_file(), "nbval wrote no report:\n" + run.stdout[-4000:] + run.stderr[-2000:]
    return work, run, cell_results(work / "nbval.xml")


def cell_results(junit):
    """nbval's JUnit report → {notebook name: [(cell, None if it passed, else the failure's text)]}."""
    cells = {}
    for case in ET.parse(junit).iter("testcase"):
        problem = case.find("failure") if case.find("failure") is not None else case.find("error")
        text = None if problem is None else problem.get("message", "") + (problem.text or "")
        cells.setdefault(Path(case.get("classname")).stem, []).append((case.get("name"), text))
    return cells


def test_there_are_six_notebooks_with_a_parameters_cell_first():
    assert NAMES == ["01_baseline", "02_ablation", "03_idempotency", "04_multirestoration", "05_lpips",
                     "06_simplified"]
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert "parameters" in code[0].metadata.get("tags", []), path.name
        assert not any(line.lstrip().startswith(("def ", "class ")) for c in code for line in c.source.splitlines()), \
            f"{path.name} defines functions: logic belongs in rastlib"


@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_headlessly_and_matches_its_smoke_reference(executed, name):
    """Every code cell of the notebook ran and its output equals the reference's after the sanitisers (tables and
    verdicts included); its last cell is the check cell, which passed; it wrote its figures."""
    work, run, cells = executed
    reference = nbformat.read(build.REFERENCES / f"{name}.ipynb", as_version=4)
    code = [c for c in reference.cells if c.cell_type == "code"]
    ran = cells.get(name, [])
    assert len(ran) == len(code), (ran, run.stdout[-4000:] + run.stderr[-2000:])
    failed = [(cell, text) for cell, text in ran if text is not None]
    assert not failed, failed[0][1][-4000:]
    assert "check_outputs" in code[-1].source
    assert any("checked" in o.get("data", {}).get("text/plain", "") for o in code[-1].outputs), code[-1].outputs
    assert any((work / "results" / name).glob("*.png"))


def test_the_nbval_run_passed(executed):
    _, run, _ = executed
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "passed" in run.stdout and "failed" not in run.stdout


def test_comparisons_label_every_claim_and_fill_the_summary(executed):
    work, _, _ = executed
    labels = {"reproduced", "contradicted", "no support at this budget"}
    for name in NAMES[1:]:
        claims = json.loads((work / "results" / name / "claims.json").read_text())
        assert claims["budget"]["profile"] == "smoke" and len(claims["budget"]["seeds"]) >= 2
        assert claims["claims"] and all(c["verdict"] in labels for c in claims["claims"])
    summary = (work / "results" / "summary.md").read_text()
    assert all(f"## {name}" in summary for name in NAMES[1:])


def test_ablation_table_has_every_variant_and_metric(executed):
    work, _, _ = executed
    lines = (work / "results" / "02_ablation" / "table1_ablation.csv").read_text().splitlines()
    header = lines[0].split(",")
    assert {"Dc_output_content", "Ds_output_style", "lpips_output_content", "restoration_ssim"} <= set(header)
    variants = {line.split(",")[0] for line in lines[1:]}
    assert variants == {"full", "no_content", "no_style", "no_restoration", "no_adversarial", "no_idempotency",
                        "no_lpips"}
    assert len(lines) - 1 == 7 * 2  # every variant × both smoke seeds


def test_the_notebooks_are_those_the_builder_writes():
    """The committed notebooks' sources are build_notebooks.py's (so the references test what users run)."""
    def sources(path):  # without the cell papermill injects when it runs a notebook (make notebooks)
        nb = nbformat.read(path, as_version=4)
        return [c.source for c in nb.cells if "injected-parameters" not in c.metadata.get("tags", [])]
    for name, cells in build.NOTEBOOKS.items():
        assert sources(ROOT / "notebooks" / f"{name}.ipynb") == [c.source for c in cells], name
        assert sources(build.REFERENCES / f"{name}.ipynb") == [c.source for c in cells], \
            f"{name}: rerun scripts/build_notebooks.py --references"


VERDICT = "| a | Degraded | **{}** | m: x 5.28 vs full 5.28; d = {} (paired t, n = 2, df = 1); p = {} over 18 claims |"


# (shown, reference, passes): what a cell displays now, what its reference holds, whether nbval lets it pass.
TABLE_CASES = [
    ("| full | 0.3317 ± 0.02 |", "| full | 0.3312 ± 0.02 |", True),  # past the second decimal: sanitised
    ("| full | 0.3317 ± 0.02 |", "| full | 0.3417 ± 0.02 |", False),
    ("| x | 9.546e-07 ± 7.2e-07 |", "| x | 9.544e-07 ± 7.3e-07 |", True),  # one significant digit kept
    ("| x | 9.546e-07 ± 7.2e-07 |", "| x | 1.546e-06 ± 7.2e-07 |", False),
    (VERDICT.format("reproduced", "+5.9e-07 ± 1.1e-06", "0.67, Holm p = 1"),  # a verdict's noise-level evidence
     VERDICT.format("reproduced", "+3.5e-07 ± 1.3e-06", "0.83, Holm p = 1"), True),
    (VERDICT.format("reproduced", "+5.9e-07 ± 1.1e-06", "0.67, Holm p = 1"),  # … but not its label
     VERDICT.format("no support at this budget", "+5.9e-07 ± 1.1e-06", "0.67, Holm p = 1"), False),
    # Rounded the other way by another CPU's kernels (seen between an Intel Xeon and an AMD EPYC): the same table.
    ("| full | 1e-06 ± 5e-08 |", "| full | 1e-06 ± 4e-08 |", True),
    ("| full | 1.88 ± 0.09 |", "| full | 1.87 ± 0.08 |", True),
    ("| full | 1.8801 ± 0.0850 |", "| full | 1.8799 ± 0.0849 |", True),  # a 1e-6-level change across a rounding edge
    ("| full | 1.88 ± 0.09 |", "| full | 1.86 ± 0.09 |", False),          # two units: a real change
    ("| full | 1.88 ± 0.09 |", "| full | 1.88 ± 0.15 |", False),          # a 2-seed std: 30 % is its noise
    ("| full | 1.881 ± 0.091 |", "| full | 1.879 ± 0.087 |", True),       # 06_simplified, Intel against AMD
    ("| x | 1.447e-06 ± 5.4e-08 |", "| x | 1.447e-06 ± 4.5e-08 |", True),  # 02_ablation, Intel against AMD
    ("| full | 1.88 ± 0.09 |", "| fall | 1.87 ± 0.09 |", False),          # the text around the numbers changed
]


def test_nbval_fails_when_a_table_number_changes(tmp_path):
    """The check can fail: a table number or verdict that changed past the sanitised digits is caught, one that
    changed only in them is not. One notebook, a cell per case, one nbval run (a kernel start per case would cost
    ~7 s each)."""
    cells = []
    for i, (shown, reference, _) in enumerate(TABLE_CASES):
        cell = nbformat.v4.new_code_cell(f'from IPython.display import Markdown, display\ndisplay(Markdown({shown!r}))')
        data = {"text/markdown": reference, "text/plain": "<IPython.core.display.Markdown object>"}
        cell.outputs, cell.execution_count = [nbformat.v4.new_output("display_data", data=data)], i + 1
        cells.append(cell)
    nb = nbformat.v4.new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                                        "language": "python"}})
    nbformat.write(nb, tmp_path / "tables.ipynb")
    run = nbval([tmp_path / "tables.ipynb"], tmp_path, f"--junitxml={tmp_path / 'nbval.xml'}")
    results = cell_results(tmp_path / "nbval.xml")["tables"]
    assert len(results) == len(TABLE_CASES), run.stdout[-2000:]
    wrong = [(case, text) for case, (_, text) in zip(TABLE_CASES, results) if (text is None) != case[2]]
    assert not wrong, wrong


def test_no_notebook_exempts_its_tables_or_verdicts_from_nbval():
    for name, cells in build.NOTEBOOKS.items():
        for cell in cells:
            if "write_table(rows" in cell.source or ("label_claims" in cell.source and name != "06_simplified"):
                assert "nbval-ignore-output" not in cell.metadata.get("tags", []), (name, cell.source)


def test_a_bad_parameter_stops_the_notebook_at_once_naming_it(tmp_path):
    with pytest.raises(pm.PapermillExecutionError, match="'steps'"):
        pm.execute_notebook(str(NOTEBOOKS[2]), str(tmp_path / "bad.ipynb"), kernel_name="python3",
                            parameters={"profile": "smoke", "steps": -3, "out_dir": str(tmp_path / "r")},
                            progress_bar=False)
    with pytest.raises(pm.PapermillExecutionError, match="'profile'"):
        pm.execute_notebook(str(NOTEBOOKS[0]), str(tmp_path / "bad.ipynb"), kernel_name="python3",
                            parameters={"profile": "huge", "out_dir": str(tmp_path / "r")}, progress_bar=False)


def test_the_references_keep_placeholders_for_their_images():
    """nbval does not compare images, and every committed byte travels with each device call: `--references`
    writes each displayed image as the 1×1 placeholder (`without_images`), and the committed references hold no
    other."""
    png = build.placeholder_png()
    for path in sorted(build.REFERENCES.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        images = [o["data"][k] for c in nb.cells for o in c.get("outputs", []) for k in ("image/png", "image/jpeg")
                  if k in o.get("data", {})]
        assert images and all(i == png for i in images), f"{path.name}: rerun scripts/build_notebooks.py --references"
