"""The six notebooks run headlessly under papermill (smoke profile) and pass nbval.

All notebooks share one runs folder, as they do in `make notebooks`, so a variant trained for 02 is reused by 03–05.
"""
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import papermill as pm
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("0*.ipynb"))
NAMES = [p.stem for p in NOTEBOOKS]


def _parameters(work, name):
    params = {"profile": "smoke", "runs_dir": str(work / "runs"), "out_dir": str(work / "results" / name)}
    if name == "01_baseline":
        params["interactive"] = False
    return params


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """Every notebook executed by papermill in the smoke profile: {name: output notebook path}."""
    work = tmp_path_factory.mktemp("notebooks")
    out = {}
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
    labels = {"reproduced", "not reproduced", "not testable at this scale"}
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


def test_nbval_passes_on_the_parameterised_notebooks(executed, tmp_path):
    """nbval re-executes each notebook (papermill injects the smoke parameters, runs are cached) in lax mode."""
    work, _ = executed
    prepared = []
    for nb in NOTEBOOKS:
        prepared.append(tmp_path / nb.name)
        pm.execute_notebook(str(nb), str(prepared[-1]), parameters=_parameters(work, nb.stem), prepare_only=True)
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "--nbval-lax", "-p", "no:cacheprovider",
                             *map(str, prepared)], cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "passed" in result.stdout and "failed" not in result.stdout


def test_a_bad_parameter_stops_the_notebook_at_once_naming_it(tmp_path):
    with pytest.raises(pm.PapermillExecutionError, match="'steps'"):
        pm.execute_notebook(str(NOTEBOOKS[2]), str(tmp_path / "bad.ipynb"), kernel_name="python3",
                            parameters={"profile": "smoke", "steps": -3, "out_dir": str(tmp_path / "r")},
                            progress_bar=False)
    with pytest.raises(pm.PapermillExecutionError, match="'profile'"):
        pm.execute_notebook(str(NOTEBOOKS[0]), str(tmp_path / "bad.ipynb"), kernel_name="python3",
                            parameters={"profile": "huge", "out_dir": str(tmp_path / "r")}, progress_bar=False)
