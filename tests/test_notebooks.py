"""The six notebooks run headlessly under papermill (smoke profile), and nbval checks their outputs against the
committed smoke references (tests/nbval/, written by `scripts/build_notebooks.py --references`).

All notebooks share one runs folder, as they do in `make notebooks`, so a variant trained for 02 is reused by 03–05.
"""
import importlib.util
import json
import os
import subprocess
import sys
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


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """Every notebook executed by papermill in the smoke profile, its kernel with the references' thread count:
    {name: output notebook path}."""
    work = tmp_path_factory.mktemp("notebooks")
    out = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OMP_NUM_THREADS", build.SMOKE_THREADS)
        for nb in NOTEBOOKS:
            out[nb.stem] = work / f"{nb.stem}.ipynb"
            pm.execute_notebook(str(nb), str(out[nb.stem]), parameters=_parameters(work, nb.stem),
                                kernel_name="python3", progress_bar=False)
    return work, out


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
def test_notebook_runs_under_papermill_and_checks_its_outputs(executed, name):
    work, out = executed
    nb = nbformat.read(out[name], as_version=4)
    last = [c for c in nb.cells if c.cell_type == "code"][-1]
    assert "check_outputs" in last.source
    assert any("checked" in o.get("data", {}).get("text/plain", "") for o in last.outputs), last.outputs
    results = work / "results" / name
    assert any(results.glob("*.png"))


def test_comparisons_label_every_claim_and_fill_the_summary(executed):
    work, _ = executed
    labels = {"reproduced", "contradicted", "no support at this budget"}
    for name in NAMES[1:]:
        claims = json.loads((work / "results" / name / "claims.json").read_text())
        assert claims["budget"]["profile"] == "smoke" and len(claims["budget"]["seeds"]) >= 2
        assert claims["claims"] and all(c["verdict"] in labels for c in claims["claims"])
    summary = (work / "results" / "summary.md").read_text()
    assert all(f"## {name}" in summary for name in NAMES[1:])


def test_ablation_table_has_every_variant_and_metric(executed):
    work, _ = executed
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


def test_nbval_checks_the_outputs_against_the_smoke_references(executed, tmp_path):
    """nbval (not lax) re-executes each smoke reference with the fixture's runs (reused: their cache keys match
    the code under test) and compares every cell's output, tables and verdicts included, after the sanitisers."""
    work, _ = executed
    prepared = []
    for nb in NOTEBOOKS:
        prepared.append(tmp_path / nb.name)
        pm.execute_notebook(str(build.REFERENCES / nb.name), str(prepared[-1]), parameters=_parameters(work, nb.stem),
                            prepare_only=True)
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "--nbval", "-p", "no:cacheprovider",
                             "--nbval-sanitize-with", str(ROOT / "tests" / "nbval_sanitize.cfg"),
                             *map(str, prepared)], cwd=tmp_path, capture_output=True, text=True, timeout=900,
                            env={**os.environ, "OMP_NUM_THREADS": build.SMOKE_THREADS})
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "passed" in result.stdout and "failed" not in result.stdout


def test_nbval_fails_when_a_table_number_changes(tmp_path):
    """The check can fail: a table whose number changed past the sanitised digits is caught, one that changed
    only in them is not; and no notebook exempts its tables or verdicts from the comparison."""
    code = 'from IPython.display import Markdown, display\ndisplay(Markdown("| full | 0.3317 ± 0.02 |"))'
    for shown, passes in (("| full | 0.3312 ± 0.02 |", True), ("| full | 0.3417 ± 0.02 |", False)):
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)],
                                      metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                               "language": "python"}})
        data = {"text/markdown": shown, "text/plain": "<IPython.core.display.Markdown object>"}
        nb.cells[0].outputs = [nbformat.v4.new_output("display_data", data=data)]
        nb.cells[0].execution_count = 1
        path = tmp_path / f"table_{passes}.ipynb"
        nbformat.write(nb, path)
        result = subprocess.run([sys.executable, "-m", "pytest", "-q", "--nbval", "-p", "no:cacheprovider",
                                 "--nbval-sanitize-with", str(ROOT / "tests" / "nbval_sanitize.cfg"), str(path)],
                                cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert (result.returncode == 0) == passes, result.stdout[-2000:]
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
